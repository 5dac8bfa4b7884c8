// The AVX-512 VNNI FullyConnected kernel: vpdpbusd (u8 x s8 -> int32, 4 products summed per
// lane, no saturation), register-blocked MR rows x NB blocks of 16 output channels.
// Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni only; dispatch
// (kernel_registry.cc) calls it only on CPUs that report those features.
//
// Arithmetic (bit exact with fully_connected_s8_scalar.cc, all in int32 modulo 2^32 like the
// scalar loop):
//   vpdpbusd needs one unsigned operand. The weights take that role as u = w + 128 (in [0, 255]
//   for any int8 w), the raw activations stay signed, so the inner loop has no per-element
//   fix-up: sum_k u*x = sum_k w*x + 128*sum_k x. Hence
//     acc = bias - input_zero_point*sum_k w + sum_k u*x - 128*sum_k x
//   where (bias - input_zero_point*sum_k w) is folded into the packed bias once, and
//   -128*sum_k x is one number per input row, added when the accumulators are initialised.
//   (The alternative, u8 activations x ^ 0x80, costs one vector ALU op per broadcast in the
//   inner loop; on Sapphire Rapids vpdpbusd zmm issues on p0 and p5, so that op steals
//   multiply slots.) Padded k positions have u = 0, so whatever sits in the activation bytes
//   there contributes nothing.
//
// Weight layout (packed once at construction): output channels in blocks of 16, blocks in
// panels of up to 4 (64 channels). Per panel, for each group g of 4 consecutive k, the NB
// blocks' 64-byte vectors follow each other: byte [(g*NB + b)*64 + 4*c + j] = u[n0+16b+c][4g+j].
// That is exactly the order the microkernel reads them. K is padded to a multiple of 4 and N to
// a multiple of 16 with u = 0.
#include "avx512_intrinsics.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "pyedge/fully_connected.h"
#include "pack_weights_u8c4.h"
#include "requantize_s8_avx512.h"

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

constexpr int kBlock = kRequantBlock;  // output channels per zmm of int32 accumulators
constexpr int kPanelBlocks = 4;    // blocks per panel: 64 channels per tile
constexpr int kRowChunk = 48;      // rows whose row sums are computed together; divisible by
                                   // every tile height below (so only the last chunk has a
                                   // tail) and by the 16 rows row_corrections() handles

// Tile heights: MR*NB accumulators + NB weight vectors + 1 broadcast stay within 32 zmm
// (6x4 measured best of 4x4, 5x4, 6x4 on Sapphire Rapids: 364 GMAC/s at K=784, N=256).
constexpr int tile_rows(int nb) { return nb == 4 ? 6 : nb == 3 ? 8 : nb == 2 ? 12 : 16; }

// vpdpbusd has a latency of ~5 cycles and two issue ports, so ~10 independent accumulator
// chains keep it busy. Small tiles (the row tails, batch 1) split K over several accumulator
// sets, summed at the end.
constexpr int k_splits(int accumulators) { return accumulators >= 10 ? 1 : accumulators >= 5 ? 2 : 4; }

struct alignas(64) WeightVector {
  uint8_t bytes[64];
};

// The arguments of one tile call, gathered so the dispatch table holds one signature.
struct TileArgs {
  const int8_t* input;          // first row of the tile
  int k;                        // K, also the input row stride
  int k_groups_full;            // K / 4
  int k_tail;                   // K % 4
  const WeightVector* weights;  // the panel
  const BlockParams* params;    // the panel's first block
  const int32_t* row_correction;  // -128 * sum_k x, per tile row
  int8_t* output;               // row 0, first channel of the panel
  int n;                        // N, the output row stride
  int valid_channels;           // channels of this panel that exist, <= NB*16
  __m512i output_zero_point;    // int32 lanes, for blocks on the general path
  __m512i act_min, act_max;     // the activation range, as bytes
};

// acc += the u8 x s8 dot products of each group of 4 bytes. GCC 12 copies accumulators
// between registers around the vpdpbusd intrinsic in the unrolled 6x4 tile (measured at
// K=784, N=256: 165 GMAC/s with the intrinsic, 365 with this), so with GCC the instruction is
// stated directly, its accumulator tied in place.
inline void dot_accumulate(__m512i& acc, __m512i u8, __m512i s8) {
#if defined(__GNUC__) && !defined(__clang__)
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
#else
  acc = _mm512_dpbusd_epi32(acc, u8, s8);
#endif
}

inline __m512i broadcast_group(const int8_t* p) {
  return _mm512_broadcastd_epi32(_mm_loadu_si32(p));
}

// The last 1..3 bytes of a row, without reading past them (the row may end the input).
inline __m512i broadcast_tail(const int8_t* p, int count) {
  uint32_t v = 0;
  for (int j = 0; j < count; ++j) v |= uint32_t{static_cast<uint8_t>(p[j])} << (8 * j);
  return _mm512_set1_epi32(static_cast<int32_t>(v));
}

