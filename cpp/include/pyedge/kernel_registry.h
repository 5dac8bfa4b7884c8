// Which implementation of each op a model runs, chosen once per model from the CPU's features
// (as XNNPACK's per-op config does). Each op has its own table of implementations, best first;
// a kernel *family* (what PYEDGE_KERNEL names: "amx", ..., "neon", "scalar") caps the
// instructions every op may use, and each op then takes its best implementation under that cap.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "pyedge/cpu_features.h"
#include "pyedge/fully_connected.h"
#include "pyedge/quantize.h"
#include "pyedge/softmax_s8.h"

namespace pyedge {

using FullyConnectedFactory = std::unique_ptr<FullyConnected> (*)(const FullyConnectedParams&);

// One implementation of one op: its name, the CPU feature it needs (null: none), and its entry
// point (null when this build did not compile it).
template <typename Fn>
struct Implementation {
  const char* name;
  bool CpuFeatures::*needs;
  Fn fn;
};

// Whether this build has the implementation and this CPU can run it.
template <typename Fn>
bool runs_here(const Implementation<Fn>& impl, const CpuFeatures& cpu) {
  return impl.fn != nullptr && (impl.needs == nullptr || cpu.*impl.needs);
}

// The op tables, best first; each ends in a portable implementation that every build has.
const std::vector<Implementation<FullyConnectedFactory>>& fully_connected_implementations();
const std::vector<Implementation<QuantizeFn>>& quantize_implementations();
// SoftmaxS8's own loop is the portable implementation: its entry point is null.
const std::vector<Implementation<SoftmaxFn>>& softmax_implementations();

// A family and the implementation each op gets under its cap on this CPU.
struct KernelInfo {
  std::string name;       // the family, named after its widest instructions
  bool compiled = false;  // its FULLY_CONNECTED is built into this binary
  bool supported = false;  // compiled and this CPU can run it
  Implementation<FullyConnectedFactory> fully_connected{"", nullptr, nullptr};
  Implementation<QuantizeFn> quantize{"", nullptr, nullptr};
  Implementation<SoftmaxFn> softmax{"", nullptr, nullptr};
};

// Every family pyedge knows, best first, with what this binary and CPU can do.
std::vector<KernelInfo> list_kernels();

// The family named `forced`, or the best supported one when `forced` is empty. Throws
// std::invalid_argument naming the choices when `forced` is unknown or cannot run here.
KernelInfo select_kernel(const std::string& forced);

}  // namespace pyedge
