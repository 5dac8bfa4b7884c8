// The kernel table: a name per kernel file, chosen once per model from the CPU's features.
#include "pyedge/kernel_registry.h"

#include <stdexcept>

#include "pyedge/cpu_features.h"

namespace pyedge {

std::vector<KernelInfo> list_kernels() {
  const CpuFeatures cpu = detect_cpu_features();
  std::vector<KernelInfo> kernels;
  auto add = [&](const char* name, FullyConnectedFactory make, bool cpu_has_it) {
    kernels.push_back({name, make != nullptr, make != nullptr && cpu_has_it, make});
  };
#if defined(PYEDGE_HAVE_X86_KERNELS)
  add("avx512vnni", make_fully_connected_avx512vnni, cpu.avx512vnni);
  add("avx2", make_fully_connected_avx2, cpu.avx2);
#else
  add("avx512vnni", nullptr, false);
  add("avx2", nullptr, false);
#endif
#if defined(PYEDGE_HAVE_ARM_KERNELS)
  add("neondot", make_fully_connected_neondot, cpu.dotprod);
  add("neon", make_fully_connected_neon, cpu.neon);
#else
  add("neondot", nullptr, false);
  add("neon", nullptr, false);
#endif
  add("scalar", make_fully_connected_scalar, true);
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
