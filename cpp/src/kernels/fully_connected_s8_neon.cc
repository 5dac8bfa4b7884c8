// The NEON FullyConnected kernel for the ARM baselines: armv7-a with NEON (32-bit Raspberry Pi
// OS, Pi 2 and later) and armv8-a (64-bit, Pi 3 and 4: Cortex-A53/A72, no dotprod).
// On aarch64 it is baseline code; on 32-bit ARM this file alone is compiled with -mfpu=neon
// and dispatch (kernel_registry.cc) calls it only when AT_HWCAP reports HWCAP_NEON.
//
// Inner product, 16 k at a time (the scheme of ruy's and gemmlowp's NEON int8 kernels):
//   vmull_s8 multiplies 8 int8 pairs into int16, vmlal_s8 adds the next 8 products to them,
//   vpadalq_s16 adds adjacent int16 pairs into the int32 accumulator. Two products share an
//   int16 lane, which is exact only while |w| <= 127: 2 * 127 * 128 = 32512 < 2^15, whereas
//   2 * (-128) * (-128) = 32768 overflows (docs/arithmetic.md, "SIMD traps"). TFLite's int8 weights are
//   in [-127, 127]; a layer that nevertheless holds a -128 weight gets the variant that pads
//   each product into int32 on its own (kPairs = false), slower but exact for any int8.
// Each (row, channel) accumulator holds 4 partial sums, added horizontally at the end of the
// tile; MR rows x 4 channels per tile (aarch64 4 x 4: 16 accumulators of 32 q registers;
// armv7 2 x 4, since it has 16 q registers).
//
// Arithmetic (bit exact with fully_connected_s8_scalar.cc, in int32 modulo 2^32 like it):
//   acc = (bias - input_zero_point * sum_k w) + sum_k w*x
// The bracket is folded into the packed bias once, so the raw activations are multiplied.
//
// Weight layout (packed once at construction): output channels in blocks of 4; per block, for
// each chunk j of 16 consecutive k, the 4 channels' 16-byte vectors follow each other:
//   weights[(block * k_chunks + j) * 4 + c].bytes[i] = w[4*block + c][16j + i]
// K is padded to a multiple of 16 and N to a multiple of 4 with zeros. The last partial chunk
// of each input row is copied into a zeroed stack buffer, so no byte past a row is read.
#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "pyedge/fully_connected.h"
#include "requantize_s8_neon.h"

