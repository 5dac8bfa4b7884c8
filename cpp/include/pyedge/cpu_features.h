// What the CPU we run on can execute, read once per call (no global state; detecting AMX on
// Linux also asks the kernel for the per-process AMX permission, see cpu_features.cc).
#pragma once

namespace pyedge {

struct CpuFeatures {
  bool avx2 = false;        // x86: AVX2 with OS support for the YMM state
  // x86: AVX2 (with the YMM state) + AVX-VNNI, the VEX-encoded 256-bit vpdpbusd that Alder
  // Lake-N and other CPUs without AVX-512 have (CPUID.(EAX=7,ECX=1):EAX bit 4)
  bool avxvnni = false;
  bool avx512vnni = false;  // x86: AVX-512 F/BW/DQ/VL + VNNI with OS support for the ZMM state
  // x86: AMX-TILE + AMX-INT8 (and avx512vnni, used for requantization) with OS support for
  // the tile state, and, on Linux, this process's permission to use it (see cpu_features.cc).
  bool amx = false;
  bool neon = false;        // ARM: Advanced SIMD (always on aarch64, HWCAP_NEON on armv7)
  bool dotprod = false;     // aarch64: armv8.2 sdot (HWCAP_ASIMDDP)
  bool i8mm = false;        // aarch64: armv8.6 smmla (HWCAP2_I8MM)
};

CpuFeatures detect_cpu_features();

}  // namespace pyedge
