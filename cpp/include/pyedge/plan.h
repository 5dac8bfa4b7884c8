// The plan executor: quantize float rows, run a chain of int8 layers over tiles of rows while
// the activations stay in cache, dequantize. Built once per model; const and thread-safe after.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "pyedge/kernel_registry.h"
#include "pyedge/quantize.h"
#include "pyedge/softmax_s8.h"
#include "pyedge/thread_pool.h"

namespace pyedge {

// One int8 -> int8 step of the plan, over rows of `input_depth()` bytes.
class Layer {
 public:
  virtual ~Layer() = default;
  virtual int input_depth() const = 0;
  virtual int output_depth() const = 0;
  virtual void run(const int8_t* input, int rows, int8_t* output) const = 0;
  // Multiply-adds (or comparisons) per row: when a call is worth splitting across threads.
  virtual int64_t macs_per_row() const { return int64_t{input_depth()} * output_depth(); }
};

// TFLite's FULLY_CONNECTED flattens its input to [-1, depth]: a plan row of `groups * depth`
// values is `groups` rows of the kernel (groups = 1 for an ordinary Dense layer).
std::unique_ptr<Layer> make_fully_connected_layer(const FullyConnectedParams& params,
                                                  FullyConnectedFactory kernel, int groups = 1);
// LOGISTIC / TANH on int8: table[x + 128], computed at load with the reference arithmetic.
std::unique_ptr<Layer> make_lookup_table_layer(const int8_t* table, int depth);
// TFLite's SOFTMAX normalizes the last axis only: a plan row of `depth` values holds
// depth / axis_size softmax rows of `axis_size` values.
std::unique_ptr<Layer> make_softmax_layer(const int32_t* exp_table, const SoftmaxS8Params& params,
                                          int depth, SoftmaxFn kernel, int axis_size = 0);

// Where an NHWC window op reads, as TFLite's Prepare computes it (pyedge/ops/conv_2d.py's
// Window): one plan row is one [in_h, in_w, channels] image, the output [out_h, out_w, ...].
struct Window {
  int in_h, in_w, channels;
  int kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
  int out_h, out_w, pad_top, pad_left;
};
// CONV_2D as a matrix product over patches (im2col): `params` is the filter as a matrix
// [N][kernel_h * kernel_w * channels]; a patch holds the input zero point where it falls in
// the padding, which adds nothing, as TFLite's reference kernel skips those taps. Unlike
// FULLY_CONNECTED it requantizes with double rounding, as LiteRT's reference CONV_2D does.
std::unique_ptr<Layer> make_conv_2d_layer(const Window& window, const FullyConnectedParams& params);
// DEPTHWISE_CONV_2D: `params` is the filter as a matrix [N][kernel_h * kernel_w], N a multiple
// of the input channels; output channel n filters input channel n / (N / channels) over the
// taps inside the image, requantized with double rounding, as LiteRT's reference kernel.
std::unique_ptr<Layer> make_depthwise_conv_2d_layer(const Window& window,
                                                    const FullyConnectedParams& params);
// MAX_POOL_2D (average = false) and AVERAGE_POOL_2D over the window clipped to the image, as
// TFLite's reference_integer_ops pooling: no requantization, then the activation's clamp.
std::unique_ptr<Layer> make_pool_2d_layer(const Window& window, bool average,
                                          int32_t activation_min, int32_t activation_max);

// MEAN over the reduced axes of a row: output_of[i] is the output input value i adds to (count
// values each); the int32 sum minus input_zero_point * count is requantized with double
// rounding by a multiplier with 1 / count folded in, as LiteRT's reference QuantizedMeanOrSum.
struct MeanParams {
  int input_depth, output_depth, count;
  const int32_t* output_of;
  int32_t input_zero_point, multiplier, shift, output_zero_point;
};
std::unique_ptr<Layer> make_mean_layer(const MeanParams& params);
// PAD / PADV2: output value j is input value source[j], or `fill` where source[j] is -1; the
// bytes are copied, never requantized, as LiteRT's kernels do.
std::unique_ptr<Layer> make_pad_layer(const int32_t* source, int input_depth, int output_depth,
                                      int32_t fill);

struct Quantization {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

// Feature standardization a trained model carries in its metadata (pyedge/metadata.py): raw
// features become (x - mean) / std, two float32 operations, before the graph's QUANTIZE.
// Empty vectors: none. Otherwise one mean and one std (> 0) per input value.
struct Standardization {
  std::vector<float> mean;
  std::vector<float> std;
};

// Scratch buffers a plan lends to its callers: each call borrows one and gives it back, so
// concurrent calls never share one, and after the first calls nothing is allocated.
class ScratchPool {
  struct Shelf;

