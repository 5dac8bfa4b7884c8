// The Intel AMX FullyConnected kernel: tdpbssd (s8 x s8 -> int32, 16x16 int32 outputs over 64
// k per instruction, exact, no saturation, no +128 trick). Compiled with -mamx-tile -mamx-int8
// and the AVX-512 flags (for requantization); dispatch (kernel_registry.cc) calls it only when
// CpuFeatures::amx, which includes the Linux permission to use the tile data state.
//
// Arithmetic (bit exact with fully_connected_s8_scalar.cc, int32 modulo 2^32 like its loop):
//   acc = (bias - input_zero_point * sum_k w) + sum_k w*x
// The first term is folded per channel at construction; tdpbssd computes the second on the raw
// int8 activations. Padded k (to a multiple of 64) and padded channels (to a multiple of 32)
// have weight 0, so whatever activation bytes sit there contribute nothing.
//
// Tiles: tmm0..3 = C (int32, up to 16 rows x 16 channels each), tmm4..5 = A (16 rows x 64 k of
// activations each), tmm6..7 = B (64 k x 16 channels each). One block = 32 rows x 32 channels,
// 4 tdpbssd per 64 k.
//
// Weight layout (packed once): blocks of 32 channels; per block, per chunk of 64 k, two 1 KB B
// tiles (channels 0-15, 16-31) in AMX's VNNI order: row g (k = 64c + 4g .. +3) holds 16
// channels x 4 bytes: byte [g*64 + 4*ch + j] = w[n0 + 16t + ch][64c + 4g + j].
//
// Small calls (rows < min_amx_rows()) go to an AVX-512 VNNI instance of the same layer: see the
// threshold below.
#include "avx512_intrinsics.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "pyedge/fully_connected.h"
#include "requantize_s8_avx512.h"

