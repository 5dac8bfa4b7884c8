#include "pyedge/plan.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace pyedge {
namespace {

// Activations of one tile of rows live in two buffers. Small calls (batch 1) use the stack;
// larger ones borrow two buffers of up to kPoolBufferBytes from the plan's scratch pool, enough
// for tiles of kMaxTileRows rows: big tiles read each layer's weights once per 64 rows, not
// once per handful. Very wide rows get fewer rows per tile, so scratch never grows beyond a
// few rows' worth of the widest layer, whatever shapes a model declares.
constexpr int kStackBytes = 4 * 1024;
constexpr int64_t kPoolBufferBytes = 128 * 1024;
constexpr int64_t kMaxTileRows = 64;
// Threads split a call only above this much work (waking a worker costs ~10-50 us on these
// machines, about 2^22 MACs of kernel time). The work is cut into several tasks per thread,
// so that the caller, which starts at once, takes more of them while a worker wakes up.
constexpr int64_t kMinMacsToSplit = int64_t{1} << 22;
constexpr int kTasksPerThread = 4;
constexpr int64_t kMinRowsPerTask = 16;

class FullyConnectedLayer final : public Layer {
 public:
  FullyConnectedLayer(const FullyConnectedParams& p, FullyConnectedFactory kernel, int groups)
      : k_(p.input_depth), n_(p.output_depth), groups_(groups), kernel_(kernel(p)) {
    if (groups < 1) throw std::invalid_argument("FULLY_CONNECTED needs groups >= 1");
  }
  int input_depth() const override { return groups_ * k_; }
  int output_depth() const override { return groups_ * n_; }
  void run(const int8_t* in, int rows, int8_t* out) const override {
    kernel_->run(in, rows * groups_, out);
  }

 private:
  int k_, n_, groups_;
  std::unique_ptr<FullyConnected> kernel_;
};

class LookupTableLayer final : public Layer {
 public:
  LookupTableLayer(const int8_t* table, int depth) : depth_(depth) {
    std::copy(table, table + 256, table_);
  }
  int input_depth() const override { return depth_; }
  int output_depth() const override { return depth_; }
  void run(const int8_t* in, int rows, int8_t* out) const override {
    const int64_t n = int64_t{rows} * depth_;
    for (int64_t i = 0; i < n; ++i) out[i] = table_[in[i] + 128];
  }

 private:
  int depth_;
  int8_t table_[256];
};

class SoftmaxLayer final : public Layer {
 public:
  SoftmaxLayer(const int32_t* exp_table, const SoftmaxS8Params& params, int depth,
               SoftmaxFn kernel, int axis_size)
      : depth_(depth), axis_(axis_size > 0 ? axis_size : depth), softmax_(exp_table, params),
        kernel_(kernel) {
    if (depth_ % axis_ != 0)
      throw std::invalid_argument("softmax axis size must divide the row's depth");
  }
  int input_depth() const override { return depth_; }
  int output_depth() const override { return depth_; }
  void run(const int8_t* in, int rows, int8_t* out) const override {
    const int axis_rows = rows * (depth_ / axis_);
    if (kernel_) {
      kernel_(softmax_, in, axis_rows, axis_, out);
    } else {
      softmax_.run(in, axis_rows, axis_, out);
    }
  }

 private:
  int depth_, axis_;
  SoftmaxS8 softmax_;
  SoftmaxFn kernel_;  // an ISA's version, or null for SoftmaxS8's portable one
};

void dequantize(const int8_t* q, int n, Quantization p, float* out) {
  // TFLite computes float(double(scale) * (q - zp)); both products are exact before the one
  // rounding to float (|q - zp| < 2^9, scale has 24 bits), so float math gives the same bits.
  for (int i = 0; i < n; ++i) out[i] = p.scale * static_cast<float>(int32_t{q[i]} - p.zero_point);
}

}  // namespace

std::unique_ptr<Layer> make_fully_connected_layer(const FullyConnectedParams& params,
                                                  FullyConnectedFactory kernel, int groups) {
  return std::make_unique<FullyConnectedLayer>(params, kernel, groups);
}
std::unique_ptr<Layer> make_lookup_table_layer(const int8_t* table, int depth) {
  return std::make_unique<LookupTableLayer>(table, depth);
}
std::unique_ptr<Layer> make_softmax_layer(const int32_t* exp_table, const SoftmaxS8Params& params,
                                          int depth, SoftmaxFn kernel, int axis_size) {
  return std::make_unique<SoftmaxLayer>(exp_table, params, depth, kernel, axis_size);
}

