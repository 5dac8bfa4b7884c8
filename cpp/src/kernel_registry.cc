// The kernel table: a name per kernel file, chosen once per model from the CPU's features.
#include "pyedge/kernel_registry.h"

#include <stdexcept>

#include "pyedge/cpu_features.h"

namespace pyedge {

std::vector<KernelInfo> list_kernels() {
  const CpuFeatures cpu = detect_cpu_features();
  std::vector<KernelInfo> kernels;
  auto add = [&](const char* name, bool cpu_has_it, FullyConnectedFactory make,
                 QuantizeFn quantize, SoftmaxFn softmax) {
    kernels.push_back({name, make != nullptr, make != nullptr && cpu_has_it, make, quantize,
                       softmax});
  };
#if defined(PYEDGE_HAVE_AMX_KERNEL)
  add("amx", cpu.amx, make_fully_connected_amx, quantize_f32_s8_avx512, softmax_s8_avx512);
#else
  add("amx", false, nullptr, nullptr, nullptr);
#endif
#if defined(PYEDGE_HAVE_X86_KERNELS)
  add("avx512vnni", cpu.avx512vnni, make_fully_connected_avx512vnni, quantize_f32_s8_avx512,
      softmax_s8_avx512);
#else
  add("avx512vnni", false, nullptr, nullptr, nullptr);
#endif
#if defined(PYEDGE_HAVE_AVXVNNI_KERNEL)
  add("avxvnni", cpu.avxvnni, make_fully_connected_avxvnni, quantize_f32_s8_avx2, nullptr);
#else
  add("avxvnni", false, nullptr, nullptr, nullptr);
#endif
#if defined(PYEDGE_HAVE_X86_KERNELS)
  add("avx2", cpu.avx2, make_fully_connected_avx2, quantize_f32_s8_avx2, nullptr);
#else
  add("avx2", false, nullptr, nullptr, nullptr);
#endif
#if defined(PYEDGE_HAVE_I8MM_KERNEL)
  add("i8mm", cpu.i8mm, make_fully_connected_i8mm, quantize_f32_s8_neon, nullptr);
#else
  add("i8mm", false, nullptr, nullptr, nullptr);
#endif
#if defined(PYEDGE_HAVE_NEONDOT_KERNEL)
  add("neondot", cpu.dotprod, make_fully_connected_neondot, quantize_f32_s8_neon, nullptr);
#else
  add("neondot", false, nullptr, nullptr, nullptr);
#endif
#if defined(PYEDGE_HAVE_NEON_KERNEL)
  add("neon", cpu.neon, make_fully_connected_neon, quantize_f32_s8_neon, nullptr);
#else
  add("neon", false, nullptr, nullptr, nullptr);
#endif
  add("scalar", true, make_fully_connected_scalar, quantize_f32_s8_scalar, nullptr);
  return kernels;
}

KernelInfo select_kernel(const std::string& forced) {
  const std::vector<KernelInfo> kernels = list_kernels();
  std::string names;
  for (const KernelInfo& k : kernels) {
    if (forced.empty() ? k.supported : k.name == forced) {
      if (k.supported) return k;
      throw std::invalid_argument("kernel '" + forced + "' is " +
                                  (k.compiled ? "not supported by this CPU"
                                              : "not compiled into this build"));
    }
    if (k.supported) names += (names.empty() ? "" : ", ") + k.name;
  }
  throw std::invalid_argument("unknown kernel '" + forced + "'; this machine runs: " + names);
}

}  // namespace pyedge
