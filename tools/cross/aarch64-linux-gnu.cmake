# Cross toolchain: 64-bit Raspberry Pi OS / Debian arm64 (Pi 3, 4, 5), from Debian's
# g++-aarch64-linux-gnu. The baseline stays armv8-a (Pi 4, Cortex-A72): only the dotprod
# kernel's own functions are compiled for armv8.2-a, through target attributes.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_C_FLAGS_INIT "-march=armv8-a")
set(CMAKE_CXX_FLAGS_INIT "-march=armv8-a")
# ctest runs the C++ tests under qemu; QEMU_CPU (cortex-a72, cortex-a76, max) picks the CPU.
# LD_LIBRARY_PATH keeps the cross libc beside the cross ld.so: with -L alone, ld.so falls back to
# the host's multiarch /lib/aarch64-linux-gnu (there once libpython3.11-dev:arm64 is installed), and
# that mismatched libc hangs in pthread_create.
set(CMAKE_CROSSCOMPILING_EMULATOR
    /usr/bin/qemu-aarch64-static;-L;/usr/aarch64-linux-gnu;-E;LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib)