ScratchPool::ScratchPool() : shelf_(new Shelf{fork_generation(), {}, {}}) {}

ScratchPool::~ScratchPool() {
  Shelf* shelf = shelf_.load();
  if (shelf->generation == fork_generation()) delete shelf;  // else the parent's: left alone
}

ScratchPool::Shelf* ScratchPool::shelf() {
  Shelf* shelf = shelf_.load(std::memory_order_acquire);
  const unsigned generation = fork_generation();
  while (shelf->generation != generation) {  // the first large call in a forked child
    auto fresh = std::make_unique<Shelf>();
    fresh->generation = generation;
    if (shelf_.compare_exchange_strong(shelf, fresh.get(), std::memory_order_acq_rel))
      return fresh.release();
  }
  return shelf;
}

ScratchPool::Lease ScratchPool::borrow() {
  Shelf* shelf = this->shelf();
  std::unique_ptr<int8_t[]> buffer;
  {
    std::lock_guard<std::mutex> lock(shelf->mutex);
    if (!shelf->free.empty()) {
      buffer = std::move(shelf->free.back());
      shelf->free.pop_back();
    }
  }
  if (!buffer) buffer.reset(new int8_t[bytes_]);  // first use by this many concurrent callers
  return Lease(shelf, std::move(buffer));
}

void ScratchPool::Shelf::give_back(std::unique_ptr<int8_t[]> buffer) {
  std::lock_guard<std::mutex> lock(mutex);
  free.push_back(std::move(buffer));
}

Plan::Plan(int input_depth, Quantization input, Quantization output,
           std::vector<std::unique_ptr<Layer>> layers, QuantizeFn quantize, int num_threads,
           Standardization standardization)
    : input_depth_(input_depth), output_depth_(input_depth), max_depth_(input_depth),
      input_(input), output_(output), layers_(std::move(layers)), quantize_(quantize),
      standardization_(std::move(standardization)) {
  const size_t depth = static_cast<size_t>(std::max(input_depth, 0));
  if (standardizes() && (standardization_.mean.size() != depth || standardization_.std.size() != depth))
    throw std::invalid_argument("standardization needs one mean and one std per input value");
  for (size_t k = 0; k < standardization_.std.size(); ++k)
    if (!std::isfinite(standardization_.mean[k]) || !(standardization_.std[k] > 0) ||
        !std::isfinite(standardization_.std[k]))
      throw std::invalid_argument("standardization needs finite means and finite stds > 0");
  for (const auto& layer : layers_) {
    if (layer->input_depth() != output_depth_)
      throw std::invalid_argument("layer input depth " + std::to_string(layer->input_depth()) +
                                  " does not follow the previous depth " +
                                  std::to_string(output_depth_));
    output_depth_ = layer->output_depth();
    max_depth_ = std::max(max_depth_, output_depth_);
    macs_per_row_ += layer->macs_per_row();
  }
  if (max_depth_ < 1 || output_depth_ < 1 || input_depth_ < 1)
    throw std::invalid_argument("every tensor of the plan needs at least one value per row");
  if (num_threads < 1) throw std::invalid_argument("num_threads must be >= 1");
  pool_tile_rows_ = std::max<int64_t>(1, std::min(kMaxTileRows, kPoolBufferBytes / max_depth_));
  scratch_.set_size(static_cast<size_t>(2 * pool_tile_rows_ * max_depth_));
  if (num_threads > 1) pool_ = std::make_unique<ThreadPool>(num_threads);
}

