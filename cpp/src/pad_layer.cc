// PAD / PADV2 on int8, as LiteRT's kernels: bytes copied, the rest filled (docs/arithmetic.md, "PAD").
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

#include "pyedge/plan.h"

namespace pyedge {
namespace {

class PadLayer final : public Layer {
 public:
  PadLayer(const int32_t* source, int input_depth, int output_depth, int32_t fill)
      : input_depth_(input_depth), fill_(static_cast<int8_t>(fill)) {
    if (input_depth < 1 || output_depth < input_depth)
      throw std::invalid_argument("PAD must keep every input value");
    if (fill < -128 || fill > 127) throw std::invalid_argument("PAD fill out of int8 range");
    // Contiguous input runs become copies: a row of the last axis at a time, not a byte.
    std::vector<bool> copied(input_depth, false);
    for (int j = 0; j < output_depth;) {
      const int32_t s = source[j];
      if (s < -1 || s >= input_depth) throw std::invalid_argument("PAD source index out of range");
      int length = 1;
      while (j + length < output_depth && s >= 0 && source[j + length] == s + length) ++length;
      if (s == -1) {
        while (j + length < output_depth && source[j + length] == -1) ++length;
        runs_.push_back({j, -1, length});
      } else {
        for (int i = s; i < s + length; ++i) {
          if (copied[i]) throw std::invalid_argument("PAD copies an input value twice");
          copied[i] = true;
        }
        runs_.push_back({j, s, length});
      }
      j += length;
    }
    for (const bool c : copied)
      if (!c) throw std::invalid_argument("PAD must keep every input value");
    output_depth_ = output_depth;
  }
  int input_depth() const override { return input_depth_; }
  int output_depth() const override { return output_depth_; }
  int64_t macs_per_row() const override { return output_depth_; }

  void run(const int8_t* in, int rows, int8_t* out) const override {
    for (int r = 0; r < rows; ++r) {
      const int8_t* x = in + int64_t{r} * input_depth_;
      int8_t* y = out + int64_t{r} * output_depth_;
      for (const Run& run : runs_) {
        if (run.from < 0)
          std::fill(y + run.to, y + run.to + run.length, fill_);
        else
          std::copy(x + run.from, x + run.from + run.length, y + run.to);
      }
    }
  }

 private:
  struct Run {
    int to, from, length;  // from -1: fill
  };
  int input_depth_, output_depth_ = 0;
  int8_t fill_;
  std::vector<Run> runs_;
};

}  // namespace

std::unique_ptr<Layer> make_pad_layer(const int32_t* source, int input_depth, int output_depth,
                                      int32_t fill) {
  return std::make_unique<PadLayer>(source, input_depth, output_depth, fill);
}

}  // namespace pyedge
