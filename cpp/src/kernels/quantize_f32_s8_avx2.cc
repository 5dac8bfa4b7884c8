// PLACEHOLDER until the avx2 version lands: forwards to the scalar quantizer.
#include "pyedge/quantize.h"

namespace pyedge {

bool quantize_f32_s8_avx2(const float* x, int n, float scale, int32_t zero_point, int8_t* out) {
  return quantize_f32_s8_scalar(x, n, scale, zero_point, out);
}

}  // namespace pyedge
