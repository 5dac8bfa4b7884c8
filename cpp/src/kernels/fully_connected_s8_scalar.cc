// The scalar reference FullyConnected kernel: plain loops, the oracle every SIMD kernel is
// tested against (cpp/tests/test_fully_connected.cc).
#include <vector>

#include "pyedge/fully_connected.h"
#include "pyedge/requantize.h"

namespace pyedge {
namespace {

class FullyConnectedScalar final : public FullyConnected {
 public:
  explicit FullyConnectedScalar(const FullyConnectedParams& p)
      : k_(p.input_depth), n_(p.output_depth),
        weights_(p.weights, p.weights + static_cast<size_t>(k_) * n_),
        bias_(n_, 0), multiplier_(p.multiplier, p.multiplier + n_), shift_(p.shift, p.shift + n_),
        input_zero_point_(p.input_zero_point), output_zero_point_(p.output_zero_point),
        activation_min_(p.activation_min), activation_max_(p.activation_max) {
    if (p.bias) bias_.assign(p.bias, p.bias + n_);
  }

  void run(const int8_t* input, int rows, int8_t* output) const override {
    for (int m = 0; m < rows; ++m) {
      const int8_t* x = input + static_cast<size_t>(m) * k_;
      for (int n = 0; n < n_; ++n) {
        const int8_t* w = weights_.data() + static_cast<size_t>(n) * k_;
        // |w| <= 127 and |x - zp| <= 255: each product < 2^15, so K < 2^16 terms fit int32.
        int32_t acc = bias_[n];
        for (int k = 0; k < k_; ++k) acc += int32_t{w[k]} * (int32_t{x[k]} - input_zero_point_);
        output[static_cast<size_t>(m) * n_ + n] =
            requantize(acc, multiplier_[n], shift_[n], output_zero_point_, activation_min_,
                       activation_max_);
      }
    }
  }

 private:
  int k_, n_;
  std::vector<int8_t> weights_;
  std::vector<int32_t> bias_, multiplier_, shift_;
  int32_t input_zero_point_, output_zero_point_, activation_min_, activation_max_;
};

}  // namespace

std::unique_ptr<FullyConnected> make_fully_connected_scalar(const FullyConnectedParams& params) {
  return std::make_unique<FullyConnectedScalar>(params);
}

}  // namespace pyedge
