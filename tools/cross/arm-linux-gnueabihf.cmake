# Cross toolchain: 32-bit Raspberry Pi OS / Debian armhf (Pi 2 v1.1 and later), from Debian's
# g++-arm-linux-gnueabihf. armv7-a with NEON and VFPv4, hard-float: the Pi 2's Cortex-A7 has
# VFPv4 (a Cortex-A8's vfpv3 would not do). Pi Zero/1 (ARMv6, no NEON) are not targeted.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)
set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")
# ctest runs the C++ tests under qemu; QEMU_CPU (cortex-a7, cortex-a15) picks the CPU.
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/bin/qemu-arm-static;-L;/usr/arm-linux-gnueabihf)
