// Every FullyConnected kernel this CPU supports (pyedge::list_kernels()) against the scalar
// reference, byte for byte, over random and extreme shapes, parameters and data.
// Plain C++: prints the first mismatch of each failing case, exits non-zero on any failure.
// Usage: test_fully_connected [seed]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define PYEDGE_TEST_GUARD_PAGES 1
#endif

#include "pyedge/fully_connected.h"
#include "expected_kernels.h"
#include "pyedge/kernel_registry.h"

namespace {

// Bytes that end exactly where an inaccessible page begins, so a kernel that reads (or writes)
// even one byte past the end of its input (or output) crashes the test instead of passing.
class GuardedBytes {
 public:
  explicit GuardedBytes(size_t size) : size_(size) {
#ifdef PYEDGE_TEST_GUARD_PAGES
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    mapped_ = (size + page - 1) / page * page + page;
    void* base = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
      std::perror("mmap");
      std::exit(2);
    }
    base_ = static_cast<int8_t*>(base);
    mprotect(base_ + mapped_ - page, page, PROT_NONE);
    data_ = base_ + mapped_ - page - size;
#else
    fallback_.resize(size + 1);
    data_ = fallback_.data();
#endif
  }
  ~GuardedBytes() {
#ifdef PYEDGE_TEST_GUARD_PAGES
    munmap(base_, mapped_);
#endif
  }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;
  int8_t* data() { return data_; }
  size_t size() const { return size_; }

 private:
  size_t size_;
  int8_t* data_ = nullptr;
#ifdef PYEDGE_TEST_GUARD_PAGES
  int8_t* base_ = nullptr;
  size_t mapped_ = 0;
#else
  std::vector<int8_t> fallback_;
#endif
};

// How the data of one case is drawn; the extreme ones pin inputs/weights to their bounds.
enum class Data {
  kRandom,
  kInputsMin,        // all inputs -128
  kInputsMax,        // all inputs 127
  kWeightsMax,       // all weights +127
  kWeightsMin,       // all weights -127
  kAlternating,      // inputs -128,127,... and weights 127,-127,...: largest |products|
  kAllExtreme,       // inputs in {-128, 127}, weights in {-127, 127}, random signs
};
const char* data_name(Data d) {
  switch (d) {
    case Data::kRandom: return "random";
    case Data::kInputsMin: return "inputs=-128";
    case Data::kInputsMax: return "inputs=127";
    case Data::kWeightsMax: return "weights=127";
    case Data::kWeightsMin: return "weights=-127";
    case Data::kAlternating: return "alternating";
    case Data::kAllExtreme: return "random-extremes";
  }
  return "?";
}

struct Case {
  int k = 1, n = 1, rows = 1;
  int32_t input_zero_point = 0, output_zero_point = 0;
  int32_t activation_min = -128, activation_max = 127;
  bool has_bias = true;
  Data data = Data::kRandom;
  std::string shift_mode;
  std::vector<int8_t> weights;
  std::vector<int32_t> bias, multiplier, shift;
  std::vector<int8_t> input;
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  int8_t any_int8() { return static_cast<int8_t>(uniform(-128, 127)); }

