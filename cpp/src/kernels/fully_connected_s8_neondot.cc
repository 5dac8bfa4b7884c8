// The dotprod FullyConnected kernel for armv8.2-a and later (Raspberry Pi 5's Cortex-A76,
// Neoverse N1, ...): sdot (vdotq_laneq_s32) sums 4 int8 x int8 products into each int32 lane,
// exactly, for any int8 operands (no int16 intermediate, so no -128 trap). Register-blocked MR
// rows x NB blocks of 4 output channels, up to 4 x 16 (XNNPACK's 4x16c4 shape).
// Only this file is compiled for armv8.2-a+dotprod (CMakeLists.txt); dispatch
// (kernel_registry.cc) calls it only when AT_HWCAP reports HWCAP_ASIMDDP, so a Pi 4 never
// executes an instruction from here.
//
// Arithmetic (bit exact with fully_connected_s8_scalar.cc, in int32 modulo 2^32 like it):
//   acc = (bias - input_zero_point * sum_k w) + sum_k w*x
// with the bracket folded into the packed bias once; the raw activations are multiplied.
//
// Weight layout (packed once at construction): output channels in blocks of 4, blocks in
// panels of up to 4 (16 channels). Per panel, for each group g of 4 consecutive k, the NB
// blocks' 16-byte vectors follow each other:
//   weights[panel_first * k_groups + g * nb + b].bytes[4*c + j] = w[4*(panel_first + b) + c][4g + j]
// which is the order the microkernel reads them. K is padded to a multiple of 4 and N to a
// multiple of 4 with zeros. Each row's input is read 16 bytes (4 groups) at a time, one group
// per lane of vdotq_laneq_s32; the last partial 16 bytes go through a zeroed stack buffer, so
// no byte past a row is read.
#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "pyedge/fully_connected.h"
#include "requantize_s8_neon.h"

namespace pyedge {
namespace {

// The accumulators must live in registers: unroll every loop over tile rows and blocks.
#if defined(__clang__)
#define PYEDGE_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define PYEDGE_UNROLL _Pragma("GCC unroll 16")
#else
#define PYEDGE_UNROLL
#endif

constexpr int kPanelBlocks = 4;  // 16 channels per tile
constexpr int kTileRows = 4;     // 16 accumulators + 4 weights + 4 inputs of 32 q registers
constexpr int kRowChunk = 16;    // rows whose inputs stay in L1 while every panel passes

struct alignas(16) WeightVector {
  int8_t bytes[16];
};

struct TileArgs {
  const int8_t* input;          // first row of the tile
  int k;                        // K, also the input row stride
  int k_chunks_full;            // K / 16
  int k_tail;                   // K % 16
  const WeightVector* weights;  // the panel
  const NeonRequantBlock* params;  // the panel's first block
  int8_t* output;               // row 0, first channel of the panel
  int n;                        // N, the output row stride
  int valid_channels;           // channels of this panel that exist, <= NB*4
  int32x4_t output_zero_point;
  int8x16_t act_min, act_max;
};

// The last `count` (< 16) bytes of a row, zero padded, without reading past them.
inline int8x16_t load_tail(const int8_t* x, int count) {
  int8_t staged[16] = {};
  std::memcpy(staged, x, count);
  return vld1q_s8(staged);
}

// One group of 4 k (lane G of each row's input vector) for every row and block of the tile.
template <int G, int MR, int NB>
inline void accumulate_group(int32x4_t (&acc)[MR][NB], const WeightVector* w, const int8x16_t (&x)[MR]) {
  int8x16_t wv[NB];
  PYEDGE_UNROLL
  for (int b = 0; b < NB; ++b) wv[b] = vld1q_s8(w[b].bytes);
  PYEDGE_UNROLL
  for (int r = 0; r < MR; ++r) {
    PYEDGE_UNROLL
    for (int b = 0; b < NB; ++b) acc[r][b] = vdotq_laneq_s32(acc[r][b], wv[b], x[r], G);
  }
}

template <int MR, int NB>
void run_tile(const TileArgs& a) {
  int32x4_t acc[MR][NB];
  PYEDGE_UNROLL
  for (int b = 0; b < NB; ++b) {
    const int32x4_t bias = vld1q_s32(a.params[b].bias);
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) acc[r][b] = bias;
  }
  const WeightVector* w = a.weights;
  const int8_t* x = a.input;
  int8x16_t xv[MR];
  for (int j = 0; j < a.k_chunks_full; ++j, x += 16, w += 4 * NB) {
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) xv[r] = vld1q_s8(x + static_cast<size_t>(r) * a.k);
    accumulate_group<0>(acc, w, xv);
    accumulate_group<1>(acc, w + NB, xv);
    accumulate_group<2>(acc, w + 2 * NB, xv);
    accumulate_group<3>(acc, w + 3 * NB, xv);
  }
  if (a.k_tail) {
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) xv[r] = load_tail(x + static_cast<size_t>(r) * a.k, a.k_tail);
    // Only the groups the packed weights hold: ceil(k_tail / 4) of them.
    accumulate_group<0>(acc, w, xv);
    if (a.k_tail > 4) accumulate_group<1>(acc, w + NB, xv);
    if (a.k_tail > 8) accumulate_group<2>(acc, w + 2 * NB, xv);
    if (a.k_tail > 12) accumulate_group<3>(acc, w + 3 * NB, xv);
  }

  PYEDGE_UNROLL
  for (int r = 0; r < MR; ++r) {
    int32x4_t y[4];
    PYEDGE_UNROLL
    for (int b = 0; b < NB; ++b) y[b] = requantize_neon(acc[r][b], a.params[b], a.output_zero_point);
    PYEDGE_UNROLL
    for (int b = NB; b < 4; ++b) y[b] = y[0];  // lanes that are never stored
    const int8x16_t bytes = narrow_clamp_16(y[0], y[1], y[2], y[3], a.act_min, a.act_max);
    int8_t* out = a.output + static_cast<size_t>(r) * a.n;
    if (a.valid_channels == 16) {
      vst1q_s8(out, bytes);
    } else {
      int8_t staged[16];
      vst1q_s8(staged, bytes);
      for (int c = 0; c < a.valid_channels; ++c) out[c] = staged[c];
    }
  }
}

