// AVX2 input quantizer: the same bytes and the same finite flag as quantize_f32_s8_scalar
// (see quantize.h), without a division in the common case. Same scheme as the AVX-512 version
// (quantize_f32_s8_avx512.cc has the full error bound), 8 lanes, 32 values per block:
//
// t' = fl(x * r), r = fl(1/scale); N = nearest integer to t' (vcvtps2dq, MXCSR round to
// nearest); d = t' - N (exact). |t' - fl(x/scale)| < 3.0001 * 2^-24 * 256 < 4.6e-5 < kMargin =
// 2^-14 whenever |t'| <= 256, so |d| <= 0.5 - kMargin proves that the scalar's
// round_half_away(fl(x/scale)) is N; beyond 256 both saturate (zero_point in [-128, 127]). A block
// with a near-tie, or with d NaN/Inf/huge (x NaN or Inf, x*r overflowing, t' outside int32,
// where the conversion gives INT32_MIN), is recomputed with the scalar's exact arithmetic
// (vdivps), which also does the finite check.
//
// Requires scale in [2^-126, 2^125] and zero_point in [-128, 127]; other arguments take the
// exact path everywhere. Assumes the default MXCSR (round to nearest, no FTZ/DAZ).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "pyedge/quantize.h"

namespace pyedge {
namespace {

constexpr float kMargin = 0x1p-14f;
constexpr float kMaxSafeDistance = 0.5f - kMargin;  // exact in float

// All-ones in the lanes [8*j, 8*j + 8) of a block of `count` values that are inside the row.
inline __m256i lane_mask(int count, int j) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count - 8 * j), lane);
}

// Masked-off lanes are not read (vmaskmovps does not fault on them) and load as 0.
inline __m256 load8(const float* x, int count, int j) {
  return count >= 8 * (j + 1) ? _mm256_loadu_ps(x + 8 * j)
                              : _mm256_maskload_ps(x + 8 * j, lane_mask(count, j));
}

// The scalar quantizer's arithmetic on 8 lanes, without the final int8 saturation:
// round_half_away(clamp(x/scale, -512, 512)) + zero_point. ANDs "finite" lanes into *finite.
inline __m256i exact8(__m256 v, __m256 scale, __m256i zp, __m256* finite) {
  const __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
  *finite = _mm256_and_ps(*finite, _mm256_cmp_ps(magnitude, _mm256_set1_ps(0x1.fffffep127f),
                                                 _CMP_LE_OQ));  // false for NaN and Inf
  __m256 t = _mm256_div_ps(v, scale);
  // max(lo, t) / min(hi, t) pass a NaN t through, as std::max(t, lo) / std::min(t, hi) do.
  t = _mm256_min_ps(_mm256_set1_ps(512.0f), _mm256_max_ps(_mm256_set1_ps(-512.0f), t));
  __m256i i = _mm256_cvttps_epi32(t);
  const __m256 fraction = _mm256_sub_ps(t, _mm256_cvtepi32_ps(i));  // exact
  // A true comparison is -1: subtract it to add 1, add it to subtract 1.
  i = _mm256_sub_epi32(i, _mm256_castps_si256(
                              _mm256_cmp_ps(fraction, _mm256_set1_ps(0.5f), _CMP_GE_OQ)));
  i = _mm256_add_epi32(i, _mm256_castps_si256(
                              _mm256_cmp_ps(fraction, _mm256_set1_ps(-0.5f), _CMP_LE_OQ)));
  return _mm256_add_epi32(i, zp);
}

// int16 -> int8 with saturation of packs_epi32(v0, v1) and packs_epi32(v2, v3), back in the
// order v0..v3: packs works per 128-bit lane, so dword 4*L + j holds values 4L..4L+3 of v_j.
inline __m256i bytes32(__m256i ab, __m256i cd) {
  return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd),
                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline void store32(int8_t* out, int count, __m256i bytes) {
  if (count == 32) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), bytes);
  } else {  // no byte-masked store in AVX2
    alignas(32) int8_t buffer[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(buffer), bytes);
    std::memcpy(out, buffer, static_cast<size_t>(count));
  }
}