 public:
  class Lease {
   public:
    Lease() = default;
    Lease(Shelf* shelf, std::unique_ptr<int8_t[]> buffer)
        : shelf_(shelf), buffer_(std::move(buffer)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease() {
      if (buffer_) shelf_->give_back(std::move(buffer_));
    }
    int8_t* get() const { return buffer_.get(); }

   private:
    Shelf* shelf_ = nullptr;
    std::unique_ptr<int8_t[]> buffer_;
  };

  ScratchPool();
  ~ScratchPool();
  ScratchPool(const ScratchPool&) = delete;
  ScratchPool& operator=(const ScratchPool&) = delete;
  void set_size(size_t bytes) { bytes_ = bytes; }
  Lease borrow();

 private:
  // The free buffers and their lock. A child made by fork() leaves its parent's shelf alone
  // (a thread of the parent may have held the lock at that moment) and starts its own.
  struct Shelf {
    unsigned generation;  // fork_generation() when made
    std::mutex mutex;
    std::vector<std::unique_ptr<int8_t[]>> free;
    void give_back(std::unique_ptr<int8_t[]> buffer);
  };
  Shelf* shelf();  // this process's shelf

  size_t bytes_ = 0;
  std::atomic<Shelf*> shelf_;
};

class Plan {
 public:
  Plan(int input_depth, Quantization input, Quantization output,
       std::vector<std::unique_ptr<Layer>> layers, QuantizeFn quantize, int num_threads,
       Standardization standardization = {});

  int input_depth() const { return input_depth_; }
  int output_depth() const { return output_depth_; }
  int num_threads() const { return pool_ ? pool_->size() : 1; }
  // Values per row of the input and of each layer's output, in order.
  std::vector<int> tensor_depths() const;

  // Float rows in, dequantized rows out. Returns -1, or the index of the first row holding
  // NaN or Inf (the output is then unspecified).
  int64_t run(const float* input, int64_t rows, float* output) const;
  // Float rows -> the graph's int8 input (standardized first, if the model says so). Returns -1,
  // or the index of the first row holding NaN or Inf, or a value that standardizes to one.
  int64_t quantize_input(const float* input, int64_t rows, int8_t* output) const;
  bool standardizes() const { return !standardization_.mean.empty(); }
  // Already quantized rows in (an int8-input model), dequantized rows out.
  void run(const int8_t* input, int64_t rows, float* output) const;
  // The int8 input followed by every layer's int8 output, for the whole batch (tests, debugging).
  std::vector<std::vector<int8_t>> trace(const int8_t* input, int64_t rows) const;

 private:
  template <typename In>
  int64_t run_rows(const In* input, int64_t begin, int64_t end, float* output) const;
  template <typename In>
  int64_t run_parallel(const In* input, int64_t rows, float* output) const;

  int input_depth_;
  int output_depth_;
  int max_depth_;
  int64_t pool_tile_rows_ = 1;  // rows per tile when a call borrows from scratch_
  Quantization input_, output_;
  std::vector<std::unique_ptr<Layer>> layers_;
  QuantizeFn quantize_;
  Standardization standardization_;
  int64_t macs_per_row_ = 0;
  mutable ScratchPool scratch_;       // tiles of activations for large calls
  std::unique_ptr<ThreadPool> pool_;  // null when num_threads == 1
};

}  // namespace pyedge
