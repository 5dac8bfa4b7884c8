// SoftmaxS8 (table + per-row arithmetic) against a straightforward per-element C++ version of
// TFLite's reference_ops::Softmax<int8_t, int8_t> that uses no table: gemmlowp's fixed-point
// functions written out in their original form (nudge + truncating division, masks,
// RoundingHalfSum), PreprocessSoftmaxScaling and CalculateInputRadius in double, and the
// single-rounding MultiplyByQuantizedMultiplierGreaterThanOne.
// Every implementation this machine runs (SoftmaxS8::run and each supported kernel's
// SoftmaxFn, e.g. softmax_s8_avx512) must give the reference's bytes, also in place.
// Plain program: prints "test_softmax_s8: N passed, M failed", exits non-zero on failure.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "pyedge/kernel_registry.h"
#include "pyedge/softmax_s8.h"

namespace {

constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax = std::numeric_limits<int32_t>::max();

// ---- gemmlowp fixedpoint.h, scalar int32, as written there --------------------------------
int32_t Srdhm(int32_t a, int32_t b) {  // SaturatingRoundingDoublingHighMul
  const bool overflow = a == b && a == kMin;
  const int64_t ab = int64_t{a} * int64_t{b};
  const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  const int32_t high = static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
  return overflow ? kMax : high;
}

int32_t RoundingDivideByPot(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t SatRoundMulPot(int32_t x, int exponent) {  // SaturatingRoundingMultiplyByPOT
  if (exponent == 0) return x;
  if (exponent < 0) return RoundingDivideByPot(x, -exponent);
  const int32_t threshold = (1 << (31 - exponent)) - 1;
  if (x > threshold) return kMax;
  if (x < -threshold) return kMin;
  return static_cast<int32_t>(static_cast<uint32_t>(x) << exponent);
}

int32_t Add(int32_t a, int32_t b) {  // int32 +, wrapping (no UB)
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}
int32_t Sub(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b));
}

int32_t RoundingHalfSum(int32_t a, int32_t b) {
  const int64_t sum = int64_t{a} + int64_t{b};
  const int64_t sign = sum >= 0 ? 1 : -1;
  return static_cast<int32_t>((sum + sign) / 2);
}

// exp_on_interval_between_negative_one_quarter_and_0_excl, Q0.31.
int32_t ExpQuarter(int32_t a) {
  const int32_t constant_term = 1895147668;
  const int32_t constant_1_over_3 = 715827883;
  const int32_t x = Add(a, 1 << 28);
  const int32_t x2 = Srdhm(x, x);
  const int32_t x3 = Srdhm(x2, x);
  const int32_t x4 = Srdhm(x2, x2);
  const int32_t x4_over_4 = SatRoundMulPot(x4, -2);
  const int32_t poly =
      SatRoundMulPot(Add(Srdhm(Add(x4_over_4, x3), constant_1_over_3), x2), -1);
  return Add(constant_term, Srdhm(constant_term, Add(x, poly)));
}

