// The op tables and the families that cap them (kernel_registry.h).
#include "pyedge/kernel_registry.h"

#include <initializer_list>
#include <stdexcept>

namespace pyedge {
namespace {

// An entry point, or null when this build left its file out (CMakeLists.txt decides).
#if defined(PYEDGE_HAVE_AMX_KERNEL)
constexpr FullyConnectedFactory kFcAmx = make_fully_connected_amx;
#else
constexpr FullyConnectedFactory kFcAmx = nullptr;
#endif
#if defined(PYEDGE_HAVE_X86_KERNELS)
constexpr FullyConnectedFactory kFcAvx512vnni = make_fully_connected_avx512vnni;
constexpr FullyConnectedFactory kFcAvx2 = make_fully_connected_avx2;
constexpr QuantizeFn kQuantizeAvx512 = quantize_f32_s8_avx512;
constexpr QuantizeFn kQuantizeAvx2 = quantize_f32_s8_avx2;
constexpr SoftmaxFn kSoftmaxAvx512 = softmax_s8_avx512;
#else
constexpr FullyConnectedFactory kFcAvx512vnni = nullptr;
constexpr FullyConnectedFactory kFcAvx2 = nullptr;
constexpr QuantizeFn kQuantizeAvx512 = nullptr;
constexpr QuantizeFn kQuantizeAvx2 = nullptr;
constexpr SoftmaxFn kSoftmaxAvx512 = nullptr;
#endif
#if defined(PYEDGE_HAVE_AVXVNNI_KERNEL)
constexpr FullyConnectedFactory kFcAvxvnni = make_fully_connected_avxvnni;
#else
constexpr FullyConnectedFactory kFcAvxvnni = nullptr;
#endif
#if defined(PYEDGE_HAVE_I8MM_KERNEL)
constexpr FullyConnectedFactory kFcI8mm = make_fully_connected_i8mm;
#else
constexpr FullyConnectedFactory kFcI8mm = nullptr;
#endif
#if defined(PYEDGE_HAVE_NEONDOT_KERNEL)
constexpr FullyConnectedFactory kFcNeondot = make_fully_connected_neondot;
#else
constexpr FullyConnectedFactory kFcNeondot = nullptr;
#endif
#if defined(PYEDGE_HAVE_NEON_KERNEL)
constexpr FullyConnectedFactory kFcNeon = make_fully_connected_neon;
constexpr QuantizeFn kQuantizeNeon = quantize_f32_s8_neon;
#else
constexpr FullyConnectedFactory kFcNeon = nullptr;
constexpr QuantizeFn kQuantizeNeon = nullptr;
#endif

// A family: its name, the feature it is named after, and the features its ops may use
// (an ISA line: each x86 family includes AVX2, each ARM one NEON).
struct Family {
  const char* name;
  bool CpuFeatures::*needs;
  CpuFeatures allows;
};

CpuFeatures features(std::initializer_list<bool CpuFeatures::*> on) {
  CpuFeatures f;
  for (bool CpuFeatures::*feature : on) f.*feature = true;
  return f;
}

const std::vector<Family>& families() {
  using F = CpuFeatures;
  static const std::vector<Family> all = {
      {"amx", &F::amx, features({&F::amx, &F::avx512vnni, &F::avxvnni, &F::avx2})},
      {"avx512vnni", &F::avx512vnni, features({&F::avx512vnni, &F::avx2})},
      {"avxvnni", &F::avxvnni, features({&F::avxvnni, &F::avx2})},
      {"avx2", &F::avx2, features({&F::avx2})},
      {"i8mm", &F::i8mm, features({&F::i8mm, &F::dotprod, &F::neon})},
      {"neondot", &F::dotprod, features({&F::dotprod, &F::neon})},
      {"neon", &F::neon, features({&F::neon})},
      {"scalar", nullptr, features({})},
  };
  return all;
}

bool has(const CpuFeatures& f, bool CpuFeatures::*feature) {
  return feature == nullptr || f.*feature;
}

CpuFeatures both(const CpuFeatures& a, const CpuFeatures& b) {
  CpuFeatures f;
  for (bool CpuFeatures::*feature : {&CpuFeatures::avx2, &CpuFeatures::avxvnni,
                                     &CpuFeatures::avx512vnni, &CpuFeatures::amx,
                                     &CpuFeatures::neon, &CpuFeatures::dotprod,
                                     &CpuFeatures::i8mm})
    f.*feature = a.*feature && b.*feature;
  return f;
}

// The op's best implementation that is compiled and uses only `allowed` features. Softmax's
// portable entry is null by design, so the last entry is taken without looking at it.
template <typename Fn>
Implementation<Fn> best(const std::vector<Implementation<Fn>>& table, const CpuFeatures& allowed) {
  for (size_t i = 0; i + 1 < table.size(); ++i)
    if (table[i].fn != nullptr && has(allowed, table[i].needs)) return table[i];
  return table.back();
}

}  // namespace

const std::vector<Implementation<FullyConnectedFactory>>& fully_connected_implementations() {
  using F = CpuFeatures;
  static const std::vector<Implementation<FullyConnectedFactory>> table = {
      {"amx", &F::amx, kFcAmx},         {"avx512vnni", &F::avx512vnni, kFcAvx512vnni},
      {"avxvnni", &F::avxvnni, kFcAvxvnni}, {"avx2", &F::avx2, kFcAvx2},
      {"i8mm", &F::i8mm, kFcI8mm},      {"neondot", &F::dotprod, kFcNeondot},
      {"neon", &F::neon, kFcNeon},      {"scalar", nullptr, make_fully_connected_scalar},
  };
  return table;
}

const std::vector<Implementation<QuantizeFn>>& quantize_implementations() {
  using F = CpuFeatures;
  // avx512: F/BW/DQ/VL, which avx512vnni implies (cpu_features.cc).
  static const std::vector<Implementation<QuantizeFn>> table = {
      {"avx512", &F::avx512vnni, kQuantizeAvx512}, {"avx2", &F::avx2, kQuantizeAvx2},
      {"neon", &F::neon, kQuantizeNeon},           {"scalar", nullptr, quantize_f32_s8_scalar},
  };
  return table;
}

const std::vector<Implementation<SoftmaxFn>>& softmax_implementations() {
  static const std::vector<Implementation<SoftmaxFn>> table = {
      {"avx512", &CpuFeatures::avx512vnni, kSoftmaxAvx512}, {"scalar", nullptr, nullptr},
  };
  return table;
}

std::vector<KernelInfo> list_kernels() {
  const CpuFeatures cpu = detect_cpu_features();
  std::vector<KernelInfo> kernels;
  for (const Family& family : families()) {
    KernelInfo k;
    k.name = family.name;
    const CpuFeatures allowed = both(cpu, family.allows);
    k.fully_connected = best(fully_connected_implementations(), allowed);
    k.quantize = best(quantize_implementations(), allowed);
    k.softmax = best(softmax_implementations(), allowed);
    // The family exists in this build when its own FULLY_CONNECTED does.
    for (const auto& impl : fully_connected_implementations())
      if (k.name == impl.name) k.compiled = impl.fn != nullptr;
    k.supported = k.compiled && has(cpu, family.needs);
    kernels.push_back(k);
  }
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
