// Requantization of an int32 accumulator to int8: the one rounding rule every kernel shares.
#pragma once
#include <algorithm>
#include <cstdint>

namespace pyedge {

// TFLite's MultiplyByQuantizedMultiplier with single rounding: multiplier is a Q31 value
// in [2^30, 2^31) (or 0), shift follows TFLite (positive = left), in [-31, 30]. Rounds half
// up (towards +inf) once, from the exact 64-bit product. docs/arithmetic.md: this is what
// LiteRT's BUILTIN_REF kernels compute; the double-rounding variant differs by 1 LSB on ~2 % of outputs.
inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
  const int total_shift = 31 - shift;  // in [1, 62]
  const int64_t round = int64_t{1} << (total_shift - 1);
  return static_cast<int32_t>((int64_t{x} * multiplier + round) >> total_shift);
}

// The gemmlowp form, two roundings: x * 2^left in int32 (wrapping, as TFLite's int32 does), a
// rounding doubling high multiply, a rounding right shift (half away from zero). What LiteRT's
// reference CONV_2D computes (docs/arithmetic.md, "CONV_2D"); multiplier in [0, 2^31).
inline int32_t multiply_by_quantized_multiplier_double_rounding(int32_t x, int32_t multiplier,
                                                                int shift) {
  const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;  // right in [0, 31]
  const int32_t a = static_cast<int32_t>(static_cast<uint32_t>(x) << left);
  const int64_t ab = int64_t{a} * multiplier;  // never INT32_MIN * INT32_MIN: no saturation
  const int64_t high = (ab + (ab >= 0 ? (int64_t{1} << 30) : 1 - (int64_t{1} << 30))) /
                       (int64_t{1} << 31);  // C's truncating division, as gemmlowp's
  const int64_t mask = (int64_t{1} << right) - 1;
  const int64_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
  return static_cast<int32_t>((high >> right) + ((high & mask) > threshold ? 1 : 0));
}

inline int8_t requantize(int32_t acc, int32_t multiplier, int shift, int32_t output_zero_point,
                         int32_t activation_min, int32_t activation_max) {
  // Adds with int32 wrap-around, spelled out (a plain int32 add could overflow, which is
  // undefined): the bits TFLite's int32 arithmetic gives, for parameters no converter emits.
  const int32_t scaled = static_cast<int32_t>(
      static_cast<uint32_t>(multiply_by_quantized_multiplier(acc, multiplier, shift)) +
      static_cast<uint32_t>(output_zero_point));
  return static_cast<int8_t>(std::min(std::max(scaled, activation_min), activation_max));
}

}  // namespace pyedge
