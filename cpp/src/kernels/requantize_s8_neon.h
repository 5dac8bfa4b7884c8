// NEON requantization of int32 accumulators to int8, shared by the ARM FullyConnected kernels
// (NEON on armv7 and aarch64, dotprod, i8mm). Include only from ARM kernel files.
// Everything here has internal linkage (anonymous namespace): an inline function with external
// linkage would be a weak symbol the linker might pick for baseline code
// (tools/check_isa_isolation.sh).
//
// The rule (requantize.h, docs/arithmetic.md): y = int32((acc*M + 2^(s-1)) >> s) + zp_out, s = 31 - shift
// in [1, 62], one rounding from the exact 64-bit product. NEON states it directly:
//   vmull_s32 gives the exact int64 product, and vrshlq_s64 by -s is SRSHL, whose rounding
//   constant 2^(s-1) is added before the shift in unbounded precision (Arm ARM, SRSHL
//   pseudocode), i.e. exactly round-half-up; vmovn / uzp1 keep the low 32 bits (the int32 cast).
// vqrdmulh (what gemmlowp and TFLite's NEON path use) rounds twice, the doubling high multiply
// and then the shift, and saturates: it differs from this rule by 1 LSB on some inputs, so it is
// not used (cpp/tests/test_fully_connected.cc checks the extremes against the scalar formula).
#pragma once
#include <arm_neon.h>

#include <cstdint>

namespace pyedge {
namespace {

constexpr int kNeonBlock = 4;  // output channels per int32x4 of accumulators

struct alignas(16) NeonRequantBlock {
  int32_t bias[kNeonBlock];        // bias - input_zero_point * sum_k w, modulo 2^32
  int32_t multiplier[kNeonBlock];  // Q31 M
  int64_t neg_shift[kNeonBlock];   // -(31 - shift): SRSHL by a negative count shifts right
};

// Fills channel c of a block. Channels past N (valid == false) get harmless values; their
// outputs are never stored. The folded bias is computed modulo 2^32, exactly like the scalar
// kernel's int32 accumulation.
inline void set_neon_channel(NeonRequantBlock& block, int c, bool valid, int32_t bias,
                             int64_t weight_sum, int32_t input_zero_point, int32_t multiplier,
                             int32_t shift) {
  const int64_t folded = valid ? int64_t{bias} - int64_t{input_zero_point} * weight_sum : 0;
  block.bias[c] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(folded)));
  block.multiplier[c] = valid ? multiplier : 0;
  block.neg_shift[c] = valid ? -(31 - int64_t{shift}) : -31;
}

// 4 int32 accumulators (folded bias included) -> requantized int32 with zp_out added, not yet
// clamped or narrowed.
inline int32x4_t requantize_neon(int32x4_t acc, const NeonRequantBlock& p, int32x4_t output_zero_point) {
  const int32x4_t multiplier = vld1q_s32(p.multiplier);
  // |acc*M| <= 2^62: exact in int64, and SRSHL's rounding cannot overflow (see above).
  int64x2_t lo = vmull_s32(vget_low_s32(acc), vget_low_s32(multiplier));
  int64x2_t hi = vmull_s32(vget_high_s32(acc), vget_high_s32(multiplier));
  lo = vrshlq_s64(lo, vld1q_s64(p.neg_shift));
  hi = vrshlq_s64(hi, vld1q_s64(p.neg_shift + 2));
#if defined(__aarch64__)
  const int32x4_t y = vuzp1q_s32(vreinterpretq_s32_s64(lo), vreinterpretq_s32_s64(hi));
#else
  const int32x4_t y = vcombine_s32(vmovn_s64(lo), vmovn_s64(hi));
#endif
  return vaddq_s32(y, output_zero_point);  // wraps like the scalar int32 addition
}

// Four requantized int32x4 (16 channels) -> 16 int8 clamped to [act_min, act_max]. Saturating
// narrowing then the clamp equals clamping the int32 value: the activation range lies inside
// [-128, 127].
inline int8x16_t narrow_clamp_16(int32x4_t y0, int32x4_t y1, int32x4_t y2, int32x4_t y3,
                                 int8x16_t act_min, int8x16_t act_max) {
  const int16x8_t lo = vcombine_s16(vqmovn_s32(y0), vqmovn_s32(y1));
  const int16x8_t hi = vcombine_s16(vqmovn_s32(y2), vqmovn_s32(y3));
  const int8x16_t bytes = vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
  return vminq_s8(vmaxq_s8(bytes, act_min), act_max);
}

}  // namespace
}  // namespace pyedge
