// CPU feature detection: cpuid + xgetbv on x86 (the OS must save the wide registers, not
// only the CPU support them), getauxval on Linux/ARM.
#include "pyedge/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#elif defined(__linux__) && (defined(__aarch64__) || defined(__arm__))
#include <sys/auxv.h>
#endif

namespace pyedge {

#if defined(__x86_64__) || defined(__i386__)
namespace {
unsigned long long read_xcr0() {
  unsigned int eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

// Linux (5.16+) enables the 8 KB AMX tile data state lazily, per process: until a process asks
// with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), its first tile instruction raises
// SIGILL even though cpuid and XCR0 report AMX. Asking is idempotent and cheap, so it is done
// on every detection; the permission is the only process-wide state pyedge changes. Older
// kernels (no such call) and other systems report failure, and AMX stays unused.
bool request_amx_permission() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023;  // ARCH_REQ_XCOMP_PERM, asm/prctl.h
  constexpr long kXfeatureXtiledata = 18;     // XFEATURE_XTILEDATA
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = ecx & (1u << 27);
  const bool avx = ecx & (1u << 28);
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;             // SSE + AVX state
  const bool zmm_state = (xcr0 & 0xE6) == 0xE6;           // + opmask, ZMM0-15 hi, ZMM16-31
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  f.avx2 = ymm_state && (ebx & (1u << 5));
  const bool avx512f = ebx & (1u << 16), avx512dq = ebx & (1u << 17);
  const bool avx512bw = ebx & (1u << 30), avx512vl = ebx & (1u << 31);
  const bool avx512vnni = ecx & (1u << 11);
  f.avx512vnni = zmm_state && f.avx2 && avx512f && avx512dq && avx512bw && avx512vl && avx512vnni;
  // Leaf 7 subleaf 1 exists when subleaf 0 reports max subleaf >= 1 in EAX.
  unsigned int eax1, ebx1, ecx1, edx1;
  const bool has_subleaf1 = eax >= 1 && __get_cpuid_count(7, 1, &eax1, &ebx1, &ecx1, &edx1);
  f.avxvnni = f.avx2 && has_subleaf1 && (eax1 & (1u << 4));
  const bool amx_tile = edx & (1u << 24), amx_int8 = edx & (1u << 25);
  const bool tile_state = (xcr0 & 0x60000) == 0x60000;  // XTILECFG (bit 17) + XTILEDATA (18)
  f.amx = f.avx512vnni && amx_tile && amx_int8 && tile_state && request_amx_permission();
  return f;
}

#elif defined(__linux__) && defined(__aarch64__)
CpuFeatures detect_cpu_features() {
  CpuFeatures f;
  f.neon = true;  // Advanced SIMD is mandatory in armv8-a
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
  f.dotprod = getauxval(AT_HWCAP) & HWCAP_ASIMDDP;
  // Linux reports I8MM since 5.10; an older kernel leaves the bit 0 and the kernel unused.
  f.i8mm = getauxval(AT_HWCAP2) & HWCAP2_I8MM;
  return f;
}

#elif defined(__linux__) && defined(__arm__)
CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#ifndef HWCAP_NEON
#define HWCAP_NEON (1 << 12)
#endif
  f.neon = getauxval(AT_HWCAP) & HWCAP_NEON;
  return f;
}

#else
CpuFeatures detect_cpu_features() { return {}; }
#endif

}  // namespace pyedge
