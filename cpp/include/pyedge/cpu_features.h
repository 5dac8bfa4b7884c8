// What the CPU we run on can execute, read once per call (no global state).
#pragma once

namespace pyedge {

struct CpuFeatures {
  bool avx2 = false;        // x86: AVX2 with OS support for the YMM state
  bool avx512vnni = false;  // x86: AVX-512 F/BW/DQ/VL + VNNI with OS support for the ZMM state
  bool neon = false;        // ARM: Advanced SIMD (always on aarch64, HWCAP_NEON on armv7)
  bool dotprod = false;     // aarch64: armv8.2 sdot (HWCAP_ASIMDDP)
};

CpuFeatures detect_cpu_features();

}  // namespace pyedge