namespace pyedge {
namespace {

constexpr int kTileRows = 16;        // rows of an A or C tile (the AMX maximum)
constexpr int kChunk = 64;           // k per A tile row: the 64-byte AMX maximum
constexpr int kBlockRows = 32;       // 2 A tiles
constexpr int kBlockChannels = 32;   // 2 B tiles

// When the AVX-512 VNNI kernel is faster. Each tdpbssd costs about the same however few rows its
// tile has, and one block of <= 16 rows has only 2 independent accumulator chains, so small row
// counts pay a fixed cost that VNNI does not. Measured on Sapphire Rapids, 1 thread, rows from
// which AMX wins: K x N = 784x256: 2, 256x128: 4, 100x64: 12, 64x32: 16, 128x10: 16; 32x10:
// never (K padded to 64 and N to 32 leave 16 % of the MACs useful).
int min_amx_rows(int k, int n) {
  const int64_t macs = int64_t{k} * n;
  const int64_t padded = int64_t{(k + 63) / 64 * 64} * ((n + 31) / 32 * 32);
  if (macs * 4 < padded) return 1 << 30;  // under 1/4 useful MACs: always VNNI
  return macs >= (1 << 17) ? 2 : macs >= (1 << 15) ? 4 : 16;
}

struct alignas(64) WeightTile {
  int8_t bytes[kTileRows * 64];  // 16 rows of 4 k x 16 channels
};

// The 64-byte operand of ldtilecfg (Intel SDM, "TILECFG"): palette 1, per-tile rows and bytes
// per row.
struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Tiles for a block of rows0 (1..16) + rows1 (0..16) rows. A tile with 0 rows stays
// unconfigured and is never touched.
inline void configure_tiles(int rows0, int rows1) {
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  const int tile_rows[8] = {rows0, rows0, rows1, rows1, rows0, rows1, 16, 16};
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = static_cast<uint8_t>(tile_rows[t]);
    cfg.colsb[t] = tile_rows[t] ? 64 : 0;
  }
  _tile_loadconfig(&cfg);
}

// acc[32][32] (row stride 32 int32) = x * w for the block; rows 16..31 only when kTwo.
// x: the block's first row, stride k; its first full_chunks chunks of 64 k are read in place,
// the last partial chunk (if any) from `tail` (row stride 64, zero padded).
template <bool kTwo>
inline void multiply_block(const int8_t* x, int k, int full_chunks, const int8_t* tail,
                           const WeightTile* w, int32_t* acc) {
  _tile_zero(0);
  _tile_zero(1);
  if (kTwo) {
    _tile_zero(2);
    _tile_zero(3);
  }
  const int8_t* x1 = x + static_cast<size_t>(kTileRows) * k;
  for (int c = 0; c < full_chunks; ++c, w += 2) {
    _tile_loadd(6, w[0].bytes, 64);
    _tile_loadd(7, w[1].bytes, 64);
    _tile_loadd(4, x + c * kChunk, k);
    _tile_dpbssd(0, 4, 6);
    _tile_dpbssd(1, 4, 7);
    if (kTwo) {
      _tile_loadd(5, x1 + c * kChunk, k);
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    }
  }
  if (tail) {
    _tile_loadd(6, w[0].bytes, 64);
    _tile_loadd(7, w[1].bytes, 64);
    _tile_loadd(4, tail, kChunk);
    _tile_dpbssd(0, 4, 6);
    _tile_dpbssd(1, 4, 7);
    if (kTwo) {
      _tile_loadd(5, tail + kTileRows * kChunk, kChunk);
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    }
  }
  constexpr int stride = kBlockChannels * sizeof(int32_t);
  _tile_stored(0, acc, stride);
  _tile_stored(1, acc + 16, stride);
  if (kTwo) {
    _tile_stored(2, acc + kTileRows * kBlockChannels, stride);
    _tile_stored(3, acc + kTileRows * kBlockChannels + 16, stride);
  }
}

class FullyConnectedAmx final : public FullyConnected {
 public:
  explicit FullyConnectedAmx(const FullyConnectedParams& p)
      : k_(p.input_depth), n_(p.output_depth),
        chunks_((k_ + kChunk - 1) / kChunk), full_chunks_(k_ / kChunk), k_tail_(k_ % kChunk),
        n_blocks_((n_ + kBlockChannels - 1) / kBlockChannels),
        output_zero_point_(p.output_zero_point),
        act_min_(static_cast<int8_t>(std::max(p.activation_min, -128))),
        act_max_(static_cast<int8_t>(std::min(p.activation_max, 127))),
        weights_(static_cast<size_t>(n_blocks_) * chunks_ * 2),
        params_(static_cast<size_t>(n_blocks_) * 2),
        min_amx_rows_(min_amx_rows(k_, n_)), small_(make_fully_connected_avx512vnni(p)) {
    for (int n = 0; n < n_blocks_ * kBlockChannels; ++n) {
      const int block = n / kBlockChannels, t = n % kBlockChannels / 16, ch = n % 16;
      int64_t weight_sum = 0;
      if (n < n_) {
        const int8_t* w = p.weights + static_cast<size_t>(n) * k_;
        for (int k = 0; k < k_; ++k) {
          const int c = k / kChunk, g = k % kChunk / 4, j = k % 4;
          weights_[(static_cast<size_t>(block) * chunks_ + c) * 2 + t].bytes[g * 64 + 4 * ch + j] = w[k];
          weight_sum += w[k];
        }
      }
      const bool valid = n < n_;
      set_channel_params(params_[n / 16], ch, valid, valid && p.bias ? p.bias[n] : 0, weight_sum,
                         p.input_zero_point, valid ? p.multiplier[n] : 0, valid ? p.shift[n] : 0,
                         output_zero_point_);
    }
  }

