// int8 softmax, bit-exact with TFLite's reference_ops::Softmax<int8_t, int8_t> (see the header
// and pyedge/fixed_point.py, the NumPy oracle that builds the exp table).
#include "pyedge/softmax_s8.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace pyedge {
namespace {

// gemmlowp SaturatingRoundingDoublingHighMul. Its nudge (2^30, or 1 - 2^30 for a negative
// product) followed by C's truncating division by 2^31 is exactly floor((a*b + 2^30) / 2^31)
// for either sign, so one arithmetic shift does it; only INT32_MIN * INT32_MIN saturates.
inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == std::numeric_limits<int32_t>::min() && b == a) {
    return std::numeric_limits<int32_t>::max();
  }
  return static_cast<int32_t>((int64_t{a} * b + (int64_t{1} << 30)) >> 31);
}

// gemmlowp SaturatingRoundingMultiplyByPOT<Exponent> for Exponent > 0: saturating left shift.
template <int Exponent>
inline int32_t saturating_shift_left(int32_t x) {
  constexpr int32_t threshold = (int32_t{1} << (31 - Exponent)) - 1;
  if (x > threshold) return std::numeric_limits<int32_t>::max();
  if (x < -threshold) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(static_cast<uint32_t>(x) << Exponent);
}

// gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out; Newton-Raphson in Q2.29),
// specialised to a >= 0, which is all GetReciprocal passes: RoundingHalfSum(a, One) is then
// (a + 2^31) / 2.
inline int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  const int32_t half_denominator = static_cast<int32_t>((int64_t{a} + (int64_t{1} << 31)) >> 1);
  constexpr int32_t kConstant48Over17 = 1515870810;      // Q2.29
  constexpr int32_t kConstantNeg32Over17 = -1010580540;  // Q2.29
  constexpr int32_t kOneQ2 = int32_t{1} << 29;
  int32_t x = kConstant48Over17 +
              saturating_rounding_doubling_high_mul(half_denominator, kConstantNeg32Over17);
  for (int i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x =
        saturating_rounding_doubling_high_mul(half_denominator, x);
    const int32_t one_minus_half_denominator_times_x = kOneQ2 - half_denominator_times_x;
    // Q2 * Q2 = Q4; Rescale<2> back to Q2 is a saturating shift left by 2.
    x += saturating_shift_left<2>(
        saturating_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x));
  }
  // ExactMulByPot<-1> (Q2 -> Q1, same raw), then Rescale<0>: saturating shift left by 1.
  return saturating_shift_left<1>(x);
}

inline int count_leading_zeros(uint32_t x) {  // x != 0 (std::countl_zero is C++20)
#if defined(__GNUC__)
  return __builtin_clz(x);
#else
  int n = 0;  // once per row: a loop costs nothing next to the row's exps
  for (uint32_t bit = 0x80000000u; (x & bit) == 0; bit >>= 1) ++n;
  return n;
#endif
}

constexpr int kAccumulationIntegerBits = 12;  // reference_ops::Softmax: sum in Q12.19
// TFLITE_CHECK(exponent <= 31) with exponent = num_bits_over_unit + 23 holds iff the Q12.19
// sum is below 2^28.
constexpr int64_t kSumLimit = int64_t{1} << 28;

}  // namespace

SoftmaxS8::SoftmaxS8(const int32_t* exp_table, const SoftmaxS8Params& params)
    : params_(params) {
  for (int i = 0; i < 256; ++i) {
    const int32_t e = exp_table[i];
    if (e < 0 || (-i < params.diff_min && e != 0)) {
      throw std::invalid_argument("SoftmaxS8: exp table entry out of range");
    }
    exp_[i] = e;
    // gemmlowp Rescale<12> of Q0.31 is RoundingDivideByPOT(e, 12); for e >= 0 that is
    // (e + 2^11) >> 12.
    exp_accum_[i] = static_cast<int32_t>((int64_t{e} + (1 << 11)) >> 12);
  }
}

void SoftmaxS8::run(const int8_t* input, int rows, int depth, int8_t* output) const {
  if (depth <= 0) return;
  // Rows go in groups of kGroup: the reciprocal is a chain of ~10 dependent multiplies, and
  // computing a group's reciprocals side by side lets the CPU overlap the chains.
  constexpr int kGroup = 4;
  for (int r0 = 0; r0 < rows; r0 += kGroup) {
    const int n = std::min(kGroup, rows - r0);
    int max_in_row[kGroup];
    int64_t sum[kGroup];
    int32_t scale[kGroup];
    int exponent[kGroup];
    for (int g = 0; g < n; ++g) {
      const int8_t* in = input + static_cast<int64_t>(r0 + g) * depth;
      int m = -128;
      for (int c = 0; c < depth; ++c) m = std::max(m, static_cast<int>(in[c]));
      // Sum of exps in Q12.19. Each term is <= 2^19, so int64 cannot overflow; TFLite's
      // int32 sum only wraps beyond 2^31, far past the 2^28 where it aborts.
      int64_t s = 0;
      for (int c = 0; c < depth; ++c) s += exp_accum_[m - in[c]];
      max_in_row[g] = m;
      sum[g] = s;
    }
    for (int g = 0; g < n; ++g) {
      // TFLite GetReciprocal: normalise the sum to [1, 2), take 1 / (1 + x), x in [0, 1).
      // sum >= 2^19 (the max element contributes exp(0)), so headroom_plus_one <= 12.
      // Rows at or past kSumLimit are written as -128 below; give them a harmless sum.
      const uint32_t s = static_cast<uint32_t>(sum[g] < kSumLimit ? sum[g] : kSumLimit - 1);
      const int headroom_plus_one = count_leading_zeros(s);
      const int num_bits_over_unit = kAccumulationIntegerBits - headroom_plus_one;
      const int32_t shifted_sum_minus_one =
          static_cast<int32_t>((s << headroom_plus_one) - (uint32_t{1} << 31));
      scale[g] = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
      exponent[g] = num_bits_over_unit + 31 - 8;  // in [23, 31] below the limit
    }
    for (int g = 0; g < n; ++g) {
      const int8_t* in = input + static_cast<int64_t>(r0 + g) * depth;
      int8_t* out = output + static_cast<int64_t>(r0 + g) * depth;
      if (sum[g] >= kSumLimit) {
        for (int c = 0; c < depth; ++c) out[c] = -128;
        continue;
      }
      // Both factors are >= 0, so SaturatingRoundingDoublingHighMul is (p + 2^30) >> 31, and
      // gemmlowp RoundingDivideByPOT of a non-negative y is (y + 2^(exponent-1)) >> exponent.
      const int m = max_in_row[g];
      const int64_t shifted_scale = scale[g];
      const int e_shift = exponent[g];
      const uint32_t round = uint32_t{1} << (e_shift - 1);
      for (int c = 0; c < depth; ++c) {
        const int64_t e = exp_[m - in[c]];
        const uint32_t y = static_cast<uint32_t>((shifted_scale * e + (int64_t{1} << 30)) >> 31);
        const int32_t unsat = static_cast<int32_t>((y + round) >> e_shift);  // y < 2^31
        out[c] = static_cast<int8_t>(std::min(unsat - 128, 127));
      }
    }
  }
}

}  // namespace pyedge
