// The scalar reference quantizer (see quantize.h), the oracle of the SIMD ones.
#include <algorithm>
#include <cmath>
#include <limits>

#include "pyedge/quantize.h"

namespace pyedge {

bool quantize_f32_s8_scalar(const float* x, int n, float scale, int32_t zero_point, int8_t* out) {
  // Branch-free, so that the compiler can vectorize it for the baseline ISA (SSE2, NEON).
  int32_t bad = 0;
  for (int i = 0; i < n; ++i) {
    bad |= !(std::fabs(x[i]) <= std::numeric_limits<float>::max());  // NaN or Inf
    float t = x[i] / scale;
    t = std::min(std::max(t, -512.0f), 512.0f);  // saturate before the int conversion
    t = t == t ? t : 0.0f;  // NaN (already reported) must not reach the int conversion: UB
    int32_t v = static_cast<int32_t>(t);         // truncates toward zero; exact for |t| <= 512
    const float fraction = t - static_cast<float>(v);  // exact
    v += (fraction >= 0.5f) - (fraction <= -0.5f);     // round half away from zero
    v += zero_point;
    out[i] = static_cast<int8_t>(std::min(std::max(v, -128), 127));
  }
  return !bad;
}

}  // namespace pyedge
