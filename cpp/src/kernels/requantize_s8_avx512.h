// AVX-512 requantization of int32 accumulators to int8, shared by the AVX-512 VNNI and AMX
// FullyConnected kernels. Include only from files compiled with AVX-512 F/BW/DQ/VL flags.
// Everything here has internal linkage (anonymous namespace): an inline function with external
// linkage would be a weak symbol that the linker might pick for baseline code
// (tools/check_isa_isolation.sh).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace pyedge {
namespace {

constexpr int kRequantBlock = 16;  // output channels per zmm of int32 accumulators

// Requantization constants of one block of 16 channels (see requantize.h for the rule
// (acc*M + 2^(s-1)) >> s with s = 31 - shift in [1, 62]).
struct alignas(64) BlockParams {
  int32_t bias[kRequantBlock];            // bias - input_zero_point * sum_k w
  int32_t multiplier[kRequantBlock];      // M; vpmuldq reads the even lanes
  int32_t multiplier_odd[kRequantBlock];  // M[2i+1] in lane 2i, for the odd lanes' products
  // Fast path, when s >= 33: the low 32 bits of the product cannot reach the result, so
  // y = (hi32(acc*M) + 2^(s-33) + zp_out*2^(s-32)) >> (s-32), all in int32. `offset` holds the
  // two added terms; it is used only when |offset| < 2^30, so with |hi32| <= 2^30 the sum
  // cannot wrap.
  int32_t offset[kRequantBlock];
  int32_t shift32[kRequantBlock];         // s - 32
  // General path: exact 64-bit (acc*M + round) >> s on even and odd lanes separately.
  int64_t round_even[8], round_odd[8], shift_even[8], shift_odd[8];
  bool fast = true;
};

// Fills channel c (0..15) of a block. Channels past N (valid == false) get harmless values.
// `weight_sum` is sum_k w[n][k]; the folded bias is computed modulo 2^32, exactly like the
// scalar kernel's int32 accumulation.
inline void set_channel_params(BlockParams& bp, int c, bool valid, int32_t bias, int64_t weight_sum,
                               int32_t input_zero_point, int32_t multiplier_in, int32_t shift,
                               int32_t output_zero_point) {
  const int64_t b = valid ? bias : 0;
  bp.bias[c] = static_cast<int32_t>(static_cast<uint32_t>(
      static_cast<uint64_t>(b - int64_t{input_zero_point} * (valid ? weight_sum : 0))));
  const int32_t multiplier = valid ? multiplier_in : 0;
  const int s = valid ? 31 - shift : 33;  // padded channels: any valid value
  bp.multiplier[c] = multiplier;
  if (c % 2 == 0) {
    bp.round_even[c / 2] = int64_t{1} << (s - 1);
    bp.shift_even[c / 2] = s;
  } else {
    bp.multiplier_odd[c - 1] = multiplier;
    bp.round_odd[c / 2] = int64_t{1} << (s - 1);
    bp.shift_odd[c / 2] = s;
  }
  const int64_t offset = s >= 33 ? (int64_t{1} << (s - 33)) +
                                       int64_t{output_zero_point} * (int64_t{1} << (s - 32))
                                 : 0;
  const bool fast = s >= 33 && offset > -(int64_t{1} << 30) && offset < (int64_t{1} << 30);
  bp.offset[c] = fast ? static_cast<int32_t>(offset) : 0;
  bp.shift32[c] = fast ? s - 32 : 0;
  bp.fast = bp.fast && fast;
}

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
