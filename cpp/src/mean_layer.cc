// MEAN on int8, as LiteRT's reference_ops::QuantizedMeanOrSum (docs/arithmetic.md, "MEAN").
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

#include "pyedge/plan.h"
#include "pyedge/requantize.h"

namespace pyedge {
namespace {

class MeanLayer final : public Layer {
 public:
  explicit MeanLayer(const MeanParams& p)
      : p_(p), output_of_(p.output_of, p.output_of + p.input_depth) {
    p_.output_of = nullptr;  // the caller's array: only the copy is kept
    if (p.input_depth < 1 || p.output_depth < 1 || p.count < 1 ||
        int64_t{p.output_depth} * p.count != p.input_depth)
      throw std::invalid_argument("MEAN must sum `count` values into each output");
    std::vector<int> summed(p.output_depth, 0);
    for (const int32_t o : output_of_) {
      if (o < 0 || o >= p.output_depth) throw std::invalid_argument("MEAN output index out of range");
      ++summed[o];
    }
    if (std::any_of(summed.begin(), summed.end(), [&](int s) { return s != p.count; }))
      throw std::invalid_argument("MEAN must sum `count` values into each output");
    if (p.input_zero_point < -128 || p.input_zero_point > 127 || p.output_zero_point < -128 ||
        p.output_zero_point > 127 || p.multiplier < 0 || p.shift < -31 || p.shift > 30)
      throw std::invalid_argument("MEAN zero points or multiplier out of range");
    // The plan refuses what would overflow LiteRT's int32 (pyedge/ops/mean.py): check it here too.
    const int64_t largest = int64_t{p.count} * std::max(128 + p.input_zero_point, 127 - p.input_zero_point);
    if ((largest << std::max(p.shift, 0)) >= (int64_t{1} << 31))
      throw std::invalid_argument("MEAN sums would overflow int32");
  }
  int input_depth() const override { return p_.input_depth; }
  int output_depth() const override { return p_.output_depth; }
  int64_t macs_per_row() const override { return p_.input_depth; }

  void run(const int8_t* in, int rows, int8_t* out) const override {
    std::vector<int32_t> acc(p_.output_depth);
    const int32_t offset = p_.input_zero_point * p_.count;  // |.| < 2^31: checked above
    for (int r = 0; r < rows; ++r) {
      const int8_t* x = in + int64_t{r} * p_.input_depth;
      std::fill(acc.begin(), acc.end(), 0);
      for (int i = 0; i < p_.input_depth; ++i) acc[output_of_[i]] += x[i];
      int8_t* y = out + int64_t{r} * p_.output_depth;
      for (int o = 0; o < p_.output_depth; ++o) {
        const int32_t v = multiply_by_quantized_multiplier_double_rounding(acc[o] - offset, p_.multiplier,
                                                                           p_.shift) +
                          p_.output_zero_point;
        y[o] = static_cast<int8_t>(std::min(std::max(v, int32_t{-128}), int32_t{127}));
      }
    }
  }

 private:
  MeanParams p_;
  std::vector<int32_t> output_of_;
};

}  // namespace

std::unique_ptr<Layer> make_mean_layer(const MeanParams& params) {
  return std::make_unique<MeanLayer>(params);
}

}  // namespace pyedge
