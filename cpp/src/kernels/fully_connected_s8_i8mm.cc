// The i8mm FullyConnected kernel for armv8.6-a / armv8.2-a+i8mm CPUs (Neoverse N2/V1/V2,
// Cortex-A510/A710/X2 and later; not the Raspberry Pi 4 or 5): smmla (vmmlaq_s32) multiplies
// a 2x8 int8 block of two input rows by an 8x2 block of two output channels into a 2x2 int32
// block, 32 exact products per instruction (twice sdot's 16), for any int8 operands.
// Register-blocked MR <= 4 rows (2 row pairs) x NB blocks of 4 output channels, up to 4 x 16
// (16 accumulators, 8 weight and 2 input vectors of 32 q registers).
// Only this file is compiled for armv8.2-a+i8mm (CMakeLists.txt); dispatch
// (kernel_registry.cc) calls it only when AT_HWCAP2 reports HWCAP2_I8MM.
//
// Arithmetic (bit exact with fully_connected_s8_scalar.cc, in int32 modulo 2^32 like it):
//   acc = (bias - input_zero_point * sum_k w) + sum_k w*x
// with the bracket folded into the packed bias once; the raw activations are multiplied.
//
// Weight layout (packed once at construction): output channels in pairs, 4 channels (2 pairs)
// per block, blocks in panels of up to 4 (16 channels). Per panel, for each group g of 8
// consecutive k, the panel's 2*NB pair vectors follow each other:
//   weights[panel_first * 2 * k_groups + g * 2 * nb + q].bytes[8*h + j] = w[n0 + 2q + h][8g + j]
// (n0 the panel's first channel), which is the order the microkernel reads them. K is padded
// to a multiple of 8 and N to a multiple of 4 with zeros. The inputs of two rows are paired
// into one vector per group as they are read; an odd last row is paired with itself and the
// copy's results are dropped. A row's last partial group goes through a zeroed stack buffer,
// so no byte past a row is read.
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

constexpr int kGroup = 8;        // k per smmla operand row
constexpr int kPanelBlocks = 4;  // 16 channels per tile
constexpr int kTilePairs = 2;    // 4 rows per tile
constexpr int kRowChunk = 16;    // rows whose inputs stay in L1 while every panel passes

struct alignas(16) WeightVector {
  int8_t bytes[16];
};

struct TileArgs {
  const int8_t* input;          // first row of the tile
  int rows;                     // rows of the tile that exist, 1 .. 2 * MP
  int k;                        // K, also the input row stride
  int k_groups_full;            // K / 8
  int k_tail;                   // K % 8
  const WeightVector* weights;  // the panel
  const NeonRequantBlock* params;  // the panel's first block
  int8_t* output;               // row 0, first channel of the panel
  int n;                        // N, the output row stride
  int valid_channels;           // channels of this panel that exist, <= NB*4
  int32x4_t output_zero_point;
  int8x16_t act_min, act_max;
};

// The last `count` (< 8) bytes of a row, zero padded, without reading past them.
inline int8x8_t load_tail(const int8_t* x, int count) {
  int8_t staged[kGroup] = {};
  std::memcpy(staged, x, count);
  return vld1_s8(staged);
}

