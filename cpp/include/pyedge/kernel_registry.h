// Which kernels exist, which this CPU runs, and which one a model uses. A kernel is the set of
// microkernels written for one ISA (FullyConnected, input quantization, softmax).
// Preference order is best first; PYEDGE_KERNEL (read by the caller) forces one by name.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "pyedge/fully_connected.h"
#include "pyedge/quantize.h"
#include "pyedge/softmax_s8.h"

namespace pyedge {

using FullyConnectedFactory = std::unique_ptr<FullyConnected> (*)(const FullyConnectedParams&);

struct KernelInfo {
  std::string name;              // "amx", "avx512vnni", ..., "i8mm", "neondot", "neon", "scalar"
  bool compiled = false;         // built into this binary
  bool supported = false;        // compiled and this CPU can run it
  FullyConnectedFactory make = nullptr;  // null unless compiled
  QuantizeFn quantize = nullptr;          // null unless compiled
  SoftmaxFn softmax = nullptr;            // null: SoftmaxS8's portable version
};

// Every kernel name pyedge knows, best first, with what this binary and CPU can do.
std::vector<KernelInfo> list_kernels();

// The kernel named `forced`, or the best supported one when `forced` is empty. Throws
// std::invalid_argument naming the choices when `forced` is unknown or cannot run here.
KernelInfo select_kernel(const std::string& forced);

}  // namespace pyedge
