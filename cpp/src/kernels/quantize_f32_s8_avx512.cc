// AVX-512 input quantizer: the same bytes and the same finite flag as quantize_f32_s8_scalar
// (see quantize.h), without a division in the common case.
//
// Fast path, 64 values per block: t' = fl(x * r) with r = fl(1/scale), N = the nearest integer
// to t' (vcvtps2dq) and d = t' - N (vreduceps, exact). Let q = x/scale (real) and t = fl(q), the
// value the scalar rounds. With u = 2^-24: r = (1/scale)(1+e1), t' = x*r*(1+e2) (+ at most
// 2^-150 if t' underflows), t = q(1+e3) (same), |e_i| <= u, so
//   |t' - t| <= (3u + u^2)|q| + 2^-149,  |q| <= (|t'| + 2^-150) / (1 - 2u - u^2).
// For |t'| <= 256 that is < 3.0001 * 2^-24 * 256 < 4.6e-5 < kMargin = 2^-14. So when
// |d| <= 0.5 - kMargin, t lies strictly inside (N - 0.5, N + 0.5) and the scalar's
// round_half_away(t) is N. When |t'| > 256, |t| >= |t'|(1 - 4u) > 255.99 with the same sign,
// so both the scalar's integer and N are >= 256 in magnitude and, with zero_point in
// [-128, 127], both saturate to the same int8: the margin only matters below 256.
// A block holding a near-tie (|d| > 0.5 - kMargin), or a lane whose conversion gave INT32_MIN
// (x NaN or Inf, x*r overflowing or |t'| >= 2^31; see fast_block), is recomputed with the
// scalar's exact arithmetic (vdivps), which also does the finite check. For random data a lane
// is a near-tie with probability ~2 * kMargin = 1.2e-4: ~0.8% of the 64-value blocks.
//
// Requires scale in [2^-126, 2^125] (so r is normal and the bound holds) and zero_point in
// [-128, 127] (TFLite's int8 range); other arguments take the exact path everywhere. Assumes
// the default MXCSR (round to nearest, no FTZ/DAZ), as the scalar's division does.

#include "avx512_intrinsics.h"

#include <cstdint>

#include "pyedge/quantize.h"

