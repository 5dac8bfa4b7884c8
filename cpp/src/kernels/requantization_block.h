// Requantization constants of a block of output channels, computed once when a SIMD
// FullyConnected kernel packs its weights (AVX2: 8 channels per block, AVX-512: 16). Plain
// C++, no intrinsics, internal linkage only (an inline function with external linkage would be
// a weak symbol the linker might share with baseline code: tools/check_isa_isolation.sh).
#pragma once
#include <cstdint>

namespace pyedge {
namespace {

// The rule (requantize.h): (acc*M + 2^(s-1)) >> s with s = 31 - shift in [1, 62].
template <int kLanes>
struct alignas(kLanes * 4) RequantizationBlock {
  int32_t bias[kLanes];            // bias - input_zero_point * sum_k w
  int32_t multiplier[kLanes];      // M; the 32x32->64 multiplies read the even lanes
  int32_t multiplier_odd[kLanes];  // M[2i+1] in lane 2i, for the odd lanes' products
  // Fast path, when s >= 33: the low 32 bits of the product cannot reach the result, so
  // y = (hi32(acc*M) + 2^(s-33) + zp_out*2^(s-32)) >> (s-32), all in int32. `offset` holds the
  // two added terms; it is used only when |offset| < 2^30, so with |hi32| <= 2^30 the sum
  // cannot wrap.
  int32_t offset[kLanes];
  int32_t shift32[kLanes];  // s - 32
  // General path: exact 64-bit (acc*M + round) >> s on even and odd lanes separately.
  int64_t round_even[kLanes / 2], round_odd[kLanes / 2];
  int64_t shift_even[kLanes / 2], shift_odd[kLanes / 2];
  bool fast = true;
};

// Fills channel c of a block. Channels past N (valid == false) get harmless values.
// `weight_sum` is sum_k w[n][k]; the folded bias is computed modulo 2^32, exactly like the
// scalar kernel's int32 accumulation.
template <int kLanes>
inline void set_channel_params(RequantizationBlock<kLanes>& bp, int c, bool valid, int32_t bias,
                               int64_t weight_sum, int32_t input_zero_point,
                               int32_t multiplier_in, int32_t shift, int32_t output_zero_point) {
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

}  // namespace
}  // namespace pyedge