// exp_on_negative_values for FixedPoint<int32_t, kIntegerBits>.
template <int kIntegerBits>
int32_t ExpOnNegativeValues(int32_t a) {
  constexpr int kFractionalBits = 31 - kIntegerBits;
  const int32_t one_quarter = int32_t{1} << (kFractionalBits - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_one_quarter = Sub(a & mask, one_quarter);
  int32_t result = ExpQuarter(SatRoundMulPot(a_mod_quarter_minus_one_quarter, kIntegerBits));
  const int32_t remainder = Sub(a_mod_quarter_minus_one_quarter, a);
  const struct {
    int exponent;
    int32_t multiplier;
  } barrel[] = {{-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308},
                {2, 39332535},    {3, 720401},      {4, 242}};
  for (const auto& b : barrel) {
    if (kIntegerBits > b.exponent) {
      const int shift = kFractionalBits + b.exponent;
      if (remainder & (int32_t{1} << shift)) result = Srdhm(result, b.multiplier);
    }
  }
  if (kIntegerBits > 5) {
    const int32_t clamp = -(int32_t{1} << (36 - kIntegerBits));
    if (a < clamp) result = 0;
  }
  if (a == 0) result = kMax;
  return result;
}

int32_t OneOverOnePlusX(int32_t a) {  // one_over_one_plus_x_for_x_in_0_1
  const int32_t half_denominator = RoundingHalfSum(a, kMax);
  const int32_t c48_17 = 1515870810;
  const int32_t c_neg32_17 = -1010580540;
  int32_t x = Add(c48_17, Srdhm(half_denominator, c_neg32_17));
  for (int i = 0; i < 3; ++i) {
    const int32_t hdx = Srdhm(half_denominator, x);
    const int32_t one_minus = Sub(1 << 29, hdx);
    x = Add(x, SatRoundMulPot(Srdhm(x, one_minus), 2));
  }
  return SatRoundMulPot(x, 1);
}

// ---- TFLite helpers ---------------------------------------------------------------------
int32_t GetReciprocal(int32_t x, int x_integer_digits, int* num_bits_over_unit) {
  int headroom_plus_one = 0;
  while (headroom_plus_one < 32 &&
         !(static_cast<uint32_t>(x) & (uint32_t{0x80000000} >> headroom_plus_one))) {
    ++headroom_plus_one;
  }
  *num_bits_over_unit = x_integer_digits - headroom_plus_one;
  const int32_t shifted_sum_minus_one = static_cast<int32_t>(
      (static_cast<uint32_t>(x) << headroom_plus_one) - (static_cast<uint32_t>(1) << 31));
  return OneOverOnePlusX(shifted_sum_minus_one);
}

// MultiplyByQuantizedMultiplier, TFLITE_SINGLE_ROUNDING build.
int32_t MulByQuantizedMultiplier(int32_t x, int32_t m, int shift) {
  const int64_t total_shift = 31 - shift;
  const int64_t round = int64_t{1} << (total_shift - 1);
  return static_cast<int32_t>((x * int64_t{m} + round) >> total_shift);
}

struct RefParams {
  int32_t multiplier;
  int left_shift;
  int diff_min;
};

// PreprocessSoftmaxScaling (single rounding: cap 2^30 - 1) + CalculateInputRadius.
RefParams PrepareSoftmax(float beta, float input_scale) {
  const double max_real_multiplier = (1LL << 30) - 1.0;
  const double real = std::min<double>(
      static_cast<double>(beta) * static_cast<double>(input_scale) * (1 << (31 - 5)),
      max_real_multiplier);
  int shift = 0;
  const double q = std::frexp(real, &shift);
  int64_t q_fixed = static_cast<int64_t>(std::round(q * (1LL << 31)));
  if (q_fixed == (1LL << 31)) {
    q_fixed /= 2;
    ++shift;
  }
  if (shift > 30) {
    shift = 30;
    q_fixed = (1LL << 31) - 1;
  }
  const double max_input_rescaled = 1.0 * ((1 << 5) - 1) * (1LL << (31 - 5)) / (1LL << shift);
  return {static_cast<int32_t>(q_fixed), shift,
          static_cast<int>(-1.0 * std::floor(max_input_rescaled))};
}

int32_t ExpOfDiff(int32_t diff, const RefParams& p) {
  return ExpOnNegativeValues<5>(MulByQuantizedMultiplier(diff, p.multiplier, p.left_shift));
}

// reference_ops::Softmax<int8_t, int8_t>, element by element, no table. Where TFLite aborts
// (exponent > 31) the row is -128, the convention SoftmaxS8 documents.
void ReferenceSoftmax(const RefParams& p, const int8_t* in, int depth, int8_t* out) {
  int8_t max_in_row = -128;
  for (int c = 0; c < depth; ++c) max_in_row = std::max(max_in_row, in[c]);
  int32_t sum_of_exps = 0;  // Q12.19
  for (int c = 0; c < depth; ++c) {
    const int32_t diff = int32_t{in[c]} - max_in_row;
    if (diff >= p.diff_min) sum_of_exps = Add(sum_of_exps, SatRoundMulPot(ExpOfDiff(diff, p), -12));
  }
  int num_bits_over_unit = 0;
  const int32_t shifted_scale = GetReciprocal(sum_of_exps, 12, &num_bits_over_unit);
  const int exponent = num_bits_over_unit + 31 - 8;
  for (int c = 0; c < depth; ++c) {
    const int32_t diff = int32_t{in[c]} - max_in_row;
    if (exponent > 31 || sum_of_exps < 0) {
      out[c] = -128;
    } else if (diff >= p.diff_min) {
      const int32_t unsat = RoundingDivideByPot(Srdhm(shifted_scale, ExpOfDiff(diff, p)), exponent);
      out[c] = static_cast<int8_t>(std::max(std::min(unsat - 128, 127), -128));
    } else {
      out[c] = -128;
    }
  }
}

struct Case {
  float scale;
  float beta;
};

int g_passed = 0;
int g_failed = 0;

void Check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

std::vector<int32_t> BuildTable(const RefParams& p) {
  std::vector<int32_t> table(256);
  for (int i = 0; i < 256; ++i) table[i] = -i >= p.diff_min ? ExpOfDiff(-i, p) : 0;
  return table;
}

// A softmax implementation under test: the portable SoftmaxS8::run (fn == nullptr) or an
// ISA's SoftmaxFn from the kernel registry.
struct Impl {
  std::string name;
  pyedge::SoftmaxFn fn;
  void run(const pyedge::SoftmaxS8& k, const int8_t* in, int rows, int depth, int8_t* out) const {
    if (fn != nullptr) {
      fn(k, in, rows, depth, out);
    } else {
      k.run(in, rows, depth, out);
    }
  }
};

// The portable version plus every softmax implementation this build has and this CPU runs.
std::vector<Impl> AvailableImpls() {
  std::vector<Impl> impls = {{"portable", nullptr}};
  const pyedge::CpuFeatures cpu = pyedge::detect_cpu_features();
  for (const auto& impl : pyedge::softmax_implementations())
    if (pyedge::runs_here(impl, cpu)) impls.push_back({impl.name, impl.fn});
  return impls;
}

const std::vector<Impl>& Impls() {
  static const std::vector<Impl> impls = AvailableImpls();
  return impls;
}

pyedge::SoftmaxS8 MakeKernel(const RefParams& p) {
  const std::vector<int32_t> table = BuildTable(p);
  return pyedge::SoftmaxS8(table.data(), pyedge::SoftmaxS8Params{p.diff_min});
}

// First mismatch of got vs want as a message, or "" when equal.
std::string Mismatch(const std::vector<int8_t>& data, const std::vector<int8_t>& got,
                     const std::vector<int8_t>& want, size_t count, int depth,
                     const RefParams& p) {
  for (size_t i = 0; i < count; ++i) {
    if (got[i] != want[i]) {
      char buf[200];
      std::snprintf(buf, sizeof(buf), "depth=%d row=%d col=%d x=%d got=%d want=%d (M=%d shift=%d diff_min=%d)",
                    depth, static_cast<int>(i) / depth, static_cast<int>(i) % depth, data[i], got[i],
                    want[i], p.multiplier, p.left_shift, p.diff_min);
      return buf;
    }
  }
  return "";
}

// Runs rows through every implementation and the reference; reports the first mismatch.
void CompareRows(const Case& cs, const std::vector<int8_t>& data, int rows, int depth,
                 const std::string& label) {
  const RefParams p = PrepareSoftmax(cs.beta, cs.scale);
  const pyedge::SoftmaxS8 kernel = MakeKernel(p);
  std::vector<int8_t> want(data.size());
  for (int r = 0; r < rows; ++r) ReferenceSoftmax(p, &data[r * depth], depth, &want[r * depth]);
  char where[64];
  std::snprintf(where, sizeof(where), " scale=%.9g beta=%g ", cs.scale, cs.beta);
  for (const Impl& impl : Impls()) {
    std::vector<int8_t> got(data.size());
    impl.run(kernel, data.data(), rows, depth, got.data());
    const std::string bad = Mismatch(data, got, want, data.size(), depth, p);
    Check(bad.empty(), impl.name + " " + label + where + bad);
    // In place gives the same bits.
    std::vector<int8_t> inplace = data;
    impl.run(kernel, inplace.data(), rows, depth, inplace.data());
    Check(inplace == want, impl.name + " " + label + where + "in place");
  }
}

// One row of each kind the kernels treat specially, chosen by `kind`, written to row[0..depth).
void FillRow(int kind, int depth, const RefParams& p, std::mt19937& rng, int8_t* row) {
  std::uniform_int_distribution<int> any(-128, 127);
  std::uniform_int_distribution<int> col(0, depth - 1);
  const auto clamp8 = [](int v) { return static_cast<int8_t>(std::min(127, std::max(-128, v))); };
  switch (kind) {
    case 0:  // uniform random
      for (int c = 0; c < depth; ++c) row[c] = static_cast<int8_t>(any(rng));
      break;
    case 1: {  // concentrated just below a random max: many small differences
      const int top = any(rng);
      std::uniform_int_distribution<int> spread(0, 24);
      for (int c = 0; c < depth; ++c) row[c] = clamp8(top - spread(rng));
      break;
    }
    case 2:  // all -128
      for (int c = 0; c < depth; ++c) row[c] = -128;
      break;
    case 3:  // all 127
      for (int c = 0; c < depth; ++c) row[c] = 127;
      break;
    case 4:  // one 127, rest -128
      for (int c = 0; c < depth; ++c) row[c] = -128;
      row[col(rng)] = 127;
      break;
    case 5: {  // ties: two levels, several elements at the max
      const int hi = any(rng), lo = std::max(-128, hi - 1 - (any(rng) & 15));
      for (int c = 0; c < depth; ++c) row[c] = static_cast<int8_t>((rng() & 1) ? hi : lo);
      row[col(rng)] = static_cast<int8_t>(hi);
      break;
    }
    case 6: {  // differences around diff_min: some elements excluded, some just kept
      const int top = 127;
      std::uniform_int_distribution<int> near(-3, 3);
      for (int c = 0; c < depth; ++c) row[c] = clamp8(top + p.diff_min + near(rng));
      row[col(rng)] = static_cast<int8_t>(top);
      break;
    }
    default: {  // random max somewhere, the rest anywhere below: every table index
      const int top = any(rng);
      std::uniform_int_distribution<int> below(-128, top);
      for (int c = 0; c < depth; ++c) row[c] = static_cast<int8_t>(below(rng));
      row[col(rng)] = static_cast<int8_t>(top);
      break;
    }
  }
}

// Every row count 1..max_rows (remainders of the 16-row blocks) over one batch of mixed rows:
// the reference runs once, each implementation on every prefix of the batch.
void CompareRowCounts(const Case& cs, int depth, int max_rows, std::mt19937& rng) {
  const RefParams p = PrepareSoftmax(cs.beta, cs.scale);
  const pyedge::SoftmaxS8 kernel = MakeKernel(p);
  std::vector<int8_t> data(static_cast<size_t>(max_rows) * depth);
  const int first_kind = static_cast<int>(rng() % 8);
  for (int r = 0; r < max_rows; ++r) FillRow((first_kind + r) % 8, depth, p, rng, &data[r * depth]);
  std::vector<int8_t> want(data.size());
  for (int r = 0; r < max_rows; ++r) ReferenceSoftmax(p, &data[r * depth], depth, &want[r * depth]);
  char where[96];
  std::snprintf(where, sizeof(where), " mixed rows scale=%.9g beta=%g depth=%d rows=", cs.scale,
                cs.beta, depth);
  for (const Impl& impl : Impls()) {
    std::vector<int8_t> got(data.size() + 1), inplace(data.size() + 1);
    for (int rows = 1; rows <= max_rows; ++rows) {
      const size_t count = static_cast<size_t>(rows) * depth;
      // A guard byte after the rows: nothing may be written past them.
      got[count] = 42;
      impl.run(kernel, data.data(), rows, depth, got.data());
      std::string bad = Mismatch(data, got, want, count, depth, p);
      if (bad.empty() && got[count] != 42) bad = "wrote past the last row";
      std::copy(data.begin(), data.begin() + count, inplace.begin());
      inplace[count] = 42;
      impl.run(kernel, inplace.data(), rows, depth, inplace.data());
      if (bad.empty()) {
        bad = Mismatch(data, inplace, want, count, depth, p);
        if (!bad.empty()) bad = "in place: " + bad;
      }
      if (bad.empty() && inplace[count] != 42) bad = "in place: wrote past the last row";
      Check(bad.empty(), impl.name + where + std::to_string(rows) + " " + bad);
    }
  }
}

}  // namespace

