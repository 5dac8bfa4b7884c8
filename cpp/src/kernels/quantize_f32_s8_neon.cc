// NEON input quantizer (armv7 with NEON, aarch64): the same bytes and the same finite flag as
// quantize_f32_s8_scalar (see quantize.h), without a division in the common case. Same idea as
// the x86 ones (quantize_f32_s8_avx512.cc has the full error bound), 16 values per block:
//
// t' = fl(x * r), r = fl(1/scale). For |t'| <= 256, |t' - fl(x/scale)| < 3.0001 * 2^-24 * 256
// < 4.6e-5 < kMargin = 2^-14, so when t' is not within kMargin of a half-integer, rounding t'
// half away from zero gives the scalar's round_half_away(fl(x/scale)); for |t'| > 256 both
// saturate (zero_point in [-128, 127]). A block with a near-tie or a NaN/Inf goes to the scalar
// quantizer itself, which also reports the non-finite value; so does the tail of a row (< 16
// values, nothing is read past it).
//
// armv7 NEON has no round-to-nearest conversion and flushes denormals to zero, so: rounding is
// the scalar's own (truncate, then +-1 from the exact fraction), and the fast path needs scale
// in [2^-100, 2^100]: then a denormal x (flushed to 0, giving 0) has |x / scale| < 2^-26, which
// rounds to 0 too, r is a normal number, and an x * r that underflows rounds to 0 either way.
// Other scales and zero points outside [-128, 127] take the scalar path everywhere.
// Assumes the default rounding mode (to nearest).
#include <arm_neon.h>

#include <cstdint>

#include "pyedge/quantize.h"

namespace pyedge {
namespace {

constexpr int kBlock = 16;
constexpr float kMargin = 0x1p-14f;

// The scalar quantizer's rounding of t = clamp(x * r, -512, 512) into int32, plus zero_point.
// Sets *unsafe lanes where t is within kMargin of a half-integer or x is NaN or Inf.
inline int32x4_t round4(float32x4_t x, float32x4_t recip, int32x4_t zp, uint32x4_t* unsafe) {
  const uint32x4_t finite = vcaleq_f32(x, vdupq_n_f32(0x1.fffffep127f));  // false for NaN, Inf
  float32x4_t t = vmulq_f32(x, recip);
  t = vminq_f32(vmaxq_f32(t, vdupq_n_f32(-512.0f)), vdupq_n_f32(512.0f));
  const int32x4_t i = vcvtq_s32_f32(t);                      // truncates toward zero
  const float32x4_t fraction = vsubq_f32(t, vcvtq_f32_s32(i));  // exact, |fraction| < 1
  const uint32x4_t near_tie =
      vcltq_f32(vabdq_f32(vabsq_f32(fraction), vdupq_n_f32(0.5f)), vdupq_n_f32(kMargin));
  *unsafe = vorrq_u32(*unsafe, vorrq_u32(near_tie, vmvnq_u32(finite)));
  // A true comparison is all ones (-1): subtract it to add 1, add it to subtract 1.
  const int32x4_t up = vreinterpretq_s32_u32(vcgeq_f32(fraction, vdupq_n_f32(0.5f)));
  const int32x4_t down = vreinterpretq_s32_u32(vcleq_f32(fraction, vdupq_n_f32(-0.5f)));
  return vaddq_s32(vaddq_s32(vsubq_s32(i, up), down), zp);
}

inline bool any_lane(uint32x4_t v) {
  const uint32x2_t folded = vorr_u32(vget_low_u32(v), vget_high_u32(v));
  return (vget_lane_u32(folded, 0) | vget_lane_u32(folded, 1)) != 0;
}

// 16 values; returns false (and writes nothing) if any lane is not provably the exact result.
inline bool fast_block(const float* x, float32x4_t recip, int32x4_t zp, int8_t* out) {
  uint32x4_t unsafe = vdupq_n_u32(0);
  const int32x4_t a = round4(vld1q_f32(x), recip, zp, &unsafe);
  const int32x4_t b = round4(vld1q_f32(x + 4), recip, zp, &unsafe);
  const int32x4_t c = round4(vld1q_f32(x + 8), recip, zp, &unsafe);
  const int32x4_t d = round4(vld1q_f32(x + 12), recip, zp, &unsafe);
  if (any_lane(unsafe)) return false;
  // |values| <= 512 + 128: the saturating narrowings are the scalar's clamp to [-128, 127].
  const int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
  const int16x8_t cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
  vst1q_s8(out, vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd)));
  return true;
}

}  // namespace

bool quantize_f32_s8_neon(const float* x, int n, float scale, int32_t zero_point, int8_t* out) {
  const bool fast = scale >= 0x1p-100f && scale <= 0x1p100f && zero_point >= -128 && zero_point <= 127;
  if (!fast) return quantize_f32_s8_scalar(x, n, scale, zero_point, out);
  const float32x4_t recip = vdupq_n_f32(1.0f / scale);
  const int32x4_t zp = vdupq_n_s32(zero_point);
  int i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    if (!fast_block(x + i, recip, zp, out + i) &&
        !quantize_f32_s8_scalar(x + i, kBlock, scale, zero_point, out + i)) {
      return false;
    }
  }
  return i == n || quantize_f32_s8_scalar(x + i, n - i, scale, zero_point, out + i);
}

}  // namespace pyedge