template <int MP, int NB>
void run_tile(const TileArgs& a) {
  // acc[p][q]: rows 2p, 2p+1 x channels 2q, 2q+1 as {r0c0, r0c1, r1c0, r1c1}
  int32x4_t acc[MP][2 * NB];
  PYEDGE_UNROLL
  for (int p = 0; p < MP; ++p) {
    PYEDGE_UNROLL
    for (int q = 0; q < 2 * NB; ++q) acc[p][q] = vdupq_n_s32(0);
  }
  const int8_t* row[2 * MP];
  PYEDGE_UNROLL
  for (int i = 0; i < 2 * MP; ++i) row[i] = a.input + static_cast<size_t>(std::min(i, a.rows - 1)) * a.k;
  const WeightVector* w = a.weights;
  int offset = 0;
  for (int g = 0; g < a.k_groups_full; ++g, w += 2 * NB, offset += kGroup) {
    int8x16_t wv[2 * NB];
    PYEDGE_UNROLL
    for (int q = 0; q < 2 * NB; ++q) wv[q] = vld1q_s8(w[q].bytes);
    PYEDGE_UNROLL
    for (int p = 0; p < MP; ++p) {
      const int8x16_t xv = vcombine_s8(vld1_s8(row[2 * p] + offset), vld1_s8(row[2 * p + 1] + offset));
      PYEDGE_UNROLL
      for (int q = 0; q < 2 * NB; ++q) acc[p][q] = vmmlaq_s32(acc[p][q], xv, wv[q]);
    }
  }
  if (a.k_tail) {
    int8x16_t wv[2 * NB];
    PYEDGE_UNROLL
    for (int q = 0; q < 2 * NB; ++q) wv[q] = vld1q_s8(w[q].bytes);
    PYEDGE_UNROLL
    for (int p = 0; p < MP; ++p) {
      const int8x16_t xv = vcombine_s8(load_tail(row[2 * p] + offset, a.k_tail),
                                       load_tail(row[2 * p + 1] + offset, a.k_tail));
      PYEDGE_UNROLL
      for (int q = 0; q < 2 * NB; ++q) acc[p][q] = vmmlaq_s32(acc[p][q], xv, wv[q]);
    }
  }

  PYEDGE_UNROLL
  for (int r = 0; r < 2 * MP; ++r) {
    if (r >= a.rows) break;
    const int p = r / 2;
    int32x4_t y[4];
    PYEDGE_UNROLL
    for (int b = 0; b < NB; ++b) {
      // Row r's 4 channels of block b: the r % 2 halves of the block's two pair accumulators.
      const int64x2_t lo = vreinterpretq_s64_s32(acc[p][2 * b]);
      const int64x2_t hi = vreinterpretq_s64_s32(acc[p][2 * b + 1]);
      const int32x4_t sums = vreinterpretq_s32_s64(r % 2 ? vzip2q_s64(lo, hi) : vzip1q_s64(lo, hi));
      y[b] = requantize_neon(vaddq_s32(sums, vld1q_s32(a.params[b].bias)), a.params[b],
                             a.output_zero_point);
    }
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

// kTiles[nb - 1][row pairs - 1]
constexpr TileFunction kTiles[kPanelBlocks][kTilePairs] = {
    {&run_tile<1, 1>, &run_tile<2, 1>},
    {&run_tile<1, 2>, &run_tile<2, 2>},
    {&run_tile<1, 3>, &run_tile<2, 3>},
    {&run_tile<1, 4>, &run_tile<2, 4>},
};

class FullyConnectedI8mm final : public FullyConnected {
 public:
  explicit FullyConnectedI8mm(const FullyConnectedParams& p)
      : k_(p.input_depth), n_(p.output_depth),
        k_groups_((k_ + kGroup - 1) / kGroup), blocks_((n_ + kNeonBlock - 1) / kNeonBlock),
        output_zero_point_(p.output_zero_point),
        act_min_(static_cast<int8_t>(std::max(p.activation_min, -128))),
        act_max_(static_cast<int8_t>(std::min(p.activation_max, 127))),
        weights_(static_cast<size_t>(k_groups_) * blocks_ * 2), params_(blocks_) {
    for (int block = 0; block < blocks_; ++block) {
      const int panel_first = block / kPanelBlocks * kPanelBlocks;
      const int nb = std::min(kPanelBlocks, blocks_ - panel_first);
      WeightVector* panel = weights_.data() + static_cast<size_t>(panel_first) * 2 * k_groups_;
      for (int c = 0; c < kNeonBlock; ++c) {
        const int n = block * kNeonBlock + c;
        const bool valid = n < n_;
        const int q = 2 * (block - panel_first) + c / 2;  // pair index within the panel
        int64_t weight_sum = 0;
        if (valid) {
          const int8_t* w = p.weights + static_cast<size_t>(n) * k_;
          for (int k = 0; k < k_; ++k) {
            panel[static_cast<size_t>(k / kGroup) * 2 * nb + q].bytes[kGroup * (c % 2) + k % kGroup] = w[k];
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
    a.k_groups_full = k_ / kGroup;
    a.k_tail = k_ % kGroup;
    a.n = n_;
    a.output_zero_point = vdupq_n_s32(output_zero_point_);
    a.act_min = vdupq_n_s8(act_min_);
    a.act_max = vdupq_n_s8(act_max_);
    for (int row0 = 0; row0 < rows; row0 += kRowChunk) {
      const int chunk_rows = std::min(kRowChunk, rows - row0);
      for (int block = 0; block < blocks_; block += kPanelBlocks) {
        const int nb = std::min(kPanelBlocks, blocks_ - block);
        a.weights = weights_.data() + static_cast<size_t>(block) * 2 * k_groups_;
        a.params = params_.data() + block;
        a.valid_channels = std::min(nb * kNeonBlock, n_ - block * kNeonBlock);
        for (int r = 0; r < chunk_rows; r += 2 * kTilePairs) {
          a.rows = std::min(2 * kTilePairs, chunk_rows - r);
          a.input = input + static_cast<size_t>(row0 + r) * k_;
          a.output = output + static_cast<size_t>(row0 + r) * n_ + block * kNeonBlock;
          kTiles[nb - 1][(a.rows + 1) / 2 - 1](a);
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

std::unique_ptr<FullyConnected> make_fully_connected_i8mm(const FullyConnectedParams& params) {
  return std::make_unique<FullyConnectedI8mm>(params);
}

}  // namespace pyedge