namespace pyedge {
namespace {

// The accumulators must live in registers: unroll every loop over tile rows and channels.
#if defined(__clang__)
#define PYEDGE_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define PYEDGE_UNROLL _Pragma("GCC unroll 16")
#else
#define PYEDGE_UNROLL
#endif

constexpr int kChunk = 16;  // k per weight vector
#if defined(__aarch64__)
constexpr int kTileRows = 4;
#else
constexpr int kTileRows = 2;
#endif
constexpr int kRowChunk = 16;  // rows whose inputs stay in L1 while every block passes over them

struct alignas(16) WeightVector {
  int8_t bytes[kChunk];
};

// acc (4 partial sums of one channel) += the 16 products w[i] * x[i].
template <bool kPairs>
inline int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t x) {
  const int16x8_t low = vmull_s8(vget_low_s8(w), vget_low_s8(x));
  if (kPairs) {
#if defined(__aarch64__)
    return vpadalq_s16(acc, vmlal_high_s8(low, w, x));
#else
    return vpadalq_s16(acc, vmlal_s8(low, vget_high_s8(w), vget_high_s8(x)));
#endif
  }
  return vpadalq_s16(vpadalq_s16(acc, low), vmull_s8(vget_high_s8(w), vget_high_s8(x)));
}

// {sum(a), sum(b), sum(c), sum(d)}
inline int32x4_t reduce4(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
#if defined(__aarch64__)
  return vpaddq_s32(vpaddq_s32(a, b), vpaddq_s32(c, d));
#else
  const int32x2_t sa = vadd_s32(vget_low_s32(a), vget_high_s32(a));
  const int32x2_t sb = vadd_s32(vget_low_s32(b), vget_high_s32(b));
  const int32x2_t sc = vadd_s32(vget_low_s32(c), vget_high_s32(c));
  const int32x2_t sd = vadd_s32(vget_low_s32(d), vget_high_s32(d));
  return vcombine_s32(vpadd_s32(sa, sb), vpadd_s32(sc, sd));
#endif
}

// The last `count` (< 16) bytes of a row, zero padded, without reading past them.
inline int8x16_t load_tail(const int8_t* x, int count) {
  int8_t staged[kChunk] = {};
  std::memcpy(staged, x, count);
  return vld1q_s8(staged);
}

struct TileArgs {
  const int8_t* input;          // first row of the tile
  int k;                        // K, also the input row stride
  int k_chunks_full;            // K / 16
  int k_tail;                   // K % 16
  const WeightVector* weights;  // the block's first vector
  const NeonRequantBlock* params;
  int8_t* output;               // row 0, first channel of the block
  int n;                        // N, the output row stride
  int valid_channels;           // channels of this block that exist, <= 4
  int32x4_t output_zero_point;
  int8x8_t act_min, act_max;
};

template <int MR, bool kPairs>
void run_tile(const TileArgs& a) {
  int32x4_t acc[MR][kNeonBlock];
  PYEDGE_UNROLL
  for (int r = 0; r < MR; ++r) {
    PYEDGE_UNROLL
    for (int c = 0; c < kNeonBlock; ++c) acc[r][c] = vdupq_n_s32(0);
  }
  const WeightVector* w = a.weights;
  const int8_t* x = a.input;
  for (int j = 0; j < a.k_chunks_full; ++j, w += kNeonBlock, x += kChunk) {
    int8x16_t wv[kNeonBlock];
    PYEDGE_UNROLL
    for (int c = 0; c < kNeonBlock; ++c) wv[c] = vld1q_s8(w[c].bytes);
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) {
      const int8x16_t xv = vld1q_s8(x + static_cast<size_t>(r) * a.k);
      PYEDGE_UNROLL
      for (int c = 0; c < kNeonBlock; ++c) acc[r][c] = dot16<kPairs>(acc[r][c], wv[c], xv);
    }
  }
  if (a.k_tail) {
    int8x16_t wv[kNeonBlock];
    PYEDGE_UNROLL
    for (int c = 0; c < kNeonBlock; ++c) wv[c] = vld1q_s8(w[c].bytes);
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) {
      const int8x16_t xv = load_tail(x + static_cast<size_t>(r) * a.k, a.k_tail);
      PYEDGE_UNROLL
      for (int c = 0; c < kNeonBlock; ++c) acc[r][c] = dot16<kPairs>(acc[r][c], wv[c], xv);
    }
  }

  const int32x4_t bias = vld1q_s32(a.params->bias);
  PYEDGE_UNROLL
  for (int r = 0; r < MR; ++r) {
    const int32x4_t sums = vaddq_s32(reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]), bias);
    const int32x4_t y = requantize_neon(sums, *a.params, a.output_zero_point);
    // Saturating narrowing then the clamp equals clamping the int32 value (the activation
    // range lies inside [-128, 127]).
    const int16x4_t words = vqmovn_s32(y);
    int8x8_t bytes = vqmovn_s16(vcombine_s16(words, words));
    bytes = vmin_s8(vmax_s8(bytes, a.act_min), a.act_max);
    int8_t staged[8];
    vst1_s8(staged, bytes);
    int8_t* out = a.output + static_cast<size_t>(r) * a.n;
    if (a.valid_channels == kNeonBlock) {
      std::memcpy(out, staged, kNeonBlock);
    } else {
      for (int c = 0; c < a.valid_channels; ++c) out[c] = staged[c];
    }
  }
}

using TileFunction = void (*)(const TileArgs&);

