// <immintrin.h> for the AVX-512 kernel files. GCC 12's AVX-512 headers start many intrinsics
// from _mm512_undefined_epi32(), which -Wall reports as "used uninitialized" wherever they are
// inlined (GCC bug 105593): a false alarm, silenced for the including file.
#pragma once
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
