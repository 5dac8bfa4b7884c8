// Every kernel's input quantizer against the scalar reference, byte for byte, on values that
// stress the rounding: exact half-integers after division, neighbours a few ulps away, values
// where x * (1/scale) and x / scale round to different integers (found by brute force), huge
// values, zeros of both signs, subnormals, and rows holding NaN or Inf at every position. Rows
// end at a PROT_NONE page, so reading past x + n or writing past out + n crashes. Finally an
// exhaustive sweep over every float x with 0.25 <= |x / scale| <= 300 for a few scales
// (narrower with PYEDGE_TEST_SHORT=1, for runs under emulation).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "expected_kernels.h"

using Quantizer = pyedge::Implementation<pyedge::QuantizeFn>;
#include "pyedge/kernel_registry.h"

namespace {

int failures = 0, passes = 0;

// A row of up to kGuardedMax floats and bytes that ends right before an inaccessible page.
constexpr int kGuardedMax = 4096;
struct Guarded {
  float* x_end = nullptr;
  int8_t* out_end = nullptr;
  Guarded() {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    x_end = static_cast<float*>(map_before_guard(kGuardedMax * sizeof(float), page));
    out_end = static_cast<int8_t*>(map_before_guard(kGuardedMax, page));
  }
  static void* map_before_guard(size_t bytes, size_t page) {
    const size_t usable = (bytes + page - 1) / page * page;
    char* base = static_cast<char*>(mmap(nullptr, usable + page, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base == MAP_FAILED || mprotect(base + usable, page, PROT_NONE) != 0) {
      std::perror("mmap");
      std::exit(2);
    }
    return base + usable;
  }
};
Guarded guarded;

float round_half_away(float t) {
  const float v = std::trunc(t);
  const float fraction = t - v;
  return v + (fraction >= 0.5f) - (fraction <= -0.5f);
}

void check(const Quantizer& k, const std::vector<float>& x, float scale, int zp) {
  const int n = static_cast<int>(x.size());
  if (n > kGuardedMax) std::abort();
  float* gx = guarded.x_end - n;
  int8_t* gout = guarded.out_end - n;
  std::copy(x.begin(), x.end(), gx);
  std::vector<int8_t> want(n);
  const bool want_ok = pyedge::quantize_f32_s8_scalar(gx, n, scale, zp, want.data());
  std::memset(gout, 0x5A, n);
  const bool got_ok = k.fn(gx, n, scale, zp, gout);
  if (want_ok != got_ok) {
    std::printf("FAIL %s n=%d scale=%a zp=%d: finite flag %d, scalar %d\n", k.name, n,
                scale, zp, got_ok, want_ok);
    ++failures;
    return;
  }
  for (int i = 0; want_ok && i < n; ++i) {
    if (want[i] != gout[i]) {
      std::printf("FAIL %s n=%d scale=%a zp=%d: x[%d]=%a -> %d, scalar %d\n", k.name, n,
                  scale, zp, i, x[i], gout[i], want[i]);
      ++failures;
      return;
    }
  }
  ++passes;
}

// Cuts `values` into rows of assorted lengths (so every lane position and every tail length
// meets them) and checks each row.
void check_rows(const Quantizer& k, const std::vector<float>& values, float scale,
                int zp, std::mt19937& rng) {
  static const int lengths[] = {1, 5, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 784};
  size_t at = 0;
  for (int r = 0; at < values.size(); ++r) {
    const size_t n = std::min<size_t>(lengths[(r + rng() % 3) % 15], values.size() - at);
    check(k, std::vector<float>(values.begin() + at, values.begin() + at + n), scale, zp);
    at += n;
  }
}

float step(float x, int ulps) {
  for (; ulps > 0; --ulps) x = std::nextafter(x, INFINITY);
  for (; ulps < 0; ++ulps) x = std::nextafter(x, -INFINITY);
  return x;
}

// x within a few ulps of (k + 0.5) * scale for every k in [-300, 300]: quotients exactly at a
// half-integer and 1-6 ulps either side.
std::vector<float> near_half_integers(float scale) {
  std::vector<float> v;
  for (int k = -300; k <= 300; ++k) {
    const float x0 = static_cast<float>((k + 0.5) * static_cast<double>(scale));
    for (int j = -6; j <= 6; ++j) v.push_back(step(x0, j));
  }
  return v;
}

// Brute force: floats x around every (k + 0.5) * scale where round(fl(x * fl(1/scale))) and
// round(fl(x / scale)) differ, i.e. where a multiply-only kernel would be wrong.
std::vector<float> product_disagrees(float scale) {
  const float recip = 1.0f / scale;
  std::vector<float> v;
  for (int k = -300; k <= 300; ++k) {
    const float x0 = static_cast<float>((k + 0.5) * static_cast<double>(scale));
    float x = step(x0, -64);
    for (int j = -64; j <= 64; ++j, x = std::nextafter(x, INFINITY)) {
      if (round_half_away(x * recip) != round_half_away(x / scale)) v.push_back(x);
    }
  }
  return v;
}

// Every float x with lo <= |x| <= hi, in rows of 65521 (a prime: odd tails), compared with
// memcmp. Each row's zero_point centres its quotients in the int8 range (so that nothing
// saturates and every rounding is visible). Returns how many floats were checked per kernel.
long exhaustive(const std::vector<Quantizer>& kernels, float scale, float lo, float hi) {
  constexpr int kRow = 65521;
  std::vector<float> x(kRow);
  std::vector<int8_t> want(kRow), got(kRow);
  long count = 0;
  uint32_t lo_bits, hi_bits;
  std::memcpy(&lo_bits, &lo, 4);
  std::memcpy(&hi_bits, &hi, 4);
  for (uint32_t sign : {0u, 0x80000000u}) {
    for (uint64_t b = lo_bits; b <= hi_bits; b += kRow) {
      const int n = static_cast<int>(std::min<uint64_t>(kRow, hi_bits - b + 1));
      for (int i = 0; i < n; ++i) {
        const uint32_t bits = static_cast<uint32_t>(b + i) | sign;
        std::memcpy(&x[i], &bits, 4);
      }
      const double mid = x[n / 2] / static_cast<double>(scale);
      const int zp = static_cast<int>(std::max(-128.0, std::min(127.0, -std::round(mid))));
      const bool want_ok = pyedge::quantize_f32_s8_scalar(x.data(), n, scale, zp, want.data());
      for (const auto& k : kernels) {
        const bool ok = k.fn(x.data(), n, scale, zp, got.data());
        if (ok != want_ok || std::memcmp(want.data(), got.data(), n) != 0) {
          int i = 0;
          while (i < n - 1 && want[i] == got[i]) ++i;
          std::printf("FAIL exhaustive %s scale=%a zp=%d: flag %d/%d, x=%a -> %d, scalar %d\n",
                      k.name, scale, zp, ok, want_ok, x[i], got[i], want[i]);
          ++failures;
          return count;
        }
      }
      count += n;
    }
  }
  passes += 1;
  return count;
}

}  // namespace

int main() {
  const auto start = std::chrono::steady_clock::now();
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> zp_dist(-128, 127);
  // Every quantizer this build has and this CPU runs, but the scalar one they are checked against.
  std::vector<Quantizer> kernels;
  const pyedge::CpuFeatures cpu = pyedge::detect_cpu_features();
  for (const Quantizer& k : pyedge::quantize_implementations())
    if (pyedge::runs_here(k, cpu) && k.fn != &pyedge::quantize_f32_s8_scalar) kernels.push_back(k);
  // PYEDGE_TEST_SHORT=1 (set by tools/cross/test-cpp-arm.sh for runs under qemu, 5-25x
  // slower) narrows the exhaustive sweep; the output says so.
  const char* short_env = std::getenv("PYEDGE_TEST_SHORT");
  const bool short_run = short_env != nullptr && std::strcmp(short_env, "0") != 0 && *short_env;
  std::string names;
  for (const auto& k : kernels) names += std::string(" ") + k.name;
  std::printf("test_quantize: quantizers under test:%s\n", names.empty() ? " (none but scalar)" : names.c_str());
  std::vector<float> scales = {1.0f,         0.5f,      0.1f,  1.0f / 3.0f, 0.0156082f,
                               3.0f / 7.0f,  1e-3f,     0.37f, 7.5f,        1e-6f,
                               1.0f / 255.0f, 0.007874016f, 1e-30f, 1e30f};
  std::uniform_real_distribution<float> log_scale(-12.0f, 4.0f);
  for (int i = 0; i < 12; ++i) scales.push_back(std::exp2(log_scale(rng)));
  // Outside the fast path's domain (reciprocal not normal): the exact path everywhere.
  const float exact_only_scales[] = {0x1p-127f, 1e-39f, 0x1p126f, 3e38f};

  long disagreements = 0;
  for (const auto& k : kernels) {
    for (float scale : scales) {
      for (int n : {1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 784}) {
        const int zp = zp_dist(rng);
        std::vector<float> x(n);
        // Random values spanning the int8 range and far beyond it.
        for (auto& v : x) v = unit(rng) * scale * 300.0f;
        check(k, x, scale, zp);
        // Exact half-integers k + 0.5 times scale, and their float neighbours.
        for (int i = 0; i < n; ++i) {
          const float half = (static_cast<float>(i % 301) - 150.0f + 0.5f) * scale;
          const int s = i % 3;
          x[i] = s == 0 ? half : std::nextafter(half, s == 1 ? 1e30f : -1e30f);
        }
        check(k, x, scale, zp);
        // Specials: zeros, subnormals, the largest finite floats, values near the int32 and
        // int16 limits of t (where the fast path's conversions saturate).
        const float specials[] = {0.0f, -0.0f, 1e-40f, -1e-40f, 1e-45f,
                                  std::numeric_limits<float>::max(),
                                  -std::numeric_limits<float>::max(), 1e20f, -1e20f,
                                  std::numeric_limits<float>::min(), 0x1p31f * scale,
                                  -0x1p31f * scale, step(-0x1p31f * scale, 1),
                                  step(-0x1p31f * scale, -1), -32768.0f * scale,
                                  -32767.5f * scale, 32767.5f * scale, 512.5f * scale,
                                  -512.5f * scale, 511.5f * scale, 255.5f * scale,
                                  -256.5f * scale, 127.5f * scale, -128.5f * scale};
        const int ns = sizeof(specials) / sizeof(specials[0]);
        for (int i = 0; i < n; ++i) x[i] = specials[(i + n) % ns];
        check(k, x, scale, zp);
        // A NaN or an Inf anywhere must be reported.
        for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
          x.assign(n, 0.25f);
          x[rng() % n] = bad;
          check(k, x, scale, zp);
        }
      }
      for (int zp : {0, -128, 127, zp_dist(rng)}) {
        check_rows(k, near_half_integers(scale), scale, zp, rng);
      }
      const std::vector<float> dis = product_disagrees(scale);
      disagreements += dis.size();
      // The disagreeing values alone, and one at a time inside otherwise easy rows.
      check_rows(k, dis, scale, zp_dist(rng), rng);
      for (size_t i = 0; i < dis.size(); i += 7) {
        std::vector<float> x(1 + rng() % 130);
        for (auto& v : x) v = std::round(unit(rng) * 100.0f) * scale;
        x[rng() % x.size()] = dis[i];
        check(k, x, scale, zp_dist(rng));
      }
    }
    for (float scale : exact_only_scales) {
      std::vector<float> x(100);
      for (auto& v : x) v = unit(rng) * scale * 300.0f;
      check(k, x, scale, zp_dist(rng));
      check_rows(k, near_half_integers(scale), scale, zp_dist(rng), rng);
    }
    // zero_point outside [-128, 127] (not int8, but the signature allows it): exact path.
    for (int zp : {-129, 128, -256, 255, -300, 400, 1000, -100000}) {
      for (float scale : {0.1f, 0.0156082f}) {
        std::vector<float> x(200);
        for (auto& v : x) v = unit(rng) * scale * 1500.0f;
        check(k, x, scale, zp);
        check_rows(k, near_half_integers(scale), scale, zp, rng);
      }
    }
    // NaN / Inf at every position of rows of every length up to 70 (first lane, last lane,
    // tails), in a row of easy values and in a row holding a near-tie (the exact path).
    for (int n = 1; n <= 70; ++n) {
      for (int p = 0; p < n; ++p) {
        for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
          std::vector<float> x(n);
          for (auto& v : x) v = unit(rng) * 30.0f;
          x[p] = bad;
          check(k, x, 0.37f, 5);
          if (n == 1) continue;
          x[(p + 1) % n] = 2.5f * 0.37f;  // fl(x / 0.37) is within 2^-13 of 2.5
          check(k, x, 0.37f, 5);
        }
      }
    }
    for (int n : {100, 128, 129, 784}) {
      for (int p = 0; p < n; ++p) {
        std::vector<float> x(n);
        for (auto& v : x) v = unit(rng) * 30.0f;
        x[p] = p % 2 ? std::nanf("") : (p % 4 ? INFINITY : -INFINITY);
        check(k, x, 0.1f, -7);
      }
    }
  }
  if (!kernels.empty() && disagreements == 0) {
    std::printf("FAIL: the brute force found no x where x * (1/scale) rounds differently\n");
    ++failures;
  }

  // Exhaustive: every float x with 0.25 <= |x / scale| <= 300.
  long swept = 0;
  if (!kernels.empty() && short_run) {
    // The smallest quotients (ties at 0.5, 1.5) and the top of the range, where the fast
    // paths' error bound is tightest, for one scale.
    const float scale = 0.0156082f;
    std::printf("test_quantize: PYEDGE_TEST_SHORT: exhaustive sweep narrowed to scale %a, "
                "0.25 <= |x / scale| <= 2 and 192 <= |x / scale| <= 300\n", scale);
    swept += exhaustive(kernels, scale, 0.25f * scale, 2.0f * scale);
    swept += exhaustive(kernels, scale, 192.0f * scale, 300.0f * scale);
  } else if (!kernels.empty()) {
    // ~0.2 s per scale optimized; an unoptimized build sweeps one scale only.
#ifdef NDEBUG
    const std::vector<float> sweep_scales = {0.1f, 1.0f / 3.0f, 0.0156082f, 0.0029491f};
#else
    const std::vector<float> sweep_scales = {0.0156082f};
#endif
    for (float scale : sweep_scales) {
      swept += exhaustive(kernels, scale, 0.25f * scale, 300.0f * scale);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("test_quantize: %d passed, %d failed; %ld brute-forced product/division "
              "disagreements checked; %ld floats swept exhaustively per kernel; %.2f s\n",
              passes, failures, disagreements, swept, seconds);
  if (!expected_kernels_are_supported("test_quantize")) ++failures;
  return failures ? 1 : 0;
}
