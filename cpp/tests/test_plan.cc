// The plan executor and its thread pool: a random 3-layer plan with softmax, run with 1 and 3
// threads, from several threads at once, with batch sizes that split into uneven tasks, must
// give the same bytes every time; a NaN row must be reported as the first bad row.
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "pyedge/plan.h"

namespace {

struct Weights {
  std::vector<int8_t> w;
  std::vector<int32_t> bias, multiplier, shift;
};

std::unique_ptr<pyedge::Plan> make_plan(const std::vector<Weights>& layers,
                                        const std::vector<int>& depths, int threads,
                                        const pyedge::KernelInfo& kernel) {
  std::vector<std::unique_ptr<pyedge::Layer>> plan_layers;
  for (size_t i = 0; i < layers.size(); ++i) {
    pyedge::FullyConnectedParams p;
    p.input_depth = depths[i];
    p.output_depth = depths[i + 1];
    p.weights = layers[i].w.data();
    p.bias = layers[i].bias.data();
    p.multiplier = layers[i].multiplier.data();
    p.shift = layers[i].shift.data();
    p.input_zero_point = 3;
    p.output_zero_point = -5;
    plan_layers.push_back(pyedge::make_fully_connected_layer(p, kernel.fully_connected.fn));
  }
  // A softmax table shaped like a real one: exp(-d / 8) in Q0.31, cut off below diff_min.
  std::vector<int32_t> table(256);
  for (int d = 0; d < 256; ++d) table[d] = d > 200 ? 0 : static_cast<int32_t>(2147483647.0 * std::exp(-d / 8.0));
  plan_layers.push_back(pyedge::make_softmax_layer(table.data(), pyedge::SoftmaxS8Params{-200},
                                                   depths.back(), kernel.softmax.fn));
  return std::make_unique<pyedge::Plan>(depths[0], pyedge::Quantization{0.05f, 2},
                                        pyedge::Quantization{1.0f / 256, -128},
                                        std::move(plan_layers), kernel.quantize.fn, threads);
}

}  // namespace

int main() {
  std::mt19937 rng(7);
  const std::vector<int> depths = {100, 64, 33, 10};
  std::vector<Weights> layers(depths.size() - 1);
  for (size_t i = 0; i < layers.size(); ++i) {
    const int k = depths[i], n = depths[i + 1];
    std::uniform_int_distribution<int> w(-127, 127), b(-2000, 2000);
    for (int j = 0; j < k * n; ++j) layers[i].w.push_back(static_cast<int8_t>(w(rng)));
    for (int j = 0; j < n; ++j) {
      layers[i].bias.push_back(b(rng));
      layers[i].multiplier.push_back(1 << 30 | static_cast<int32_t>(rng() >> 2));
      layers[i].shift.push_back(-8 - static_cast<int>(rng() % 3));
    }
  }
  const int max_rows = 3001;
  std::vector<float> x(static_cast<size_t>(max_rows) * depths[0]);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (float& v : x) v = normal(rng);

  int passed = 0, failed = 0;
  for (const auto& kernel : pyedge::list_kernels()) {
    if (!kernel.supported) continue;
    auto serial = make_plan(layers, depths, 1, kernel);
    auto parallel = make_plan(layers, depths, 3, kernel);
    std::vector<float> expected(static_cast<size_t>(max_rows) * depths.back());
    serial->run(x.data(), max_rows, expected.data());
    // Several callers share the 3-thread plan, each with its own batch sizes.
    std::vector<int> errors(4, 0);
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c) {
      callers.emplace_back([&, c] {
        std::vector<float> y(expected.size());
        for (int rows : {1, 17, 1000 + c, 3001, 64 * (c + 1) + 5}) {
          for (int repeat = 0; repeat < 5; ++repeat) {
            parallel->run(x.data(), rows, y.data());
            for (size_t i = 0; i < static_cast<size_t>(rows) * depths.back(); ++i)
              errors[c] += y[i] != expected[i];
          }
        }
      });
    }
    for (auto& t : callers) t.join();
    for (int c = 0; c < 4; ++c) {
      if (errors[c]) {
        std::printf("FAIL %s: caller %d saw %d values differ from the serial run\n",
                    kernel.name.c_str(), c, errors[c]);
        ++failed;
      } else {
        ++passed;
      }
    }
    // The first row with a NaN is reported, whichever task holds it.
    std::vector<float> bad(x.begin(), x.end()), y(expected.size());
    bad[static_cast<size_t>(2500) * depths[0] + 7] = NAN;
    bad[static_cast<size_t>(1999) * depths[0]] = INFINITY;
    const int64_t row = parallel->run(bad.data(), max_rows, y.data());
    if (row == 1999) {
      ++passed;
    } else {
      std::printf("FAIL %s: first non-finite row reported as %lld, expected 1999\n",
                  kernel.name.c_str(), static_cast<long long>(row));
      ++failed;
    }
  }
  std::printf("test_plan: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
