# Cross toolchain: 32-bit Raspberry Pi OS / Debian armhf (Pi 2 v1.1 and later), from Debian's
# g++-arm-linux-gnueabihf. The baseline is Debian armhf's own (armv7-a, VFPv3-D16, hard-float):
# NEON is optional on 32-bit ARM, so only the NEON kernel files are compiled for it (CMakeLists)
# and picked when the CPU reports HWCAP_NEON (every Pi from the Pi 2 on).
# Pi Zero/1 (ARMv6) are not targeted.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)
set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard")
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard")
# ctest runs the C++ tests under qemu; QEMU_CPU (cortex-a7, cortex-a15) picks the CPU.
# LD_LIBRARY_PATH keeps the cross libc beside the cross ld.so: with -L alone, ld.so falls back to
# the host's multiarch /lib/arm-linux-gnueabihf when a foreign armhf libc is installed there, and a
# mismatched libc hangs in pthread_create (seen with arm64's).
set(CMAKE_CROSSCOMPILING_EMULATOR
    /usr/bin/qemu-arm-static;-L;/usr/arm-linux-gnueabihf;-E;LD_LIBRARY_PATH=/usr/arm-linux-gnueabihf/lib)
