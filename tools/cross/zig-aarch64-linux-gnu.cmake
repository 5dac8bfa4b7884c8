# Cross toolchain through zig (tools/cross/zig-c++): clang against glibc 2.17's symbols with a
# static libc++, so the wheel is manylinux2014_aarch64 and installs on every 64-bit Raspberry Pi
# OS (bullseye's glibc 2.31 too), not only on glibc 2.35+ as the GCC 12 build does. Baseline
# armv8-a as in aarch64-linux-gnu.cmake; GNU binutils strip (zig has none). aarch64 only: for
# armv7l, C++ exceptions thrown in a zig-built extension escaped pybind11's translators.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_CXX_COMPILER ${CMAKE_CURRENT_LIST_DIR}/zig-c++)
set(CMAKE_CXX_FLAGS_INIT "-target aarch64-linux-gnu.2.17 -march=armv8-a")
set(CMAKE_STRIP aarch64-linux-gnu-strip)
# Configure checks compile without linking: each -march a check tries would otherwise make zig
# build libc++ once more for that CPU (minutes each on a cold cache).
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/bin/qemu-aarch64-static;-L;/usr/aarch64-linux-gnu)
