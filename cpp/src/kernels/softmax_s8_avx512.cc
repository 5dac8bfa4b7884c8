// PLACEHOLDER until the AVX-512 version lands: forwards to the portable softmax.
#include "pyedge/softmax_s8.h"

namespace pyedge {

void softmax_s8_avx512(const SoftmaxS8& softmax, const int8_t* input, int rows, int depth,
                       int8_t* output) {
  softmax.run(input, rows, depth, output);
}

}  // namespace pyedge