namespace pyedge {
namespace {

constexpr float kMargin = 0x1p-14f;
constexpr float kMaxSafeDistance = 0.5f - kMargin;  // exact in float

// Bit i set for the values i < count of a block (count <= 64).
inline uint64_t block_mask(int count) {
  return count >= 64 ? ~uint64_t{0} : (uint64_t{1} << count) - 1;
}

// The lanes of vector j (values 16j .. 16j + 15) of a block, from its block_mask.
inline __mmask16 lane_mask(uint64_t block, int j) {
  return static_cast<__mmask16>(block >> (16 * j));
}

// The scalar quantizer's arithmetic on 16 lanes (masked-off lanes are loaded as 0), without the
// final int8 saturation: returns round_half_away(clamp(x/scale, -512, 512)) + zero_point.
// ORs the lanes holding NaN or Inf into *bad.
inline __m512i exact16(const float* x, __mmask16 m, __m512 scale, __m512i zp, __mmask16* bad) {
  const __m512 v = _mm512_maskz_loadu_ps(m, x);
  *bad |= _mm512_fpclass_ps_mask(v, 0x01 | 0x08 | 0x10 | 0x80);  // QNaN, +Inf, -Inf, SNaN
  __m512 t = _mm512_div_ps(v, scale);
  // max(lo, t) / min(hi, t) pass a NaN t through, as std::max(t, lo) / std::min(t, hi) do.
  t = _mm512_min_ps(_mm512_set1_ps(512.0f), _mm512_max_ps(_mm512_set1_ps(-512.0f), t));
  __m512i i = _mm512_cvttps_epi32(t);
  const __m512 fraction = _mm512_sub_ps(t, _mm512_cvtepi32_ps(i));  // exact
  const __m512i one = _mm512_set1_epi32(1);
  i = _mm512_mask_add_epi32(i, _mm512_cmp_ps_mask(fraction, _mm512_set1_ps(0.5f), _CMP_GE_OQ),
                            i, one);
  i = _mm512_mask_sub_epi32(i, _mm512_cmp_ps_mask(fraction, _mm512_set1_ps(-0.5f), _CMP_LE_OQ),
                            i, one);
  return _mm512_add_epi32(i, zp);
}

// Saturating int16 -> int8 of two vectors holding packs_epi32(v0, v1) and packs_epi32(v2, v3),
// back in the order v0, v1, v2, v3: packs works per 128-bit lane, so afterwards dword 4*L + j
// holds values 4L..4L+3 of v_j.
inline __m512i bytes64(__m512i ab, __m512i cd) {
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_epi32(order, _mm512_packs_epi16(ab, cd));
}

inline void store64(int8_t* out, int count, __m512i bytes) {
  if (count == 64) {
    _mm512_storeu_si512(out, bytes);
  } else {
    _mm512_mask_storeu_epi8(out, block_mask(count), bytes);
  }
}

// Exact path for up to 64 values; returns false if one is NaN or Inf.
inline bool exact_block(const float* x, int count, __m512 scale, __m512i zp, int8_t* out) {
  const uint64_t m = block_mask(count);
  __mmask16 bad = 0;
  const __m512i a = exact16(x, lane_mask(m, 0), scale, zp, &bad);
  const __m512i b = exact16(x + 16, lane_mask(m, 1), scale, zp, &bad);
  const __m512i c = exact16(x + 32, lane_mask(m, 2), scale, zp, &bad);
  const __m512i d = exact16(x + 48, lane_mask(m, 3), scale, zp, &bad);
  store64(out, count, bytes64(_mm512_packs_epi32(a, b), _mm512_packs_epi32(c, d)));
  return bad == 0;
}

// Nearest integer to x * recip (INT32_MIN if it is NaN, Inf or out of int32 range), and the
// signed distance x * recip - that integer (exact; 0 for |x * recip| >= 2^23).
inline __m512i round16(const float* x, __mmask16 m, __m512 recip, __m512* distance) {
  const __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x), recip);
  *distance = _mm512_reduce_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

// Fast path for up to 64 values; returns false (and writes nothing) if any lane is not
// provably equal to the exact result.
inline bool fast_block(const float* x, int count, __m512 recip, __m512i zp16, int8_t* out) {
  const uint64_t m = block_mask(count);
  __m512 d0, d1, d2, d3;
  const __m512i a = round16(x, lane_mask(m, 0), recip, &d0);
  const __m512i b = round16(x + 16, lane_mask(m, 1), recip, &d1);
  const __m512i c = round16(x + 32, lane_mask(m, 2), recip, &d2);
  const __m512i d = round16(x + 48, lane_mask(m, 3), recip, &d3);
  // vrangeps imm 0b1011: the larger |.|, sign cleared (a NaN operand is dropped: see below).
  const __m512 far = _mm512_range_ps(_mm512_range_ps(d0, d1, 0x0B), _mm512_range_ps(d2, d3, 0x0B),
                                     0x0B);
  const __mmask16 near_tie = _mm512_cmp_ps_mask(far, _mm512_set1_ps(kMaxSafeDistance), _CMP_GT_OQ);
  const __m512i ab = _mm512_packs_epi32(a, b);
  const __m512i cd = _mm512_packs_epi32(c, d);
  // NaN, Inf and |t'| >= 2^31 convert to INT32_MIN, which narrows to -32768: sending every
  // -32768 (also t' <= -32767.5, harmless) to the exact path catches them.
  const __mmask32 special =
      _mm512_cmpeq_epi16_mask(_mm512_min_epi16(ab, cd), _mm512_set1_epi16(-32768));
  if ((near_tie | special) != 0) return false;
  // sat8(sat16(sat16(v) + zp)) == sat8(v + zp) for |zp| <= 128, without int32 overflow.
  const __m512i abz = _mm512_adds_epi16(ab, zp16);
  const __m512i cdz = _mm512_adds_epi16(cd, zp16);
  store64(out, count, bytes64(abz, cdz));
  return true;
}

}  // namespace

bool quantize_f32_s8_avx512(const float* x, int n, float scale, int32_t zero_point, int8_t* out) {
  const __m512 vscale = _mm512_set1_ps(scale);
  const __m512i zp = _mm512_set1_epi32(zero_point);
  const bool fast = scale >= 0x1p-126f && scale <= 0x1p125f && zero_point >= -128 &&
                    zero_point <= 127;
  if (!fast) {
    for (int i = 0; i < n; i += 64) {
      if (!exact_block(x + i, n - i < 64 ? n - i : 64, vscale, zp, out + i)) return false;
    }
    return true;
  }
  const __m512 recip = _mm512_set1_ps(1.0f / scale);
  const __m512i zp16 = _mm512_set1_epi16(static_cast<int16_t>(zero_point));
  int i = 0;
  for (; i + 64 <= n; i += 64) {
    if (!fast_block(x + i, 64, recip, zp16, out + i) &&
        !exact_block(x + i, 64, vscale, zp, out + i)) {
      return false;
    }
  }
  if (i < n) {
    const int count = n - i;
    if (!fast_block(x + i, count, recip, zp16, out + i) &&
        !exact_block(x + i, count, vscale, zp, out + i)) {
      return false;
    }
  }
  return true;
}

}  // namespace pyedge