  // Fills everything but the shape and the data pattern, which the caller chose.
  void fill(Case& c) {
    c.input_zero_point = pick_zero_point();
    c.output_zero_point = pick_zero_point();
    switch (uniform(0, 3)) {
      case 0: c.activation_min = -128; c.activation_max = 127; break;        // none
      case 1: c.activation_min = c.output_zero_point; c.activation_max = 127; break;  // relu
      case 2: {  // narrow, e.g. relu6-like, around the zero point
        c.activation_min = std::max(-128, c.output_zero_point - uniform(0, 20));
        c.activation_max = std::min(127, c.output_zero_point + uniform(0, 40));
        break;
      }
      default: {
        c.activation_min = uniform(-128, 127);
        c.activation_max = uniform(c.activation_min, 127);
      }
    }
    c.has_bias = !chance(0.2);

    const size_t kn = static_cast<size_t>(c.k) * c.n;
    c.weights.resize(kn);
    for (size_t i = 0; i < kn; ++i) {
      switch (c.data) {
        case Data::kWeightsMax: c.weights[i] = 127; break;
        case Data::kWeightsMin: c.weights[i] = -127; break;
        case Data::kAlternating: c.weights[i] = (i % c.k) % 2 ? -127 : 127; break;
        case Data::kAllExtreme: c.weights[i] = chance(0.5) ? 127 : -127; break;
        default: c.weights[i] = static_cast<int8_t>(uniform(-127, 127));
      }
    }
    c.bias.resize(c.n);
    for (int32_t& b : c.bias) b = chance(0.05) ? uniform(-(1 << 28), 1 << 28) : uniform(-100000, 100000);

    // Q31 in [2^30, 2^31), rarely 0. Multipliers with many low zero bits make products that
    // sit exactly halfway between two results, where the rounding rule alone decides.
    const int32_t round_multipliers[] = {1 << 30, 3 << 29, 5 << 28, 7 << 28, 0x7fffffff};
    const bool ties = chance(0.2);
    c.multiplier.resize(c.n);
    for (int32_t& m : c.multiplier) {
      m = chance(0.01) ? 0
          : ties       ? round_multipliers[uniform(0, 4)]
                       : uniform(1 << 30, 0x7fffffff);
    }
    c.shift.resize(c.n);
    const int mode = uniform(0, 11);
    if (mode == 10) {  // small shifts: with the round multipliers, many exact ties
      c.shift_mode = "per-channel[-3,0]";
      for (int32_t& s : c.shift) s = uniform(-3, 0);
    } else if (mode == 11) {  // one shift from the whole negative range, down to -31
      c.shift_mode = "per-tensor[-31,-1]";
      const int s = uniform(-31, -1);
      for (int32_t& v : c.shift) v = s;
    } else if (mode < 4) {  // per channel, the full negative range and 0
      c.shift_mode = "per-channel[-31,0]";
      for (int32_t& s : c.shift) s = uniform(-31, 0);
    } else if (mode < 6) {  // per channel, with a few positive shifts
      c.shift_mode = "per-channel[-31,4]";
      for (int32_t& s : c.shift) s = chance(0.1) ? uniform(1, 4) : uniform(-31, 0);
    } else if (mode < 9) {  // per tensor: one shift, the usual case of a trained model
      c.shift_mode = "per-tensor";
      const int s = uniform(-24, -1);
      for (int32_t& v : c.shift) v = s;
    } else {  // per channel, the shifts real layers have
      c.shift_mode = "per-channel[-14,-4]";
      for (int32_t& s : c.shift) s = uniform(-14, -4);
    }

    c.input.resize(static_cast<size_t>(c.rows) * c.k);
    for (size_t i = 0; i < c.input.size(); ++i) {
      switch (c.data) {
        case Data::kInputsMin: c.input[i] = -128; break;
        case Data::kInputsMax: c.input[i] = 127; break;
        case Data::kAlternating: c.input[i] = (i % c.k) % 2 ? 127 : -128; break;
        case Data::kAllExtreme: c.input[i] = chance(0.5) ? 127 : -128; break;
        default: c.input[i] = any_int8();
      }
    }
  }

 private:
  int32_t pick_zero_point() {
    switch (uniform(0, 5)) {
      case 0: return -128;
      case 1: return 127;
      case 2: return 0;
      default: return uniform(-128, 127);
    }
  }
  std::mt19937_64 rng_;
};

pyedge::FullyConnectedParams params_of(const Case& c) {
  pyedge::FullyConnectedParams p;
  p.input_depth = c.k;
  p.output_depth = c.n;
  p.weights = c.weights.data();
  p.bias = c.has_bias ? c.bias.data() : nullptr;
  p.input_zero_point = c.input_zero_point;
  p.output_zero_point = c.output_zero_point;
  p.multiplier = c.multiplier.data();
  p.shift = c.shift.data();
  p.activation_min = c.activation_min;
  p.activation_max = c.activation_max;
  return p;
}

struct Tally {
  int passed = 0, failed = 0;
};

