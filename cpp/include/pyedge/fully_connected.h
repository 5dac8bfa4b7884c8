// The int8 FullyConnected layer and the interface every kernel (kernel_registry.cc lists them:
// scalar, AVX2, AVX-VNNI, AVX-512 VNNI, AMX, NEON, dotprod, i8mm) implements.
//
// Arithmetic (docs/arithmetic.md, normative): for each row m and output channel n
//   acc = bias[n] + sum_k w[n][k] * (x[m][k] - input_zero_point)         (exact int32)
//   y   = clamp(requantize(acc, multiplier[n], shift[n]) + output_zero_point,
//               activation_min, activation_max)
// Every kernel returns the same bits as the scalar one, for every input.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace pyedge {

// What a layer is, as read from the model. Pointers are only read during construction of a
// kernel: each kernel copies the weights into its own packed layout.
struct FullyConnectedParams {
  int32_t input_depth = 0;   // K
  int32_t output_depth = 0;  // N
  const int8_t* weights = nullptr;  // [N][K] row-major, any int8 (the converter writes [-127, 127])
  const int32_t* bias = nullptr;    // [N], or nullptr for no bias
  int32_t input_zero_point = 0;     // in [-128, 127]
  int32_t output_zero_point = 0;    // in [-128, 127]
  const int32_t* multiplier = nullptr;  // [N] Q31 in [0, 2^31)
  const int32_t* shift = nullptr;       // [N] TFLite convention, in [-31, 30]
  int32_t activation_min = -128;
  int32_t activation_max = 127;
};

// A FullyConnected layer packed for one kernel. Immutable after construction, so one instance
// serves any number of threads at once.
class FullyConnected {
 public:
  virtual ~FullyConnected() = default;
  // input: [rows][K] int8, contiguous; output: [rows][N] int8, contiguous.
  virtual void run(const int8_t* input, int rows, int8_t* output) const = 0;
};

// One factory per kernel file. The SIMD ones may only be called when the CPU supports them
// (see kernel_registry.h).
std::unique_ptr<FullyConnected> make_fully_connected_scalar(const FullyConnectedParams& params);
#if defined(PYEDGE_HAVE_X86_KERNELS)
std::unique_ptr<FullyConnected> make_fully_connected_avx2(const FullyConnectedParams& params);
std::unique_ptr<FullyConnected> make_fully_connected_avx512vnni(const FullyConnectedParams& params);
#endif
#if defined(PYEDGE_HAVE_AVXVNNI_KERNEL)
// Needs CpuFeatures::avxvnni (AVX2 + the VEX-encoded 256-bit VNNI, no AVX-512).
std::unique_ptr<FullyConnected> make_fully_connected_avxvnni(const FullyConnectedParams& params);
#endif
#if defined(PYEDGE_HAVE_AMX_KERNEL)
// Needs CpuFeatures::amx, whose detection also obtains Linux's permission to use AMX tiles.
std::unique_ptr<FullyConnected> make_fully_connected_amx(const FullyConnectedParams& params);
#endif
#if defined(PYEDGE_HAVE_NEON_KERNEL)
// Needs CpuFeatures::neon (always true on aarch64; HWCAP_NEON on 32-bit ARM).
std::unique_ptr<FullyConnected> make_fully_connected_neon(const FullyConnectedParams& params);
#endif
#if defined(PYEDGE_HAVE_NEONDOT_KERNEL)
// Needs CpuFeatures::dotprod (aarch64 armv8.2 sdot, HWCAP_ASIMDDP).
std::unique_ptr<FullyConnected> make_fully_connected_neondot(const FullyConnectedParams& params);
#endif
#if defined(PYEDGE_HAVE_I8MM_KERNEL)
// Needs CpuFeatures::i8mm (aarch64 smmla, HWCAP2_I8MM).
std::unique_ptr<FullyConnected> make_fully_connected_i8mm(const FullyConnectedParams& params);
#endif

}  // namespace pyedge
