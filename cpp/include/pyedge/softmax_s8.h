// int8 softmax, bit-exact with TFLite's reference kernel (reference_ops::Softmax<int8_t,
// int8_t>, the one LiteRT's BUILTIN_REF resolver runs; output scale 1/256, zero point -128).
//
// Split of the work:
//  - load time, Python (pyedge/fixed_point.py: softmax_params, softmax_exp_table): the
//    multiplier and diff_min of TFLite's SoftmaxPrepare, and the Q0.31 result of gemmlowp's
//    exp_on_negative_values for each of the 256 possible differences x - row_max in
//    [-255, 0] (entry 0 where the difference is below diff_min: "excluded", which adds 0 to
//    the sum and gives output -128, exactly what the reference does for such elements).
//  - per row, here: row max, sum of table values rescaled to Q12.19, GetReciprocal
//    (one_over_one_plus_x_for_x_in_0_1), and the final rounding shift to int8.
#pragma once
#include <cstdint>

namespace pyedge {

struct SoftmaxS8Params {
  // Differences below this are excluded (their table entries are 0). The input multiplier
  // and shift of TFLite's Prepare are already in the table.
  int32_t diff_min;
};

class SoftmaxS8 {
 public:
  // exp_table: 256 entries from softmax_exp_table, index = row_max - x. All must be >= 0;
  // entries for differences below params.diff_min must be 0. The table is copied.
  SoftmaxS8(const int32_t* exp_table, const SoftmaxS8Params& params);

  // Softmax along rows of `depth` int8 values. Thread-safe (const, no shared mutable state),
  // allocates nothing. input and output may alias exactly (in place), not partially.
  // Where TFLite would abort (TFLITE_CHECK(exponent <= 31): a Q12.19 sum of exps >= 2^28,
  // i.e. more than ~511 elements tied at the row max) the whole row is set to -128, the
  // limit of the same arithmetic.
  void run(const int8_t* input, int rows, int depth, int8_t* output) const;

  const SoftmaxS8Params& params() const { return params_; }
  // The tables, for the ISA-specific versions (softmax_s8_<isa>.cc).
  const int32_t* exp_table() const { return exp_; }
  const int32_t* exp_accum_table() const { return exp_accum_; }

 private:
  int32_t exp_[256];        // Q0.31 exp(scaled diff), index = row_max - x
  int32_t exp_accum_[256];  // the same rescaled to Q12.19 (gemmlowp Rescale<12>)
  SoftmaxS8Params params_;
};

// An ISA's version of SoftmaxS8::run (same arguments, same bits), chosen with the kernel.
using SoftmaxFn = void (*)(const SoftmaxS8& softmax, const int8_t* input, int rows, int depth,
                           int8_t* output);
#if defined(PYEDGE_HAVE_X86_KERNELS)
void softmax_s8_avx512(const SoftmaxS8& softmax, const int8_t* input, int rows, int depth,
                       int8_t* output);
#endif

}  // namespace pyedge