using TileFunction = void (*)(const TileArgs&);

// kTiles[nb - 1][mr - 1]
constexpr TileFunction kTiles[kPanelBlocks][kTileRows] = {
    {&run_tile<1, 1>, &run_tile<2, 1>, &run_tile<3, 1>, &run_tile<4, 1>},
    {&run_tile<1, 2>, &run_tile<2, 2>, &run_tile<3, 2>, &run_tile<4, 2>},
    {&run_tile<1, 3>, &run_tile<2, 3>, &run_tile<3, 3>, &run_tile<4, 3>},
    {&run_tile<1, 4>, &run_tile<2, 4>, &run_tile<3, 4>, &run_tile<4, 4>},
};

class FullyConnectedNeonDot final : public FullyConnected {
 public:
  explicit FullyConnectedNeonDot(const FullyConnectedParams& p)
      : k_(p.input_depth), n_(p.output_depth),
        k_groups_((k_ + 3) / 4), blocks_((n_ + kNeonBlock - 1) / kNeonBlock),
        output_zero_point_(p.output_zero_point),
        act_min_(static_cast<int8_t>(std::max(p.activation_min, -128))),
        act_max_(static_cast<int8_t>(std::min(p.activation_max, 127))),
        weights_(static_cast<size_t>(k_groups_) * blocks_), params_(blocks_) {
    for (int block = 0; block < blocks_; ++block) {
      const int panel_first = block / kPanelBlocks * kPanelBlocks;
      const int nb = std::min(kPanelBlocks, blocks_ - panel_first);
      WeightVector* panel = weights_.data() + static_cast<size_t>(panel_first) * k_groups_;
      for (int c = 0; c < kNeonBlock; ++c) {
        const int n = block * kNeonBlock + c;
        const bool valid = n < n_;
        int64_t weight_sum = 0;
        if (valid) {
          const int8_t* w = p.weights + static_cast<size_t>(n) * k_;
          for (int k = 0; k < k_; ++k) {
            panel[static_cast<size_t>(k / 4) * nb + (block - panel_first)].bytes[4 * c + k % 4] = w[k];
            weight_sum += w[k];
          }
        }
        set_neon_channel(params_[block], c, valid, valid && p.bias ? p.bias[n] : 0, weight_sum,
                         p.input_zero_point, valid ? p.multiplier[n] : 0, valid ? p.shift[n] : 0);
      }
    }
  }

  void run(const int8_t* input, int rows, int8_t* output) const override {
    TileArgs a;
    a.k = k_;
    a.k_chunks_full = k_ / 16;
    a.k_tail = k_ % 16;
    a.n = n_;
    a.output_zero_point = vdupq_n_s32(output_zero_point_);
    a.act_min = vdupq_n_s8(act_min_);
    a.act_max = vdupq_n_s8(act_max_);
    for (int row0 = 0; row0 < rows; row0 += kRowChunk) {
      const int chunk_rows = std::min(kRowChunk, rows - row0);
      for (int block = 0; block < blocks_; block += kPanelBlocks) {
        const int nb = std::min(kPanelBlocks, blocks_ - block);
        a.weights = weights_.data() + static_cast<size_t>(block) * k_groups_;
        a.params = params_.data() + block;
        a.valid_channels = std::min(nb * kNeonBlock, n_ - block * kNeonBlock);
        for (int r = 0; r < chunk_rows; r += kTileRows) {
          const int m = std::min(kTileRows, chunk_rows - r);
          a.input = input + static_cast<size_t>(row0 + r) * k_;
          a.output = output + static_cast<size_t>(row0 + r) * n_ + block * kNeonBlock;
          kTiles[nb - 1][m - 1](a);
        }
      }
    }
  }

 private:
  int k_, n_, k_groups_, blocks_;
  int32_t output_zero_point_;
  int8_t act_min_, act_max_;
  std::vector<WeightVector> weights_;  // panel-major, see the layout at the top
  std::vector<NeonRequantBlock> params_;
};

}  // namespace

std::unique_ptr<FullyConnected> make_fully_connected_neondot(const FullyConnectedParams& params) {
  return std::make_unique<FullyConnectedNeonDot>(params);
}

}  // namespace pyedge