template <typename In>
int64_t Plan::run_rows(const In* input, int64_t begin, int64_t end, float* output) const {
  alignas(64) int8_t stack_a[kStackBytes], stack_b[kStackBytes];
  int8_t* a = stack_a;
  int8_t* b = stack_b;
  int64_t tile = kStackBytes / max_depth_;
  ScratchPool::Lease lease;
  if (tile < std::min(end - begin, pool_tile_rows_)) {
    lease = scratch_.borrow();
    tile = pool_tile_rows_;
    a = lease.get();
    b = a + tile * max_depth_;
  }
  for (int64_t row = begin; row < end; row += tile) {
    const int rows = static_cast<int>(std::min(tile, end - row));
    const int8_t* current;
    if constexpr (std::is_same_v<In, float>) {
      const int64_t bad = quantize_input(input + row * input_depth_, rows, a);
      if (bad >= 0) return row + bad;
      current = a;
    } else {
      current = input + row * input_depth_;
    }
    for (const auto& layer : layers_) {
      int8_t* next = current == a ? b : a;
      layer->run(current, rows, next);
      current = next;
    }
    dequantize(current, rows * output_depth_, output_, output + row * output_depth_);
  }
  return -1;
}

int64_t Plan::quantize_input(const float* x, int64_t rows, int8_t* out) const {
  const int depth = input_depth_;
  bool finite = true;
  if (!standardizes()) {
    // The rows are contiguous: one call quantizes them all (no per-row tails).
    finite = quantize_(x, static_cast<int>(rows * depth), input_.scale, input_.zero_point, out);
  } else {
    // Through a small stack buffer: exactly NumPy's float32 np.subtract then np.divide (a true
    // division, no reciprocal; -ffast-math would break it), so every backend gets the same bits.
    constexpr int kChunk = 1024;
    alignas(64) float standardized[kChunk];
    const float* mean = standardization_.mean.data();
    const float* std = standardization_.std.data();
    for (int64_t r = 0; r < rows; ++r) {
      for (int k0 = 0; k0 < depth; k0 += kChunk) {
        const int n = std::min(kChunk, depth - k0);
        const float* row = x + r * depth + k0;
        for (int k = 0; k < n; ++k) standardized[k] = (row[k] - mean[k0 + k]) / std[k0 + k];
        finite &= quantize_(standardized, n, input_.scale, input_.zero_point, out + r * depth + k0);
      }
    }
  }
  if (finite) return -1;
  for (int64_t r = 0; rows > 1; ++r)  // rare: find the first row holding NaN or Inf
    if (quantize_input(x + r * depth, 1, out + r * depth) >= 0) return r;
  return 0;
}

template <typename In>
int64_t Plan::run_parallel(const In* input, int64_t rows, float* output) const {
  if (num_threads() == 1 || rows * std::max<int64_t>(macs_per_row_, 1) < kMinMacsToSplit)
    return run_rows(input, 0, rows, output);
  const int64_t tasks = std::min<int64_t>(int64_t{num_threads()} * kTasksPerThread,
                                          (rows + kMinRowsPerTask - 1) / kMinRowsPerTask);
  struct Context {
    const Plan* plan;
    const In* input;
    float* output;
    int64_t rows;
    int chunks;
    std::atomic<int64_t> first_bad;
  } context{this, input, output, rows, static_cast<int>(tasks), {rows}};
  pool_->run(context.chunks, [](void* p, int chunk) {
    auto* c = static_cast<Context*>(p);
    const int64_t begin = c->rows * chunk / c->chunks, end = c->rows * (chunk + 1) / c->chunks;
    const int64_t bad = c->plan->run_rows(c->input, begin, end, c->output);
    if (bad < 0) return;
    int64_t seen = c->first_bad.load();
    while (bad < seen && !c->first_bad.compare_exchange_weak(seen, bad)) {
    }
  }, &context);
  const int64_t bad = context.first_bad.load();
  return bad < rows ? bad : -1;
}

int64_t Plan::run(const float* input, int64_t rows, float* output) const {
  return run_parallel(input, rows, output);
}

void Plan::run(const int8_t* input, int64_t rows, float* output) const {
  run_parallel(input, rows, output);
}

std::vector<int> Plan::tensor_depths() const {
  std::vector<int> depths{input_depth_};
  for (const auto& layer : layers_) depths.push_back(layer->output_depth());
  return depths;
}

std::vector<std::vector<int8_t>> Plan::trace(const int8_t* input, int64_t rows) const {
  std::vector<std::vector<int8_t>> tensors;
  tensors.emplace_back(input, input + rows * input_depth_);
  for (const auto& layer : layers_) {
    std::vector<int8_t> next(rows * layer->output_depth());
    if (rows > 0) layer->run(tensors.back().data(), static_cast<int>(rows), next.data());
    tensors.push_back(std::move(next));
  }
  return tensors;
}

}  // namespace pyedge