// Exact path for up to 32 values; returns false if one is NaN or Inf.
inline bool exact_block(const float* x, int count, __m256 scale, __m256i zp, int8_t* out) {
  __m256 finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  const __m256i a = exact8(load8(x, count, 0), scale, zp, &finite);
  const __m256i b = exact8(load8(x, count, 1), scale, zp, &finite);
  const __m256i c = exact8(load8(x, count, 2), scale, zp, &finite);
  const __m256i d = exact8(load8(x, count, 3), scale, zp, &finite);
  store32(out, count, bytes32(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d)));
  return _mm256_movemask_ps(finite) == 0xFF;
}

// Nearest integer to x * recip, and the bits of |x * recip - that integer| (exact). NaN, Inf
// and values outside int32 convert to INT32_MIN and give a NaN, Inf or >= 256 distance, except
// exactly -2^31, which is correct (it saturates).
inline __m256i round8(__m256 v, __m256 recip, __m256i* distance_bits) {
  const __m256 t = _mm256_mul_ps(v, recip);
  const __m256i i = _mm256_cvtps_epi32(t);
  const __m256 d = _mm256_sub_ps(t, _mm256_cvtepi32_ps(i));
  *distance_bits = _mm256_and_si256(_mm256_castps_si256(d), _mm256_set1_epi32(0x7FFFFFFF));
  return i;
}

// Fast path for up to 32 values; returns false (and writes nothing) if any lane is not
// provably equal to the exact result.
inline bool fast_block(const float* x, int count, __m256 recip, __m256i zp16, int8_t* out) {
  __m256i d0, d1, d2, d3;
  const __m256i a = round8(load8(x, count, 0), recip, &d0);
  const __m256i b = round8(load8(x, count, 1), recip, &d1);
  const __m256i c = round8(load8(x, count, 2), recip, &d2);
  const __m256i d = round8(load8(x, count, 3), recip, &d3);
  // |d| as int32 bits orders like |d|, with Inf and NaN above every finite value.
  const __m256i far = _mm256_max_epi32(_mm256_max_epi32(d0, d1), _mm256_max_epi32(d2, d3));
  const __m256i limit = _mm256_castps_si256(_mm256_set1_ps(kMaxSafeDistance));
  if (_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(far, limit))) != 0) return false;
  // sat8(sat16(sat16(v) + zp)) == sat8(v + zp) for |zp| <= 128, without int32 overflow.
  const __m256i ab = _mm256_adds_epi16(_mm256_packs_epi32(a, b), zp16);
  const __m256i cd = _mm256_adds_epi16(_mm256_packs_epi32(c, d), zp16);
  store32(out, count, bytes32(ab, cd));
  return true;
}

}  // namespace

bool quantize_f32_s8_avx2(const float* x, int n, float scale, int32_t zero_point, int8_t* out) {
  const __m256 vscale = _mm256_set1_ps(scale);
  const __m256i zp = _mm256_set1_epi32(zero_point);
  const bool fast = scale >= 0x1p-126f && scale <= 0x1p125f && zero_point >= -128 &&
                    zero_point <= 127;
  if (!fast) {
    for (int i = 0; i < n; i += 32) {
      if (!exact_block(x + i, n - i < 32 ? n - i : 32, vscale, zp, out + i)) return false;
    }
    return true;
  }
  const __m256 recip = _mm256_set1_ps(1.0f / scale);
  const __m256i zp16 = _mm256_set1_epi16(static_cast<int16_t>(zero_point));
  int i = 0;
  for (; i + 32 <= n; i += 32) {  // full blocks: no masks
    if (!fast_block(x + i, 32, recip, zp16, out + i) &&
        !exact_block(x + i, 32, vscale, zp, out + i)) {
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
