// Float -> int8 quantization of the model input, TFLite's QUANTIZE (reference kernel):
//   q = clamp(round_half_away_from_zero(x / scale) + zero_point, -128, 127)
// with the division in float32, as the reference does (a multiply by 1/scale rounds
// differently for some x: a SIMD version may use it only where it provably gives the same
// integer). Every version returns the same bytes.
#pragma once
#include <cstdint>

namespace pyedge {

// Quantizes n values; returns false when any of them is NaN or Inf (the caller rejects the
// row; what it wrote to out is then unspecified).
using QuantizeFn = bool (*)(const float* x, int n, float scale, int32_t zero_point, int8_t* out);

bool quantize_f32_s8_scalar(const float* x, int n, float scale, int32_t zero_point, int8_t* out);
#if defined(PYEDGE_HAVE_X86_KERNELS)
bool quantize_f32_s8_avx2(const float* x, int n, float scale, int32_t zero_point, int8_t* out);
bool quantize_f32_s8_avx512(const float* x, int n, float scale, int32_t zero_point, int8_t* out);
#endif
#if defined(PYEDGE_HAVE_NEON_KERNEL)
bool quantize_f32_s8_neon(const float* x, int n, float scale, int32_t zero_point, int8_t* out);
#endif

}  // namespace pyedge