// One group of 4 k for every row and block of the tile.
template <int MR, int NB>
inline void accumulate_group(__m512i (&acc)[MR][NB], const WeightVector* w, const int8_t* x, int k) {
  __m512i wv[NB];
  PYEDGE_UNROLL
  for (int b = 0; b < NB; ++b) wv[b] = _mm512_load_si512(w[b].bytes);
  PYEDGE_UNROLL
  for (int r = 0; r < MR; ++r) {
    const __m512i xv = broadcast_group(x + static_cast<size_t>(r) * k);
    PYEDGE_UNROLL
    for (int b = 0; b < NB; ++b) dot_accumulate(acc[r][b], wv[b], xv);
  }
}

template <int MR, int NB>
void run_tile(const TileArgs& a) {
  constexpr int S = k_splits(MR * NB);
  __m512i acc[S][MR][NB];
  PYEDGE_UNROLL
  for (int b = 0; b < NB; ++b) {
    const __m512i bias = _mm512_load_si512(a.params[b].bias);
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) {
      acc[0][r][b] = _mm512_add_epi32(bias, _mm512_set1_epi32(a.row_correction[r]));
      PYEDGE_UNROLL
      for (int s = 1; s < S; ++s) acc[s][r][b] = _mm512_setzero_si512();
    }
  }
  const WeightVector* w = a.weights;
  const int8_t* x = a.input;
  int g = 0;
  for (; g + S <= a.k_groups_full; g += S, w += S * NB, x += 4 * S) {
    PYEDGE_UNROLL
    for (int s = 0; s < S; ++s) accumulate_group<MR, NB>(acc[s], w + s * NB, x + 4 * s, a.k);
  }
  for (; g < a.k_groups_full; ++g, w += NB, x += 4) accumulate_group<MR, NB>(acc[0], w, x, a.k);
  if (a.k_tail) {
    __m512i wv[NB];
    PYEDGE_UNROLL
    for (int b = 0; b < NB; ++b) wv[b] = _mm512_load_si512(w[b].bytes);
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) {
      const __m512i xv = broadcast_tail(x + static_cast<size_t>(r) * a.k, a.k_tail);
      PYEDGE_UNROLL
      for (int b = 0; b < NB; ++b) dot_accumulate(acc[0][r][b], wv[b], xv);
    }
  }
  PYEDGE_UNROLL
  for (int s = 1; s < S; ++s) {
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) {
      PYEDGE_UNROLL
      for (int b = 0; b < NB; ++b) acc[0][r][b] = _mm512_add_epi32(acc[0][r][b], acc[s][r][b]);
    }
  }

  const uint64_t store_mask =
      a.valid_channels >= 64 ? ~uint64_t{0} : (uint64_t{1} << a.valid_channels) - 1;
  PYEDGE_UNROLL
  for (int r = 0; r < MR; ++r) {
    int8_t* out = a.output + static_cast<size_t>(r) * a.n;
    if constexpr (NB == 1) {
      // Saturating narrowing then the activation clamp equals clamping the int32 value,
      // because the activation range lies inside [-128, 127].
      __m128i bytes = _mm512_cvtsepi32_epi8(requantize_block(acc[0][r][0], a.params[0], a.output_zero_point));
      bytes = _mm_min_epi8(_mm_max_epi8(bytes, _mm512_castsi512_si128(a.act_min)),
                           _mm512_castsi512_si128(a.act_max));
      _mm_mask_storeu_epi8(out, static_cast<__mmask16>(store_mask), bytes);
    } else {
      __m512i y[4];
      PYEDGE_UNROLL
      for (int b = 0; b < NB; ++b) y[b] = requantize_block(acc[0][r][b], a.params[b], a.output_zero_point);
      PYEDGE_UNROLL
      for (int b = NB; b < 4; ++b) y[b] = y[0];  // lanes that are never stored
      // Saturating packs work within 128-bit lanes: lane i ends up holding channels
      // 4i..4i+3 of y0, y1, y2, y3; the permute restores channel order.
      const __m512i words01 = _mm512_packs_epi32(y[0], y[1]);
      const __m512i words23 = _mm512_packs_epi32(y[2], y[3]);
      __m512i bytes = _mm512_packs_epi16(words01, words23);
      bytes = _mm512_permutexvar_epi32(
          _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0), bytes);
      bytes = _mm512_min_epi8(_mm512_max_epi8(bytes, a.act_min), a.act_max);
      _mm512_mask_storeu_epi8(out, store_mask, bytes);
    }
  }
}

using TileFunction = void (*)(const TileArgs&);

// kTiles[nb - 1][mr - 1] runs an mr x nb tile, for every mr up to tile_rows(nb).
template <int NB, int... MR>
constexpr std::array<TileFunction, 16> tiles_of(std::integer_sequence<int, MR...>) {
  return {{&run_tile<MR + 1, NB>...}};
}
constexpr std::array<std::array<TileFunction, 16>, 4> kTiles = {{
    tiles_of<1>(std::make_integer_sequence<int, tile_rows(1)>()),
    tiles_of<2>(std::make_integer_sequence<int, tile_rows(2)>()),
    tiles_of<3>(std::make_integer_sequence<int, tile_rows(3)>()),
    tiles_of<4>(std::make_integer_sequence<int, tile_rows(4)>()),
}};

