// PYEDGE_EXPECT_SUPPORTED (comma-separated; tools/test.sh sets it from Linux's /proc/cpuinfo
// with tests/expected_kernels.py): the kernels this CPU must support. Without this check a
// kernel test passes on the scalar kernel alone when CPU detection regresses or the build
// drops a kernel.
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
  if (supported == expected) return true;
  std::printf("%s: FAIL: this CPU supports the kernels %s; PYEDGE_EXPECT_SUPPORTED expects %s\n", test,
              supported.c_str(), expected);
  return false;
}
