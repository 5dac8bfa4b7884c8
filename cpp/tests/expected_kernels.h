// PYEDGE_EXPECT_SUPPORTED (comma-separated; tools/test.sh sets it from Linux's /proc/cpuinfo
// with tests/expected_kernels.py): the kernels this CPU has. Those of them this build compiled
// must be supported: without this check a kernel test passes on the scalar kernel alone when
// CPU detection regresses. (CMake's configure output says which kernels the compiler built.)
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "pyedge/kernel_registry.h"

inline bool expected_kernels_are_supported(const char* test) {
  const char* expected = std::getenv("PYEDGE_EXPECT_SUPPORTED");
  std::string supported;
  for (const pyedge::KernelInfo& k : pyedge::list_kernels())
    if (k.supported) supported += (supported.empty() ? "" : ",") + k.name;
  if (expected == nullptr || *expected == '\0') {
    std::printf("%s: PYEDGE_EXPECT_SUPPORTED not set: the supported kernels (%s) are not checked\n",
                test, supported.c_str());
    return true;
  }
  std::string compiled_expected;  // the expected list, less the kernels not compiled in
  const std::string list = std::string(expected) + ",";
  for (size_t start = 0, end; (end = list.find(',', start)) != std::string::npos; start = end + 1) {
    const std::string name = list.substr(start, end - start);
    for (const pyedge::KernelInfo& k : pyedge::list_kernels())
      if (k.name == name && k.compiled)
        compiled_expected += (compiled_expected.empty() ? "" : ",") + name;
  }
  if (supported == compiled_expected) return true;
  std::printf("%s: FAIL: this CPU supports the kernels %s; PYEDGE_EXPECT_SUPPORTED lists %s, of which "
              "this build compiled %s\n", test, supported.c_str(), expected, compiled_expected.c_str());
  return false;
}
