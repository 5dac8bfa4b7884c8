// AVX-512 requantization of int32 accumulators to int8, shared by the AVX-512 VNNI and AMX
// FullyConnected kernels. Include only from files compiled with AVX-512 F/BW/DQ/VL flags.
// Everything here has internal linkage (anonymous namespace): an inline function with external
// linkage would be a weak symbol that the linker might pick for baseline code
// (tools/check_isa_isolation.sh).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "requantization_block.h"

namespace pyedge {
namespace {

constexpr int kRequantBlock = 16;  // output channels per zmm of int32 accumulators

using BlockParams = RequantizationBlock<kRequantBlock>;

// 16 int32 accumulators (bias already added) -> requantized int32 with zp_out added (not yet
// clamped or narrowed).
inline __m512i requantize_block(__m512i acc, const BlockParams& p, __m512i output_zero_point) {
  const __m512i odd_acc = _mm512_srli_epi64(acc, 32);
  const __m512i even_prod = _mm512_mul_epi32(acc, _mm512_load_si512(p.multiplier));
  const __m512i odd_prod = _mm512_mul_epi32(odd_acc, _mm512_load_si512(p.multiplier_odd));
  if (p.fast) {
    // High halves: the odd products already hold theirs in the odd lanes; move the even ones'.
    const __m512i hi = _mm512_mask_shuffle_epi32(odd_prod, 0x5555, even_prod, _MM_PERM_CDAB);
    return _mm512_srav_epi32(_mm512_add_epi32(hi, _mm512_load_si512(p.offset)),
                             _mm512_load_si512(p.shift32));
  }
  // |acc*M| <= 2^62 and round <= 2^61: the sum fits int64; srav is an arithmetic shift.
  const __m512i even = _mm512_srav_epi64(
      _mm512_add_epi64(even_prod, _mm512_load_si512(p.round_even)), _mm512_load_si512(p.shift_even));
  const __m512i odd = _mm512_srav_epi64(
      _mm512_add_epi64(odd_prod, _mm512_load_si512(p.round_odd)), _mm512_load_si512(p.shift_odd));
  // Low 32 bits of each result (the scalar kernel's int32 cast), odd ones moved to odd lanes.
  const __m512i low = _mm512_mask_shuffle_epi32(even, 0xAAAA, odd, _MM_PERM_CDAB);
  return _mm512_add_epi32(low, output_zero_point);
}

}  // namespace
}  // namespace pyedge