// Runs one case through one kernel; prints the first differing output on a mismatch.
bool check(const pyedge::KernelInfo& kernel, const Case& c, const std::vector<int8_t>& expected) {
  const pyedge::FullyConnectedParams params = params_of(c);
  const std::unique_ptr<pyedge::FullyConnected> fc = kernel.fully_connected.fn(params);
  GuardedBytes input(c.input.size()), output(expected.size());
  if (!c.input.empty()) std::memcpy(input.data(), c.input.data(), c.input.size());
  std::memset(output.data(), 0x5a, output.size());
  fc->run(input.data(), c.rows, output.data());
  for (size_t i = 0; i < expected.size(); ++i) {
    if (output.data()[i] != expected[i]) {
      const int row = static_cast<int>(i / c.n), channel = static_cast<int>(i % c.n);
      std::printf(
          "FAIL kernel=%s K=%d N=%d rows=%d input_zp=%d output_zp=%d act=[%d,%d] bias=%s "
          "data=%s shifts=%s: first difference at row %d channel %d: expected %d, got %d "
          "(multiplier %d, shift %d)\n",
          kernel.name.c_str(), c.k, c.n, c.rows, c.input_zero_point, c.output_zero_point,
          c.activation_min, c.activation_max, c.has_bias ? "yes" : "nullptr", data_name(c.data),
          c.shift_mode.c_str(), row, channel, expected[i], output.data()[i], c.multiplier[channel],
          c.shift[channel]);
      return false;
    }
  }
  return true;
}

void run_case(const std::vector<pyedge::KernelInfo>& kernels, const Case& c, Tally& tally) {
  const std::unique_ptr<pyedge::FullyConnected> reference =
      pyedge::make_fully_connected_scalar(params_of(c));
  std::vector<int8_t> expected(static_cast<size_t>(c.rows) * c.n);
  reference->run(c.input.data(), c.rows, expected.data());
  for (const pyedge::KernelInfo& kernel : kernels) {
    if (check(kernel, c, expected)) {
      ++tally.passed;
    } else {
      ++tally.failed;
    }
  }
}

// One kernel instance shared by several threads at once must give every thread the same
// bytes as a lone call: run() is const and keeps no state.
bool check_concurrent_runs(const pyedge::KernelInfo& kernel, Generator& gen) {
  Case c;
  c.k = 300;
  c.n = 77;
  c.rows = 50;
  gen.fill(c);
  const std::unique_ptr<pyedge::FullyConnected> fc = kernel.fully_connected.fn(params_of(c));
  std::vector<int8_t> expected(static_cast<size_t>(c.rows) * c.n);
  fc->run(c.input.data(), c.rows, expected.data());
  constexpr int kThreads = 4;
  std::vector<std::vector<int8_t>> outputs(kThreads, std::vector<int8_t>(expected.size()));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 50; ++repeat) fc->run(c.input.data(), c.rows, outputs[t].data());
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    if (outputs[t] != expected) {
      std::printf("FAIL kernel=%s: concurrent run() in thread %d differs from a lone run()\n",
                  kernel.name.c_str(), t);
      return false;
    }
  }
  return true;
}

// Requantization at the ends of its domain, through each kernel and the scalar one, against
// the formula written out here: accumulators INT32_MIN and INT32_MAX and the 255 values next
// to them, multipliers from 0 to 2^31 - 1, every shift in [-31, 30], output zero points at
// both ends. (The ARM kernels round with 64-bit NEON, vmull_s32 + vrshlq_s64; vqrdmulh's double
// rounding and saturation would differ here. The x86 ones have a 32-bit fast path that must
// know its limits.) K = 1 with weights +-1 and the 256 int8 inputs as rows: acc = bias +
// w * (x - input_zero_point) runs through 256 consecutive values ending at the chosen bias.
int32_t wrap32(int64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v))); }

int8_t requantize_formula(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_zero_point,
                          int32_t act_min, int32_t act_max) {
  const int s = 31 - shift;
  const int32_t scaled = wrap32((int64_t{acc} * multiplier + (int64_t{1} << (s - 1))) >> s);
  return static_cast<int8_t>(std::min(std::max(wrap32(int64_t{scaled} + output_zero_point), act_min), act_max));
}