int main() {
  const Case cases[] = {
      {0.0039215689f, 1.0f}, {0.02f, 1.0f},  {0.0625f, 1.0f},       {0.1f, 1.0f},
      {0.13070887f, 1.0f},   {0.25f, 1.0f},  {0.6119250655f, 1.0f}, {1.0f, 1.0f},
      {3.3f, 1.0f},          {15.9f, 1.0f},  {20.0f, 1.0f},         {0.1f, 0.5f},
      {0.1f, 2.0f},          {0.05f, 3.7f},  {1e-4f, 1.0f},         {0.013f, 0.25f},
  };
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> any(-128, 127);

  for (const Case& cs : cases) {
    // Random rows, every depth 1..300.
    for (int depth = 1; depth <= 300; depth += (depth < 40 ? 1 : 13)) {
      const int rows = depth <= 20 ? 200 : 20;
      std::vector<int8_t> data(static_cast<size_t>(rows) * depth);
      // Mix uniform rows and rows concentrated near their max (many small differences).
      std::uniform_int_distribution<int> centre(-128, 127);
      std::uniform_int_distribution<int> spread(0, 24);
      for (int r = 0; r < rows; ++r) {
        const bool narrow = (r % 2) == 1;
        const int c0 = centre(rng);
        for (int c = 0; c < depth; ++c) {
          const int v = narrow ? std::min(127, std::max(-128, c0 - spread(rng))) : any(rng);
          data[r * depth + c] = static_cast<int8_t>(v);
        }
      }
      CompareRows(cs, data, rows, depth, "random");
    }
    // Extreme rows.
    for (int depth : {1, 2, 3, 10, 100, 300, 511, 512, 600}) {
      std::vector<int8_t> all_min(depth, -128), all_max(depth, 127), one_hot(depth, -128);
      one_hot[depth / 2] = 127;
      std::vector<int8_t> two_level(depth, -128);
      for (int c = 0; c < depth; c += 2) two_level[c] = 127;
      std::vector<int8_t> ramp(depth);
      for (int c = 0; c < depth; ++c) ramp[c] = static_cast<int8_t>(127 - (c % 256));
      CompareRows(cs, all_min, 1, depth, "all -128");
      CompareRows(cs, all_max, 1, depth, "all 127");
      CompareRows(cs, one_hot, 1, depth, "one 127 rest -128");
      CompareRows(cs, two_level, 1, depth, "alternating 127/-128");
      CompareRows(cs, ramp, 1, depth, "ramp");
    }
  }

  // Every row count 1..70 (16-row remainders) for depths 1..70, 100, 257, 1000, over mixed
  // rows (random, all -128, all 127, one-hot, ties, diff_min boundary, ...), for the cases
  // above and input scales log-uniform in [1e-3, 100].
  std::vector<Case> sweep(std::begin(cases), std::end(cases));
  for (int i = 0; i < 12; ++i) {
    const float scale = std::exp(std::uniform_real_distribution<float>(
        std::log(1e-3f), std::log(100.0f))(rng));
    sweep.push_back({scale, 1.0f});
  }
  sweep.push_back({1e-3f, 1.0f});
  sweep.push_back({100.0f, 1.0f});
  std::vector<int> depths;
  for (int d = 1; d <= 70; ++d) depths.push_back(d);
  for (int d : {100, 257, 1000}) depths.push_back(d);
  for (const Case& cs : sweep) {
    for (int depth : depths) CompareRowCounts(cs, depth, 70, rng);
  }

  // "Sum too big" boundary: k elements tied at the max (rest -128), k around 512, where the
  // Q12.19 sum reaches 2^28 and the row becomes all -128; 17 such rows take both paths of
  // an implementation that splits rows in blocks.
  for (const Case& cs : {Case{0.1f, 1.0f}, Case{1e-3f, 1.0f}, Case{0.02f, 1.0f}}) {
    for (int depth : {600, 1000}) {
      for (int k = 505; k <= 520; ++k) {
        std::vector<int8_t> data(static_cast<size_t>(17) * depth, -128);
        for (int r = 0; r < 17; ++r) {
          for (int c = 0; c < k; ++c) data[r * depth + (c * 7 + r) % depth] = 127;
        }
        CompareRows(cs, data, 17, depth, "sum limit k=" + std::to_string(k));
      }
    }
  }

  // Every difference of every table against the per-element exp, for a sweep of scales.
  for (int i = 0; i < 2000; ++i) {
    const float scale = std::exp(std::uniform_real_distribution<float>(-9.0f, 3.5f)(rng));
    const RefParams p = PrepareSoftmax(1.0f, scale);
    const pyedge::SoftmaxS8 kernel = MakeKernel(p);
    std::vector<int8_t> data(256 * 2);
    std::vector<int8_t> want(data.size());
    for (int d = 0; d < 256; ++d) {  // rows [127, 127 - d]
      data[2 * d] = 127;
      data[2 * d + 1] = static_cast<int8_t>(127 - d);
    }
    for (int r = 0; r < 256; ++r) ReferenceSoftmax(p, &data[2 * r], 2, &want[2 * r]);
    for (const Impl& impl : Impls()) {
      std::vector<int8_t> got(data.size());
      impl.run(kernel, data.data(), 256, 2, got.data());
      Check(got == want, impl.name + " pair rows, scale " + std::to_string(scale));
    }
  }

  // Speed: depth 10 (an MLP classifier head), 1M rows in tiles of 64 rows, per implementation.
  {
    const RefParams p = PrepareSoftmax(1.0f, 0.13070887f);
    const pyedge::SoftmaxS8 kernel = MakeKernel(p);
    const int rows = 1 << 20, depth = 10, tile = 64;
    std::vector<int8_t> data(static_cast<size_t>(rows) * depth), out(data.size());
    for (auto& v : data) v = static_cast<int8_t>(any(rng));
    for (const Impl& impl : Impls()) {
      const auto pass = [&] {
        for (int r = 0; r < rows; r += tile) {
          impl.run(kernel, &data[r * depth], tile, depth, &out[r * depth]);
        }
      };
      pass();  // warm up
      const auto t0 = std::chrono::steady_clock::now();
      const int reps = 5;
      for (int k = 0; k < reps; ++k) pass();
      const double ns = std::chrono::duration<double, std::nano>(
                            std::chrono::steady_clock::now() - t0).count() /
                        (static_cast<double>(rows) * reps);
      int checksum = 0;
      for (int8_t v : out) checksum += v;
      std::printf("softmax_s8 %s depth %d: %.2f ns/row (checksum %d)\n", impl.name.c_str(),
                  depth, ns, checksum);
    }
  }

  std::string names;
  for (const Impl& impl : Impls()) names += " " + impl.name;
  std::printf("implementations tested:%s\n", names.c_str());
  std::printf("test_softmax_s8: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
