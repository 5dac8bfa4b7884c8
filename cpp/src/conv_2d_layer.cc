// CONV_2D: each output pixel's patch of the input (im2col) times the filter as a matrix, int32
// accumulators, requantized with double rounding (LiteRT's reference CONV_2D, measured: the
// single rounding of FULLY_CONNECTED differs by 1 LSB on ~0.2 % of outputs).
#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "pyedge/plan.h"
#include "pyedge/requantize.h"
#include "window.h"

namespace pyedge {
namespace {

constexpr int kPatchBytes = 16 * 1024;  // a patch on the stack; a wider one on the heap

class Conv2DLayer final : public Layer {
 public:
  Conv2DLayer(const Window& w, const FullyConnectedParams& p)
      : w_(w), k_(p.input_depth), n_(p.output_depth), zero_point_(p.input_zero_point),
        output_zero_point_(p.output_zero_point), lo_(p.activation_min), hi_(p.activation_max),
        weights_(p.weights, p.weights + int64_t{p.output_depth} * p.input_depth),
        multiplier_(p.multiplier, p.multiplier + p.output_depth),
        shift_(p.shift, p.shift + p.output_depth), bias_(p.output_depth) {
    check_window(w);
    if (k_ != w.kernel_h * w.kernel_w * w.channels || n_ < 1)
      throw std::invalid_argument("CONV_2D filter depth must be kernel_h * kernel_w * channels");
    if (zero_point_ < -128 || zero_point_ > 127 || lo_ < -128 || hi_ > 127 || lo_ > hi_)
      throw std::invalid_argument("CONV_2D zero point and activation range must lie in int8");
    // acc = bias - zero_point * sum_k w + sum_k w * x: the sum TFLite forms, with the zero
    // point folded in once (the plan refuses filters whose sums could leave int32).
    for (int n = 0; n < n_; ++n) {
      int64_t sum = 0;
      for (int k = 0; k < k_; ++k) sum += weights_[int64_t{n} * k_ + k];
      bias_[n] = static_cast<int32_t>((p.bias ? p.bias[n] : 0) - int64_t{zero_point_} * sum);
    }
    // A 1x1 filter with stride 1 and no padding reads each pixel as it is: no patches.
    direct_ = w.kernel_h == 1 && w.kernel_w == 1 && w.stride_h == 1 && w.stride_w == 1 &&
              w.pad_top == 0 && w.pad_left == 0 && w.out_h == w.in_h && w.out_w == w.in_w;
  }
  int input_depth() const override { return w_.in_h * w_.in_w * w_.channels; }
  int output_depth() const override { return w_.out_h * w_.out_w * n_; }
  int64_t macs_per_row() const override { return int64_t{w_.out_h} * w_.out_w * k_ * n_; }

  void run(const int8_t* in, int rows, int8_t* out) const override {
    const int pixels = w_.out_h * w_.out_w;
    alignas(64) int8_t stack[kPatchBytes];
    std::vector<int8_t> heap(!direct_ && k_ > kPatchBytes ? k_ : 0);
    int8_t* patch = heap.empty() ? stack : heap.data();
    for (int r = 0; r < rows; ++r) {
      const int8_t* image = in + int64_t{r} * input_depth();
      int8_t* result = out + int64_t{r} * output_depth();
      for (int p = 0; p < pixels; ++p) {
        const int8_t* x = direct_ ? image + int64_t{p} * k_ : fill_patch(image, p, patch);
        for (int n = 0; n < n_; ++n) {
          const int8_t* w = weights_.data() + int64_t{n} * k_;
          int32_t acc = bias_[n];
          for (int k = 0; k < k_; ++k) acc += int32_t{w[k]} * int32_t{x[k]};
          const int32_t y =
              multiply_by_quantized_multiplier_double_rounding(acc, multiplier_[n], shift_[n]) +
              output_zero_point_;
          result[int64_t{p} * n_ + n] = static_cast<int8_t>(std::min(std::max(y, lo_), hi_));
        }
      }
    }
  }

 private:
  const int8_t* fill_patch(const int8_t* image, int pixel, int8_t* patch) const {
    const int oy = pixel / w_.out_w, ox = pixel % w_.out_w, c = w_.channels;
    int8_t* at = patch;
    for (int ky = 0; ky < w_.kernel_h; ++ky) {
      const int y = oy * w_.stride_h - w_.pad_top + ky * w_.dilation_h;
      for (int kx = 0; kx < w_.kernel_w; ++kx, at += c) {
        const int x = ox * w_.stride_w - w_.pad_left + kx * w_.dilation_w;
        if (y >= 0 && y < w_.in_h && x >= 0 && x < w_.in_w) {
          std::memcpy(at, image + (int64_t{y} * w_.in_w + x) * c, c);
        } else {
          std::memset(at, zero_point_, c);  // x - zero_point = 0: the tap adds nothing
        }
      }
    }
    return patch;
  }

  Window w_;
  int k_, n_;
  int32_t zero_point_, output_zero_point_, lo_, hi_;
  std::vector<int8_t> weights_;  // [N][K]
  std::vector<int32_t> multiplier_, shift_, bias_;
  bool direct_;
};

}  // namespace

std::unique_ptr<Layer> make_conv_2d_layer(const Window& window, const FullyConnectedParams& params) {
  return std::make_unique<Conv2DLayer>(window, params);
}

}  // namespace pyedge
