// The AVX2 FullyConnected kernel: int16 pairs through vpmaddwd, register-blocked 4 rows x
// 2 blocks of 8 output channels. Compiled with -mavx2 -mfma only; dispatch
// (kernel_registry.cc) calls it only on CPUs that report AVX2.
//
// Why vpmaddwd and not vpmaddubsw: vpmaddubsw adds two u8*s8 products into a *saturating*
// int16, which 2*255*127 overflows (docs/arithmetic.md, "SIMD traps"). Here both operands are
// sign-extended int8 in int16 and vpmaddwd sums each pair into int32: |pair| <= 2*128*127, exact.
//
// Arithmetic (bit exact with fully_connected_s8_scalar.cc, in int32 modulo 2^32 like it):
//   acc = (bias - input_zero_point * sum_k w) + sum_k w*x
// The bracket is folded into the packed bias once, so the activations are only sign-extended,
// never shifted by the zero point.
//
// Weight layout (packed once at construction): output channels in blocks of 8, blocks in
// panels of up to 2 (16 channels). Per panel, for each pair p of consecutive k, the NB blocks'
// 32-byte vectors follow each other: int16 [(p*NB + b)*16 + 2c + j] = w[n0+8b+c][2p+j], the
// order the microkernel reads them. K is padded to even and N to a multiple of 8 with zeros.
//
// Activations: each tile of rows is sign-extended into an int16 stack buffer (zero padded to an
// even length), from which one int32 (= one k pair) is broadcast per row and step. Layers with
// K > kChunk are converted chunk by chunk, so the buffer size is fixed and run() never allocates.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "pyedge/fully_connected.h"
#include "requantize_s8_avx2.h"

namespace pyedge {
namespace {

// The accumulators must live in registers: unroll every loop over tile rows and blocks.
#if defined(__clang__)
#define PYEDGE_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define PYEDGE_UNROLL _Pragma("GCC unroll 32")
#else
#define PYEDGE_UNROLL
#endif

constexpr int kBlock = kRequantBlock;  // output channels per ymm of int32 accumulators
constexpr int kPanelBlocks = 2;  // 16 channels per tile
constexpr int kTileRows = 4;     // 8 accumulators + 2 weights + broadcast + product: 12 ymm
constexpr int kChunk = 1024;     // k values per row in the int16 buffer (even)

struct alignas(32) WeightVector {
  int16_t values[16];
};

// Sign-extends rows [0, rows) x k [k0, k0 + count) into buffer rows of kChunk int16, padding
// an odd count with one zero so every k pair is complete. Reads nothing outside the rows.
void widen_rows(const int8_t* input, int k, int rows, int k0, int count, int16_t* buffer) {
  for (int r = 0; r < rows; ++r) {
    const int8_t* x = input + static_cast<size_t>(r) * k + k0;
    int16_t* out = buffer + r * kChunk;
    int i = 0;
    for (; i + 16 <= count; i += 16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
    }
    for (; i < count; ++i) out[i] = x[i];
    if (count % 2) out[count] = 0;
  }
}

struct TileArgs {
  const int8_t* input;          // first row of the tile
  int k;                        // K, also the input row stride
  int16_t* buffer;              // kTileRows x kChunk int16
  bool widened;                 // the buffer already holds the tile (K <= kChunk)
  const WeightVector* weights;  // the panel
  const BlockParams* params;    // the panel's first block
  int8_t* output;               // row 0, first channel of the panel
  int n;                        // N, the output row stride
  int valid_channels;           // channels of this panel that exist, <= NB*8
  __m256i output_zero_point;
  __m128i act_min, act_max;     // the activation range, as bytes
};

template <int MR, int NB>
void run_tile(const TileArgs& a) {
  __m256i acc[MR][NB];
  PYEDGE_UNROLL
  for (int b = 0; b < NB; ++b) {
    const __m256i bias = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.params[b].bias));
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) acc[r][b] = bias;
  }
  const WeightVector* w = a.weights;
  for (int k0 = 0; k0 < a.k; k0 += kChunk) {
    const int count = std::min(kChunk, a.k - k0);
    if (!a.widened) widen_rows(a.input, a.k, MR, k0, count, a.buffer);
    const int pairs = (count + 1) / 2;
    for (int p = 0; p < pairs; ++p, w += NB) {
      __m256i wv[NB];
      PYEDGE_UNROLL
      for (int b = 0; b < NB; ++b) wv[b] = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[b].values));
      PYEDGE_UNROLL
      for (int r = 0; r < MR; ++r) {
        int32_t pair;
        std::memcpy(&pair, a.buffer + r * kChunk + 2 * p, sizeof pair);
        const __m256i xv = _mm256_set1_epi32(pair);
        PYEDGE_UNROLL
        for (int b = 0; b < NB; ++b) acc[r][b] = _mm256_add_epi32(acc[r][b], _mm256_madd_epi16(wv[b], xv));
      }
    }
  }

  PYEDGE_UNROLL
  for (int r = 0; r < MR; ++r) {
    const __m256i y0 = requantize_block(acc[r][0], a.params[0], a.output_zero_point);
    const __m256i y1 = NB > 1 ? requantize_block(acc[r][NB - 1], a.params[NB - 1], a.output_zero_point) : y0;
    // packs works within 128-bit lanes: reorder the 64-bit quarters to y0[0..7], y1[0..7].
    const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(y0, y1), 0xD8);
    __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    // Saturating narrowing then the clamp equals clamping the int32 value: the activation
    // range lies inside [-128, 127].
    bytes = _mm_min_epi8(_mm_max_epi8(bytes, a.act_min), a.act_max);
    int8_t* out = a.output + static_cast<size_t>(r) * a.n;
    if (a.valid_channels >= 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
    } else {
      alignas(16) int8_t staged[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(staged), bytes);
      std::memcpy(out, staged, a.valid_channels);
    }
  }
}

