// Every kernel's input quantizer against the scalar reference, byte for byte, on values that
// stress the rounding: exact half-integers after division, neighbours one ulp away, huge
// values, zeros of both signs, subnormals, and rows holding NaN or Inf.
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "pyedge/kernel_registry.h"

namespace {

int failures = 0, passes = 0;

void check(const pyedge::KernelInfo& k, const std::vector<float>& x, float scale, int zp) {
  const int n = static_cast<int>(x.size());
  std::vector<int8_t> want(n), got(n);
  const bool want_ok = pyedge::quantize_f32_s8_scalar(x.data(), n, scale, zp, want.data());
  const bool got_ok = k.quantize(x.data(), n, scale, zp, got.data());
  if (want_ok != got_ok) {
    std::printf("FAIL %s n=%d scale=%a zp=%d: finite flag %d, scalar %d\n", k.name.c_str(), n,
                scale, zp, got_ok, want_ok);
    ++failures;
    return;
  }
  for (int i = 0; want_ok && i < n; ++i) {
    if (want[i] != got[i]) {
      std::printf("FAIL %s n=%d scale=%a zp=%d: x[%d]=%a -> %d, scalar %d\n", k.name.c_str(), n,
                  scale, zp, i, x[i], got[i], want[i]);
      ++failures;
      return;
    }
  }
  ++passes;
}

}  // namespace

int main() {
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> zp_dist(-128, 127);
  const float scales[] = {1.0f, 0.5f, 0.1f, 0.0156082f, 3.0f / 7.0f, 1e-3f, 0.37f, 7.5f, 1e-6f};
  for (const auto& k : pyedge::list_kernels()) {
    if (!k.supported) continue;
    for (float scale : scales) {
      for (int n : {1, 3, 15, 16, 17, 31, 64, 100, 257, 784}) {
        const int zp = zp_dist(rng);
        std::vector<float> x(n);
        // Random values spanning the int8 range and far beyond it.
        for (auto& v : x) v = unit(rng) * scale * 300.0f;
        check(k, x, scale, zp);
        // Exact half-integers k + 0.5 times scale, and their float neighbours.
        for (int i = 0; i < n; ++i) {
          const float half = (static_cast<float>(i % 301) - 150.0f + 0.5f) * scale;
          const int step = i % 3;
          x[i] = step == 0 ? half : std::nextafter(half, step == 1 ? 1e30f : -1e30f);
        }
        check(k, x, scale, zp);
        // Specials: zeros, subnormals, the largest finite floats.
        for (int i = 0; i < n; ++i) {
          const float specials[] = {0.0f, -0.0f, 1e-40f, -1e-40f,
                                    std::numeric_limits<float>::max(),
                                    -std::numeric_limits<float>::max(), 1e20f, -1e20f};
          x[i] = specials[i % 8];
        }
        check(k, x, scale, zp);
        // A NaN or an Inf anywhere must be reported.
        for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
          x.assign(n, 0.25f);
          x[rng() % n] = bad;
          check(k, x, scale, zp);
        }
      }
    }
  }
  std::printf("test_quantize: %d passed, %d failed\n", passes, failures);
  return failures ? 1 : 0;
}
