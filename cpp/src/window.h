// Checks shared by the NHWC window layers (CONV_2D, the 2-D pools).
#pragma once
#include <cstdint>
#include <stdexcept>

#include "pyedge/plan.h"

namespace pyedge {

// Every size positive, the padding no wider than a window, and every count an int: then any
// tap a layer computes either lies in the image or is recognised as padding.
inline void check_window(const Window& w) {
  const int sizes[] = {w.in_h, w.in_w, w.channels, w.kernel_h, w.kernel_w, w.stride_h,
                       w.stride_w, w.dilation_h, w.dilation_w, w.out_h, w.out_w};
  for (int size : sizes)
    if (size < 1) throw std::invalid_argument("window sizes, strides and dilations must be >= 1");
  if (w.pad_top < 0 || w.pad_left < 0 || w.pad_top >= (w.kernel_h - 1) * w.dilation_h + 1 ||
      w.pad_left >= (w.kernel_w - 1) * w.dilation_w + 1)
    throw std::invalid_argument("window padding must be >= 0 and narrower than the window");
  const int64_t in = int64_t{w.in_h} * w.in_w * w.channels;
  const int64_t patch = int64_t{w.kernel_h} * w.kernel_w * w.channels;
  const int64_t out = int64_t{w.out_h} * w.out_w * w.channels;
  if (in > INT32_MAX || patch > INT32_MAX || out > INT32_MAX)
    throw std::invalid_argument("window op tensors must hold fewer than 2^31 values per row");
}

}  // namespace pyedge