// Per-lane partial sums of one row's bytes (sum_k x[k] is the sum of the 16 lanes), via
// vpdpbusd with all-ones as the unsigned operand.
inline __m512i row_partial_sums(const int8_t* x, int k) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i sum = _mm512_setzero_si512();
  int i = 0;
  for (; i + 64 <= k; i += 64) sum = _mm512_dpbusd_epi32(sum, ones, _mm512_loadu_si512(x + i));
  if (i < k) {  // a masked load does not touch (or fault on) the masked-off bytes
    const __mmask64 mask = (uint64_t{1} << (k - i)) - 1;
    sum = _mm512_dpbusd_epi32(sum, ones, _mm512_maskz_loadu_epi8(mask, x + i));
  }
  return sum;
}

// out[r] = -128 * sum_k x[r][k] for `count` <= 16 rows. The 16 rows' partial-sum vectors are
// reduced together (a transpose-and-add tree, 45 ops for 16 rows) instead of one horizontal
// reduction per row (~9 ops each): at K = 32..100 that made the layers 7-13 % faster.
inline void row_corrections(const int8_t* x, int k, int count, int32_t* out) {
  // |sum_k x| <= 128*K, so -128 * sum fits int32 for K < 2^17.
  if (count == 1) {  // batch 1: the tree would reduce 15 zero vectors
    out[0] = -128 * _mm512_reduce_add_epi32(row_partial_sums(x, k));
    return;
  }
  __m512i v[16];
  PYEDGE_UNROLL
  for (int r = 0; r < 16; ++r)
    v[r] = r < count ? row_partial_sums(x + static_cast<size_t>(r) * k, k) : _mm512_setzero_si512();
  // In every 128-bit lane: rows 2i, 2i+1 interleaved, then rows 4i..4i+3 in order.
  __m512i t[8], u[4];
  PYEDGE_UNROLL
  for (int i = 0; i < 8; ++i)
    t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                            _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  PYEDGE_UNROLL
  for (int i = 0; i < 4; ++i)
    u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                            _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
  // Across the 128-bit lanes: u[i] holds rows 4i..4i+3 in each; sum the four copies.
  const __m512i w0 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                      _mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i w1 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                      _mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i sums = _mm512_add_epi32(_mm512_shuffle_i32x4(w0, w1, _MM_SHUFFLE(2, 0, 2, 0)),
                                        _mm512_shuffle_i32x4(w0, w1, _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i correction = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sums, 7));
  _mm512_mask_storeu_epi32(out, static_cast<__mmask16>((1u << count) - 1), correction);
}

class FullyConnectedAvx512Vnni final : public FullyConnected {
 public:
  explicit FullyConnectedAvx512Vnni(const FullyConnectedParams& p)
      : k_(p.input_depth), n_(p.output_depth),
        k_groups_((k_ + 3) / 4), blocks_((n_ + kBlock - 1) / kBlock),
        output_zero_point_(p.output_zero_point),
        act_min_(static_cast<int8_t>(std::max(p.activation_min, -128))),
        act_max_(static_cast<int8_t>(std::min(p.activation_max, 127))) {
    pack_weights_u8c4<kBlock, kPanelBlocks>(p, weights_, params_);
  }

  void run(const int8_t* input, int rows, int8_t* output) const override {
    TileArgs a;
    a.k = k_;
    a.k_groups_full = k_ / 4;
    a.k_tail = k_ % 4;
    a.n = n_;
    a.output_zero_point = _mm512_set1_epi32(output_zero_point_);
    a.act_min = _mm512_set1_epi8(act_min_);
    a.act_max = _mm512_set1_epi8(act_max_);
    int32_t row_correction[kRowChunk];
    for (int row0 = 0; row0 < rows; row0 += kRowChunk) {
      const int chunk_rows = std::min(kRowChunk, rows - row0);
      const int8_t* chunk_input = input + static_cast<size_t>(row0) * k_;
      for (int r = 0; r < chunk_rows; r += 16)
        row_corrections(chunk_input + static_cast<size_t>(r) * k_, k_, std::min(16, chunk_rows - r),
                        row_correction + r);
      for (int block = 0; block < blocks_; block += kPanelBlocks) {
        const int nb = std::min(kPanelBlocks, blocks_ - block);
        const int mr = tile_rows(nb);
        a.weights = weights_.data() + static_cast<size_t>(block) * k_groups_;
        a.params = params_.data() + block;
        a.valid_channels = std::min(nb * kBlock, n_ - block * kBlock);
        for (int r = 0; r < chunk_rows; r += mr) {
          const int m = std::min(mr, chunk_rows - r);
          a.input = chunk_input + static_cast<size_t>(r) * k_;
          a.row_correction = row_correction + r;
          a.output = output + static_cast<size_t>(row0 + r) * n_ + block * kBlock;
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
  std::vector<BlockParams> params_;
};

}  // namespace

std::unique_ptr<FullyConnected> make_fully_connected_avx512vnni(const FullyConnectedParams& params) {
  return std::make_unique<FullyConnectedAvx512Vnni>(params);
}

}  // namespace pyedge
