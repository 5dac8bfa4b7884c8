// MAX_POOL_2D and AVERAGE_POOL_2D on int8, as TFLite's reference_integer_ops pooling.h.
#include <algorithm>
#include <memory>
#include <stdexcept>

#include "pyedge/plan.h"
#include "window.h"

namespace pyedge {
namespace {

constexpr int kChannelBlock = 256;  // accumulators on the stack, channels innermost

class Pool2DLayer final : public Layer {
 public:
  Pool2DLayer(const Window& w, bool average, int32_t lo, int32_t hi)
      : w_(w), average_(average), lo_(lo), hi_(hi) {
    check_window(w);
    if (w.dilation_h != 1 || w.dilation_w != 1)
      throw std::invalid_argument("pooling windows have no dilation");
    if (lo < -128 || hi > 127 || lo > hi)
      throw std::invalid_argument("pooling activation range must lie in [-128, 127]");
  }
  int input_depth() const override { return w_.in_h * w_.in_w * w_.channels; }
  int output_depth() const override { return w_.out_h * w_.out_w * w_.channels; }
  int64_t macs_per_row() const override {
    return int64_t{w_.out_h} * w_.out_w * w_.kernel_h * w_.kernel_w * w_.channels;
  }

  void run(const int8_t* in, int rows, int8_t* out) const override {
    for (int r = 0; r < rows; ++r) {
      const int8_t* image = in + int64_t{r} * input_depth();
      int8_t* result = out + int64_t{r} * output_depth();
      for (int oy = 0; oy < w_.out_h; ++oy)
        for (int ox = 0; ox < w_.out_w; ++ox)
          pool_pixel(image, oy, ox, result + (int64_t{oy} * w_.out_w + ox) * w_.channels);
    }
  }

 private:
  void pool_pixel(const int8_t* image, int oy, int ox, int8_t* result) const {
    // The window clipped to the image: padding is never read, and not counted.
    const int y0 = oy * w_.stride_h - w_.pad_top, x0 = ox * w_.stride_w - w_.pad_left;
    const int ky_begin = std::max(0, -y0), ky_end = std::min(w_.kernel_h, w_.in_h - y0);
    const int kx_begin = std::max(0, -x0), kx_end = std::min(w_.kernel_w, w_.in_w - x0);
    const int count = std::max(0, ky_end - ky_begin) * std::max(0, kx_end - kx_begin);
    for (int c0 = 0; c0 < w_.channels; c0 += kChannelBlock) {
      const int block = std::min(kChannelBlock, w_.channels - c0);
      int32_t acc[kChannelBlock];
      std::fill(acc, acc + block, average_ ? 0 : -128);
      for (int ky = ky_begin; ky < ky_end; ++ky)
        for (int kx = kx_begin; kx < kx_end; ++kx) {
          const int8_t* tap = image + (int64_t{y0 + ky} * w_.in_w + x0 + kx) * w_.channels + c0;
          if (average_) {
            for (int c = 0; c < block; ++c) acc[c] += tap[c];
          } else {
            for (int c = 0; c < block; ++c) acc[c] = std::max<int32_t>(acc[c], tap[c]);
          }
        }
      for (int c = 0; c < block; ++c) {
        int32_t v = acc[c];
        // TFLite's rounding: half away from zero, with C's truncating division. (An empty
        // window, which LiteRT fails on, never gets here: the plan refuses it.)
        if (average_ && count > 0) v = v > 0 ? (v + count / 2) / count : (v - count / 2) / count;
        result[c0 + c] = static_cast<int8_t>(std::min(std::max(v, lo_), hi_));
      }
    }
  }

  Window w_;
  bool average_;
  int32_t lo_, hi_;
};

}  // namespace

std::unique_ptr<Layer> make_pool_2d_layer(const Window& window, bool average,
                                          int32_t activation_min, int32_t activation_max) {
  return std::make_unique<Pool2DLayer>(window, average, activation_min, activation_max);
}

}  // namespace pyedge