template <bool kPairs>
constexpr TileFunction tile_function(int mr) {
#if defined(__aarch64__)
  return mr == 4 ? &run_tile<4, kPairs> : mr == 3 ? &run_tile<3, kPairs>
       : mr == 2 ? &run_tile<2, kPairs> : &run_tile<1, kPairs>;
#else
  return mr == 2 ? &run_tile<2, kPairs> : &run_tile<1, kPairs>;
#endif
}

class FullyConnectedNeon final : public FullyConnected {
 public:
  explicit FullyConnectedNeon(const FullyConnectedParams& p)
      : k_(p.input_depth), n_(p.output_depth),
        k_chunks_((k_ + kChunk - 1) / kChunk), blocks_((n_ + kNeonBlock - 1) / kNeonBlock),
        output_zero_point_(p.output_zero_point),
        act_min_(static_cast<int8_t>(std::max(p.activation_min, -128))),
        act_max_(static_cast<int8_t>(std::min(p.activation_max, 127))),
        weights_(static_cast<size_t>(blocks_) * k_chunks_ * kNeonBlock), params_(blocks_) {
    bool has_minus_128 = false;
    for (int block = 0; block < blocks_; ++block) {
      WeightVector* packed = weights_.data() + static_cast<size_t>(block) * k_chunks_ * kNeonBlock;
      for (int c = 0; c < kNeonBlock; ++c) {
        const int n = block * kNeonBlock + c;
        const bool valid = n < n_;
        int64_t weight_sum = 0;
        if (valid) {
          const int8_t* w = p.weights + static_cast<size_t>(n) * k_;
          for (int k = 0; k < k_; ++k) {
            packed[static_cast<size_t>(k / kChunk) * kNeonBlock + c].bytes[k % kChunk] = w[k];
            weight_sum += w[k];
            has_minus_128 = has_minus_128 || w[k] == -128;
          }
        }
        set_neon_channel(params_[block], c, valid, valid && p.bias ? p.bias[n] : 0, weight_sum,
                         p.input_zero_point, valid ? p.multiplier[n] : 0, valid ? p.shift[n] : 0);
      }
    }
    for (int mr = 1; mr <= kTileRows; ++mr)
      tiles_[mr - 1] = has_minus_128 ? tile_function<false>(mr) : tile_function<true>(mr);
  }

  void run(const int8_t* input, int rows, int8_t* output) const override {
    TileArgs a;
    a.k = k_;
    a.k_chunks_full = k_ / kChunk;
    a.k_tail = k_ % kChunk;
    a.n = n_;
    a.output_zero_point = vdupq_n_s32(output_zero_point_);
    a.act_min = vdup_n_s8(act_min_);
    a.act_max = vdup_n_s8(act_max_);
    for (int row0 = 0; row0 < rows; row0 += kRowChunk) {
      const int chunk_rows = std::min(kRowChunk, rows - row0);
      for (int block = 0; block < blocks_; ++block) {
        a.weights = weights_.data() + static_cast<size_t>(block) * k_chunks_ * kNeonBlock;
        a.params = &params_[block];
        a.valid_channels = std::min(kNeonBlock, n_ - block * kNeonBlock);
        for (int r = 0; r < chunk_rows; r += kTileRows) {
          const int m = std::min(kTileRows, chunk_rows - r);
          a.input = input + static_cast<size_t>(row0 + r) * k_;
          a.output = output + static_cast<size_t>(row0 + r) * n_ + block * kNeonBlock;
          tiles_[m - 1](a);
        }
      }
    }
  }

 private:
  int k_, n_, k_chunks_, blocks_;
  int32_t output_zero_point_;
  int8_t act_min_, act_max_;
  std::vector<WeightVector> weights_;  // block-major, see the layout at the top
  std::vector<NeonRequantBlock> params_;
  TileFunction tiles_[kTileRows];  // by tile height - 1; the -128-safe variants if needed
};

}  // namespace

std::unique_ptr<FullyConnected> make_fully_connected_neon(const FullyConnectedParams& params) {
  return std::make_unique<FullyConnectedNeon>(params);
}

}  // namespace pyedge