void run_requantization_extremes(const std::vector<pyedge::KernelInfo>& kernels, Generator& gen,
                                 Tally& tally) {
  constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  const int32_t multipliers[] = {0, 1, 2, 3, 1 << 30, (1 << 30) + 1, 0x5a5a5a5b, 0x7ffffffe, 0x7fffffff};
  for (int shift = -31; shift <= 30; ++shift) {
    for (const int zp_out : {-128, 127, 0}) {
      Case c;
      c.k = 1;
      c.rows = 256;
      c.input_zero_point = shift % 2 ? -128 : 127;
      c.output_zero_point = zp_out;
      c.data = Data::kAllExtreme;
      c.shift_mode = "requantization-extremes";
      const int up = c.input_zero_point == -128 ? 1 : -1;  // w * (x - zp) in [0, 255]
      for (const int32_t m : multipliers) {
        // (bias, weight): acc in [INT32_MAX - 255, INT32_MAX], [INT32_MIN, INT32_MIN + 255],
        // [-128, 127], and 255 values from a random int32 upwards.
        const int32_t random_bias = gen.uniform(kMin + 255, kMax - 255);
        const std::pair<int32_t, int> kinds[] = {
            {kMax - 255, up}, {kMin + 255, -up}, {-128, up}, {random_bias, up}};
        for (const auto& kind : kinds) {
          c.bias.push_back(kind.first);
          c.weights.push_back(static_cast<int8_t>(kind.second));
          c.multiplier.push_back(m);
          c.shift.push_back(shift);
        }
      }
      c.n = static_cast<int>(c.bias.size());
      for (int x = -128; x <= 127; ++x) c.input.push_back(static_cast<int8_t>(x));
      std::vector<int8_t> expected(static_cast<size_t>(c.rows) * c.n);
      for (int r = 0; r < c.rows; ++r) {
        for (int n = 0; n < c.n; ++n) {
          const int32_t acc = c.bias[n] + c.weights[n] * (c.input[r] - c.input_zero_point);
          expected[static_cast<size_t>(r) * c.n + n] = requantize_formula(
              acc, c.multiplier[n], c.shift[n], c.output_zero_point, c.activation_min, c.activation_max);
        }
      }
      for (const pyedge::KernelInfo& kernel : kernels) {
        if (check(kernel, c, expected)) {
          ++tally.passed;
        } else {
          ++tally.failed;
        }
      }
    }
  }
}