  void run(const int8_t* input, int rows, int8_t* output) const override {
    if (rows < min_amx_rows_) {
      small_->run(input, rows, output);
      return;
    }
    alignas(64) int8_t tail[kBlockRows * kChunk];
    alignas(64) int32_t acc[kBlockRows * kBlockChannels];
    if (k_tail_) std::memset(tail, 0, sizeof tail);  // the padding bytes stay 0
    const __m512i zp = _mm512_set1_epi32(output_zero_point_);
    const __m512i act_min = _mm512_set1_epi8(act_min_), act_max = _mm512_set1_epi8(act_max_);
    // Channel order after packs_epi32 + packs_epi16 (which work per 128-bit lane).
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
    int configured = -1;
    for (int r0 = 0; r0 < rows; r0 += kBlockRows) {
      const int mb = std::min(kBlockRows, rows - r0);
      const int rows0 = std::min(kTileRows, mb), rows1 = mb - rows0;
      if (mb != configured) {  // only the last block of rows may differ
        configure_tiles(rows0, rows1);
        configured = mb;
      }
      const int8_t* x = input + static_cast<size_t>(r0) * k_;
      // The last partial chunk of k is copied so that no tile load reads past the input.
      if (k_tail_) {
        for (int r = 0; r < mb; ++r)
          std::memcpy(tail + r * kChunk, x + static_cast<size_t>(r) * k_ + full_chunks_ * kChunk,
                      k_tail_);
      }
      const int8_t* tail_or_null = k_tail_ ? tail : nullptr;
      for (int block = 0; block < n_blocks_; ++block) {
        const WeightTile* w = weights_.data() + static_cast<size_t>(block) * chunks_ * 2;
        if (rows1)
          multiply_block<true>(x, k_, full_chunks_, tail_or_null, w, acc);
        else
          multiply_block<false>(x, k_, full_chunks_, tail_or_null, w, acc);
        const BlockParams& p0 = params_[2 * block];
        const BlockParams& p1 = params_[2 * block + 1];
        const __m512i bias0 = _mm512_load_si512(p0.bias), bias1 = _mm512_load_si512(p1.bias);
        const int valid = std::min(kBlockChannels, n_ - block * kBlockChannels);
        const __mmask32 mask = valid >= 32 ? ~__mmask32{0} : (__mmask32{1} << valid) - 1;
        int8_t* out = output + static_cast<size_t>(r0) * n_ + block * kBlockChannels;
        for (int r = 0; r < mb; ++r, out += n_) {
          const int32_t* a = acc + r * kBlockChannels;
          const __m512i y0 =
              requantize_block(_mm512_add_epi32(_mm512_load_si512(a), bias0), p0, zp);
          const __m512i y1 =
              requantize_block(_mm512_add_epi32(_mm512_load_si512(a + 16), bias1), p1, zp);
          // Saturating narrowing then the activation clamp equals clamping the int32 value,
          // because the activation range lies inside [-128, 127].
          const __m512i words = _mm512_packs_epi32(y0, y1);
          __m512i bytes = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(words, words));
          bytes = _mm512_min_epi8(_mm512_max_epi8(bytes, act_min), act_max);
          _mm256_mask_storeu_epi8(out, mask, _mm512_castsi512_si256(bytes));
        }
      }
    }
    _tile_release();
  }

 private:
  int k_, n_, chunks_, full_chunks_, k_tail_, n_blocks_;
  int32_t output_zero_point_;
  int8_t act_min_, act_max_;
  std::vector<WeightTile> weights_;   // [block][chunk][2], see the layout at the top
  std::vector<BlockParams> params_;   // one per 16 channels
  int min_amx_rows_;                       // see min_amx_rows()
  std::unique_ptr<FullyConnected> small_;  // the VNNI kernel, for rows < min_amx_rows_
};

}  // namespace

std::unique_ptr<FullyConnected> make_fully_connected_amx(const FullyConnectedParams& params) {
  return std::make_unique<FullyConnectedAmx>(params);
}

}  // namespace pyedge
