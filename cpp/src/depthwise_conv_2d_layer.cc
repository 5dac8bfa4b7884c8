// DEPTHWISE_CONV_2D: per output pixel, each output channel n sums its KH x KW taps of input
// channel n / M (M = N / C) that fall in the image, int32 accumulators, requantized with double
// rounding (LiteRT's reference_integer_ops::DepthwiseConvPerChannel, measured: docs/arithmetic.md).
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

#include "pyedge/plan.h"
#include "pyedge/requantize.h"
#include "window.h"

namespace pyedge {
namespace {

class DepthwiseConv2DLayer final : public Layer {
 public:
  DepthwiseConv2DLayer(const Window& w, const FullyConnectedParams& p)
      : w_(w), taps_(p.input_depth), n_(p.output_depth), zero_point_(p.input_zero_point),
        output_zero_point_(p.output_zero_point), lo_(p.activation_min), hi_(p.activation_max),
        filter_(int64_t{p.output_depth} * p.input_depth),
        multiplier_(p.multiplier, p.multiplier + p.output_depth),
        shift_(p.shift, p.shift + p.output_depth), bias_(p.output_depth, 0) {
    check_window(w);
    if (taps_ != w.kernel_h * w.kernel_w || n_ < 1 || n_ % w.channels)
      throw std::invalid_argument("DEPTHWISE_CONV_2D filter must be [N][kernel_h * kernel_w], "
                                  "N a multiple of the input channels");
    if (zero_point_ < -128 || zero_point_ > 127 || lo_ < -128 || hi_ > 127 || lo_ > hi_)
      throw std::invalid_argument("DEPTHWISE_CONV_2D zero point and activation range must lie in int8");
    if (int64_t{w.out_h} * w.out_w * n_ > INT32_MAX)
      throw std::invalid_argument("DEPTHWISE_CONV_2D output must hold fewer than 2^31 values per row");
    multiplier_per_channel_ = n_ / w.channels;
    // [tap][N]: one tap's weights for every channel sit together, as the input pixel's channels.
    for (int n = 0; n < n_; ++n)
      for (int t = 0; t < taps_; ++t) filter_[int64_t{t} * n_ + n] = p.weights[int64_t{n} * taps_ + t];
    if (p.bias) bias_.assign(p.bias, p.bias + n_);
  }
  int input_depth() const override { return w_.in_h * w_.in_w * w_.channels; }
  int output_depth() const override { return w_.out_h * w_.out_w * n_; }
  int64_t macs_per_row() const override { return int64_t{w_.out_h} * w_.out_w * taps_ * n_; }

  void run(const int8_t* in, int rows, int8_t* out) const override {
    std::vector<int32_t> acc(n_);
    const int c = w_.channels, m = multiplier_per_channel_;
    for (int r = 0; r < rows; ++r) {
      const int8_t* image = in + int64_t{r} * input_depth();
      int8_t* result = out + int64_t{r} * output_depth();
      for (int oy = 0; oy < w_.out_h; ++oy) {
        for (int ox = 0; ox < w_.out_w; ++ox) {
          std::copy(bias_.begin(), bias_.end(), acc.begin());
          for (int ky = 0; ky < w_.kernel_h; ++ky) {
            const int y = oy * w_.stride_h - w_.pad_top + ky * w_.dilation_h;
            if (y < 0 || y >= w_.in_h) continue;  // padding: TFLite skips the tap
            for (int kx = 0; kx < w_.kernel_w; ++kx) {
              const int x = ox * w_.stride_w - w_.pad_left + kx * w_.dilation_w;
              if (x < 0 || x >= w_.in_w) continue;
              const int8_t* pixel = image + (int64_t{y} * w_.in_w + x) * c;
              const int8_t* f = filter_.data() + int64_t{ky * w_.kernel_w + kx} * n_;
              // |f| <= 128, |x - zero_point| <= 255: the plan refuses filters whose sums
              // could leave int32.
              for (int ic = 0; ic < c; ++ic) {
                const int32_t v = int32_t{pixel[ic]} - zero_point_;
                for (int j = 0; j < m; ++j) acc[ic * m + j] += int32_t{f[ic * m + j]} * v;
              }
            }
          }
          int8_t* o = result + (int64_t{oy} * w_.out_w + ox) * n_;
          for (int n = 0; n < n_; ++n) {
            const int32_t v =
                multiply_by_quantized_multiplier_double_rounding(acc[n], multiplier_[n], shift_[n]) +
                output_zero_point_;
            o[n] = static_cast<int8_t>(std::min(std::max(v, lo_), hi_));
          }
        }
      }
    }
  }

 private:
  Window w_;
  int taps_, n_, multiplier_per_channel_ = 1;
  int32_t zero_point_, output_zero_point_, lo_, hi_;
  std::vector<int8_t> filter_;  // [KH * KW][N]
  std::vector<int32_t> multiplier_, shift_, bias_;
};

}  // namespace

std::unique_ptr<Layer> make_depthwise_conv_2d_layer(const Window& window,
                                                    const FullyConnectedParams& params) {
  return std::make_unique<DepthwiseConv2DLayer>(window, params);
}

}  // namespace pyedge