// Forcing a kernel this CPU or build cannot run must be refused with a reason (on a Cortex-A72
// that is the dotprod kernel: running it would be SIGILL), and forcing a runnable one must
// select it.
void check_forcing(Tally& tally) {
  for (const pyedge::KernelInfo& k : pyedge::list_kernels()) {
    std::string outcome;
    try {
      const pyedge::KernelInfo chosen = pyedge::select_kernel(k.name);
      outcome = chosen.name == k.name && k.supported ? "" : "selected although " +
                std::string(k.compiled ? "not supported by this CPU" : "not compiled");
    } catch (const std::invalid_argument& error) {
      const char* reason = k.compiled ? "not supported by this CPU" : "not compiled into this build";
      outcome = !k.supported && std::string(error.what()).find(reason) != std::string::npos
                    ? ""
                    : std::string("refused: ") + error.what();
    }
    if (outcome.empty()) {
      ++tally.passed;
    } else {
      std::printf("FAIL forcing kernel %s (compiled %d, supported %d): %s\n", k.name.c_str(),
                  k.compiled, k.supported, outcome.c_str());
      ++tally.failed;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20240601;
  Generator gen(seed);

  std::vector<pyedge::KernelInfo> kernels;
  std::string names;
  for (const pyedge::KernelInfo& k : pyedge::list_kernels()) {
    if (!k.supported || k.name == "scalar") continue;
    kernels.push_back(k);
    names += " " + k.name;
  }
  std::printf("test_fully_connected: seed %llu, kernels under test:%s\n",
              static_cast<unsigned long long>(seed), names.empty() ? " (none but scalar)" : names.c_str());
  // Every kernel this build knows, for logs and tools/cross/test-cpp-arm.sh's summary.
  std::string status;
  for (const pyedge::KernelInfo& k : pyedge::list_kernels())
    status += " " + k.name + "=" + (k.supported ? "supported" : k.compiled ? "unsupported" : "not-compiled");
  std::printf("test_fully_connected: kernels:%s\n", status.c_str());

  Tally tally;
  auto run = [&](int k, int n, int rows, Data data) {
    Case c;
    c.k = k;
    c.n = n;
    c.rows = rows;
    c.data = data;
    gen.fill(c);
    run_case(kernels, c, tally);
  };
  const Data all_data[] = {Data::kRandom,     Data::kInputsMin,   Data::kInputsMax,
                           Data::kWeightsMax, Data::kWeightsMin,  Data::kAlternating,
                           Data::kAllExtreme};

  // Random shapes, mostly not multiples of any vector width; random data patterns.
  for (int i = 0; i < 400; ++i) {
    const Data data = gen.chance(0.5) ? Data::kRandom : all_data[gen.uniform(0, 6)];
    run(gen.uniform(1, 300), gen.uniform(1, 300), gen.uniform(1, 70), data);
  }
  // Every small K and N, where all the tails meet.
  for (int k = 1; k <= 20; ++k)
    for (int n = 1; n <= 20; n += 3) run(k, n, gen.uniform(1, 20), Data::kRandom);
  // Every row count up to 70 (row tails of every tile height), a few channel counts.
  for (int rows = 1; rows <= 70; ++rows) run(gen.uniform(1, 70), 1 + (rows * 37) % 130, rows, Data::kRandom);
  // Each extreme pattern on shapes with tails in every dimension.
  for (const Data data : all_data) {
    run(301, 67, 13, data);
    run(3, 17, 49, data);
    run(64, 64, 48, data);
  }
  // The zero point extremes with extreme data.
  for (const int zp : {-128, 127}) {
    for (const Data data : all_data) {
      Case c;
      c.k = 259;
      c.n = 45;
      c.rows = 7;
      c.data = data;
      gen.fill(c);
      c.input_zero_point = zp;
      run_case(kernels, c, tally);
    }
  }
  // Large shifts with extreme output zero points: kernels that fold the zero point into the
  // rounding term must notice when that no longer fits 32 bits.
  for (const int shift : {-31, -30, -26, -25, -24, -23, -2, -1}) {
    for (const int zp : {-128, 127, -3, 2}) {
      Case c;
      c.k = 37;
      c.n = 40;
      c.rows = 5;
      c.data = Data::kAllExtreme;
      gen.fill(c);
      c.output_zero_point = zp;
      c.activation_min = -128;
      c.activation_max = 127;
      for (int32_t& s : c.shift) s = shift;
      run_case(kernels, c, tally);
    }
  }
  // Big layers, including sizes that are and are not powers of two.
  const int big[][3] = {{1000, 1000, 3},  {1024, 1024, 2},  {2048, 300, 5}, {300, 2048, 5},
                        {2047, 129, 70},  {1023, 1000, 9},  {784, 256, 37}, {2048, 2048, 1},
                        {1000, 17, 66},   {4, 1024, 70}};
  for (const auto& s : big) run(s[0], s[1], s[2], Data::kRandom);
  run(2048, 64, 11, Data::kAlternating);
  run(2048, 64, 11, Data::kAllExtreme);
  // The layers of the benchmark MLPs, batch 1 and batched.
  const int mlp[][2] = {{100, 64}, {64, 32}, {32, 10}, {784, 256}, {256, 128}, {128, 10}};
  for (const auto& s : mlp)
    for (const int rows : {1, 2, 7, 1024}) run(s[0], s[1], rows, Data::kRandom);

  for (const pyedge::KernelInfo& kernel : kernels) {
    if (check_concurrent_runs(kernel, gen)) {
      ++tally.passed;
    } else {
      ++tally.failed;
    }
  }

  // Weights of -128, outside TFLite's [-127, 127] but representable: still exact (the NEON
  // kernel's int16 pair sums would overflow at (-128)*(-128)*2, so it must notice them).
  for (const Data data : {Data::kInputsMin, Data::kAllExtreme, Data::kRandom}) {
    Case c;
    c.k = 67;
    c.n = 21;
    c.rows = 9;
    c.data = data;
    gen.fill(c);
    for (size_t i = 0; i < c.weights.size(); ++i)
      if (i % 3 != 1) c.weights[i] = -128;
    run_case(kernels, c, tally);
  }

  std::vector<pyedge::KernelInfo> with_scalar = kernels;
  for (const pyedge::KernelInfo& k : pyedge::list_kernels())
    if (k.name == "scalar") with_scalar.push_back(k);
  run_requantization_extremes(with_scalar, gen, tally);
  check_forcing(tally);

  std::printf("test_fully_connected: %d passed, %d failed\n", tally.passed, tally.failed);
  const bool kernels_as_expected = expected_kernels_are_supported("test_fully_connected");
  return tally.failed == 0 && kernels_as_expected ? 0 : 1;
}