using TileFunction = void (*)(const TileArgs&);

// kTiles[nb - 1][mr - 1]
constexpr TileFunction kTiles[kPanelBlocks][kTileRows] = {
    {&run_tile<1, 1>, &run_tile<2, 1>, &run_tile<3, 1>, &run_tile<4, 1>},
    {&run_tile<1, 2>, &run_tile<2, 2>, &run_tile<3, 2>, &run_tile<4, 2>},
};

class FullyConnectedAvx2 final : public FullyConnected {
 public:
  explicit FullyConnectedAvx2(const FullyConnectedParams& p)
      : k_(p.input_depth), n_(p.output_depth),
        k_pairs_((k_ + 1) / 2), blocks_((n_ + kBlock - 1) / kBlock),
        output_zero_point_(p.output_zero_point),
        act_min_(static_cast<int8_t>(std::max(p.activation_min, -128))),
        act_max_(static_cast<int8_t>(std::min(p.activation_max, 127))),
        weights_(static_cast<size_t>(k_pairs_) * blocks_), params_(blocks_) {
    for (int block = 0; block < blocks_; ++block) {
      const int panel_first = block / kPanelBlocks * kPanelBlocks;
      const int nb = std::min(kPanelBlocks, blocks_ - panel_first);
      WeightVector* panel = weights_.data() + static_cast<size_t>(panel_first) * k_pairs_;
      BlockParams& bp = params_[block];
      for (int c = 0; c < kBlock; ++c) {
        const int n = block * kBlock + c;
        int64_t weight_sum = 0;
        if (n < n_) {
          const int8_t* w = p.weights + static_cast<size_t>(n) * k_;
          for (int k = 0; k < k_; ++k) {
            panel[static_cast<size_t>(k / 2) * nb + (block - panel_first)].values[2 * c + k % 2] = w[k];
            weight_sum += w[k];
          }
        }
        set_channel_params(bp, c, n < n_, n < n_ && p.bias ? p.bias[n] : 0, weight_sum,
                           p.input_zero_point, n < n_ ? p.multiplier[n] : 0,
                           n < n_ ? p.shift[n] : 0, output_zero_point_);
      }
    }
  }

  void run(const int8_t* input, int rows, int8_t* output) const override {
    alignas(32) int16_t buffer[kTileRows * kChunk];
    TileArgs a;
    a.k = k_;
    a.n = n_;
    a.buffer = buffer;
    a.widened = k_ <= kChunk;
    a.output_zero_point = _mm256_set1_epi32(output_zero_point_);
    a.act_min = _mm_set1_epi8(act_min_);
    a.act_max = _mm_set1_epi8(act_max_);
    for (int row0 = 0; row0 < rows; row0 += kTileRows) {
      const int m = std::min(kTileRows, rows - row0);
      a.input = input + static_cast<size_t>(row0) * k_;
      if (a.widened) widen_rows(a.input, k_, m, 0, k_, buffer);  // once for all panels
      for (int block = 0; block < blocks_; block += kPanelBlocks) {
        const int nb = std::min(kPanelBlocks, blocks_ - block);
        a.weights = weights_.data() + static_cast<size_t>(block) * k_pairs_;
        a.params = params_.data() + block;
        a.output = output + static_cast<size_t>(row0) * n_ + block * kBlock;
        a.valid_channels = std::min(nb * kBlock, n_ - block * kBlock);
        kTiles[nb - 1][m - 1](a);
      }
    }
  }

 private:
  int k_, n_, k_pairs_, blocks_;
  int32_t output_zero_point_;
  int8_t act_min_, act_max_;
  std::vector<WeightVector> weights_;  // panel-major, see the layout at the top
  std::vector<BlockParams> params_;
};

}  // namespace

std::unique_ptr<FullyConnected> make_fully_connected_avx2(const FullyConnectedParams& params) {
  return std::make_unique<FullyConnectedAvx2>(params);
}

}  // namespace pyedge
