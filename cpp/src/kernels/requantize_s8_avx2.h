// AVX2 requantization of int32 accumulators to int8, shared by the AVX2 and AVX-VNNI
// FullyConnected kernels. Include only from files compiled with -mavx2.
// Everything here has internal linkage (anonymous namespace): an inline function with external
// linkage would be a weak symbol that the linker might pick for baseline code
// (tools/check_isa_isolation.sh).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "requantization_block.h"

namespace pyedge {
namespace {

constexpr int kRequantBlock = 8;  // output channels per ymm of int32 accumulators

using BlockParams = RequantizationBlock<kRequantBlock>;

// AVX2 has no 64-bit arithmetic shift: flip negative values to ~v >= 0, shift logically,
// flip back (floor(v / 2^s) = ~floor(~v / 2^s)).
inline __m256i shift_right_arithmetic_epi64(__m256i v, __m256i count) {
  const __m256i sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
  return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(v, sign), count), sign);
}

// 8 int32 accumulators (folded bias included) -> requantized int32 with zp_out added, not yet
// narrowed or clamped.
inline __m256i requantize_block(__m256i acc, const BlockParams& p, __m256i output_zero_point) {
  const __m256i even_prod = _mm256_mul_epi32(acc, _mm256_load_si256(reinterpret_cast<const __m256i*>(p.multiplier)));
  const __m256i odd_prod = _mm256_mul_epi32(
      _mm256_srli_epi64(acc, 32), _mm256_load_si256(reinterpret_cast<const __m256i*>(p.multiplier_odd)));
  if (p.fast) {
    // High halves: the odd products hold theirs in the odd lanes already; move the even ones'.
    const __m256i hi = _mm256_blend_epi32(_mm256_shuffle_epi32(even_prod, 0xB1), odd_prod, 0xAA);
    return _mm256_srav_epi32(
        _mm256_add_epi32(hi, _mm256_load_si256(reinterpret_cast<const __m256i*>(p.offset))),
        _mm256_load_si256(reinterpret_cast<const __m256i*>(p.shift32)));
  }
  // |acc*M| <= 2^62 and round <= 2^61: the sum fits int64.
  const __m256i even = shift_right_arithmetic_epi64(
      _mm256_add_epi64(even_prod, _mm256_load_si256(reinterpret_cast<const __m256i*>(p.round_even))),
      _mm256_load_si256(reinterpret_cast<const __m256i*>(p.shift_even)));
  const __m256i odd = shift_right_arithmetic_epi64(
      _mm256_add_epi64(odd_prod, _mm256_load_si256(reinterpret_cast<const __m256i*>(p.round_odd))),
      _mm256_load_si256(reinterpret_cast<const __m256i*>(p.shift_odd)));
  // Low 32 bits of each result (the scalar kernel's int32 cast), odd ones moved to odd lanes.
  const __m256i low = _mm256_blend_epi32(even, _mm256_shuffle_epi32(odd, 0xB1), 0xAA);
  return _mm256_add_epi32(low, output_zero_point);
}

}  // namespace
}  // namespace pyedge
