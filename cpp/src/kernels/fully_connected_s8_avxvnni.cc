// The AVX-VNNI FullyConnected kernel: VEX-encoded 256-bit vpdpbusd (u8 x s8 -> int32, 4
// products summed per lane, no saturation), register-blocked MR rows x NB blocks of 8 output
// channels. For CPUs with AVX2 + AVX-VNNI and no AVX-512 (Alder Lake-N N100/N97, Alder/Raptor
// Lake). Compiled with -mavx2 -mfma -mavxvnni only, so no EVEX/zmm instruction can appear;
// dispatch (kernel_registry.cc) calls it only on CPUs that report AVX-VNNI.
//
// Arithmetic: the AVX-512 VNNI kernel's (fully_connected_s8_avx512vnni.cc), bit exact with
// fully_connected_s8_scalar.cc, in int32 modulo 2^32:
//   the weights are stored unsigned, u = w + 128 in [0, 255], the raw int8 activations are the
//   signed operand, so sum_k u*x = sum_k w*x + 128*sum_k x and
//     acc = (bias - input_zero_point*sum_k w) + sum_k u*x - 128*sum_k x
//   The bracket is folded into the packed bias once; -128*sum_k x is one number per input row,
//   added when the accumulators are initialised. Padded k positions have u = 0.
// Requantization is the AVX2 kernel's (requantize_s8_avx2.h).
//
// Weight layout (packed once at construction): output channels in blocks of 8, blocks in
// panels of up to 2 (16 channels). Per panel, for each group g of 4 consecutive k, the NB
// blocks' 32-byte vectors follow each other: byte [(g*NB + b)*32 + 4*c + j] = u[n0+8b+c][4g+j],
// the order the microkernel reads them. K is padded to a multiple of 4 and N to a multiple of
// 8 with u = 0.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "pyedge/fully_connected.h"
#include "pack_weights_u8c4.h"
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
constexpr int kPanelBlocks = 2;        // 16 channels per tile
constexpr int kRegisters = 16;         // ymm0-15: no AVX-512, no ymm16-31
constexpr int kRowChunk = 24;          // rows whose row sums are computed together; divisible
                                       // by every tile height below and by the 8 rows
                                       // row_corrections() handles
static_assert(kRowChunk % 6 == 0 && kRowChunk % 12 == 0 && kRowChunk % 8 == 0, "see above");

// MR*NB accumulators + NB weight vectors + 1 broadcast fit in 16 ymm: 6x2 uses 15.
constexpr int tile_rows(int nb) { return nb == 2 ? 6 : 12; }

// vpdpbusd has a latency of ~5 cycles and two issue ports, so ~10 independent accumulator
// chains keep it busy. Small tiles (row tails, batch 1) split K over several accumulator sets,
// summed at the end, as many as the 16 registers hold.
constexpr int k_splits(int mr, int nb) {
  int s = mr * nb >= 10 ? 1 : mr * nb >= 5 ? 2 : 4;
  while (s > 1 && s * mr * nb + nb + 1 > kRegisters) --s;
  return s;
}

struct alignas(32) WeightVector {
  uint8_t bytes[32];
};

struct TileArgs {
  const int8_t* input;            // first row of the tile
  int k;                          // K, also the input row stride
  int k_groups_full;              // K / 4
  int k_tail;                     // K % 4
  const WeightVector* weights;    // the panel
  const BlockParams* params;      // the panel's first block
  const int32_t* row_correction;  // -128 * sum_k x, per tile row
  int8_t* output;                 // row 0, first channel of the panel
  int n;                          // N, the output row stride
  int valid_channels;             // channels of this panel that exist, <= NB*8
  __m256i output_zero_point;
  __m128i act_min, act_max;       // the activation range, as bytes
};

// acc += the u8 x s8 dot products of each group of 4 bytes. As with the 512-bit form, GCC
// copies accumulators between registers around the intrinsic in unrolled tiles, so with GCC
// the instruction is stated directly, its accumulator tied in place. "{vex}" (escaped as
// %{vex%}: braces are asm dialect alternatives) forces the VEX
// encoding (AVX-VNNI); "x" restricts operands to ymm0-15, which VEX can encode.
inline void dot_accumulate(__m256i& acc, __m256i u8, __m256i s8) {
#if defined(__GNUC__) && !defined(__clang__)
  __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u8), "x"(s8));
#else
  acc = _mm256_dpbusd_avx_epi32(acc, u8, s8);
#endif
}

inline __m256i broadcast_group(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

// The last 1..3 bytes of a row, without reading past them (the row may end the input).
inline __m256i broadcast_tail(const int8_t* p, int count) {
  // Spelled out: GCC vectorizes the equivalent loop into much dead code in every tile.
  uint32_t v = static_cast<uint8_t>(p[0]);
  if (count > 1) v |= uint32_t{static_cast<uint8_t>(p[1])} << 8;
  if (count > 2) v |= uint32_t{static_cast<uint8_t>(p[2])} << 16;
  return _mm256_set1_epi32(static_cast<int32_t>(v));
}

// One group of 4 k for every row and block of the tile.
template <int MR, int NB>
inline void accumulate_group(__m256i (&acc)[MR][NB], const WeightVector* w, const int8_t* x, int k) {
  __m256i wv[NB];
  PYEDGE_UNROLL
  for (int b = 0; b < NB; ++b) wv[b] = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[b].bytes));
  PYEDGE_UNROLL
  for (int r = 0; r < MR; ++r) {
    const __m256i xv = broadcast_group(x + static_cast<size_t>(r) * k);
    PYEDGE_UNROLL
    for (int b = 0; b < NB; ++b) dot_accumulate(acc[r][b], wv[b], xv);
  }
}

template <int MR, int NB>
void run_tile(const TileArgs& a) {
  constexpr int S = k_splits(MR, NB);
  __m256i acc[S][MR][NB];
  PYEDGE_UNROLL
  for (int b = 0; b < NB; ++b) {
    const __m256i bias = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.params[b].bias));
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) {
      acc[0][r][b] = _mm256_add_epi32(bias, _mm256_set1_epi32(a.row_correction[r]));
      PYEDGE_UNROLL
      for (int s = 1; s < S; ++s) acc[s][r][b] = _mm256_setzero_si256();
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
    __m256i wv[NB];
    PYEDGE_UNROLL
    for (int b = 0; b < NB; ++b) wv[b] = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[b].bytes));
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) {
      const __m256i xv = broadcast_tail(x + static_cast<size_t>(r) * a.k, a.k_tail);
      PYEDGE_UNROLL
      for (int b = 0; b < NB; ++b) dot_accumulate(acc[0][r][b], wv[b], xv);
    }
  }
  PYEDGE_UNROLL
  for (int s = 1; s < S; ++s) {
    PYEDGE_UNROLL
    for (int r = 0; r < MR; ++r) {
      PYEDGE_UNROLL
      for (int b = 0; b < NB; ++b) acc[0][r][b] = _mm256_add_epi32(acc[0][r][b], acc[s][r][b]);
    }
  }

  PYEDGE_UNROLL
  for (int r = 0; r < MR; ++r) {
    const __m256i y0 = requantize_block(acc[0][r][0], a.params[0], a.output_zero_point);
    const __m256i y1 = NB > 1 ? requantize_block(acc[0][r][NB - 1], a.params[NB - 1], a.output_zero_point) : y0;
    // packs works within 128-bit lanes: reorder the 64-bit quarters to y0[0..7], y1[0..7].
    const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(y0, y1), 0xD8);
    __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    // Saturating narrowing then the clamp equals clamping the int32 value: the activation
    // range lies inside [-128, 127].
    bytes = _mm_min_epi8(_mm_max_epi8(bytes, a.act_min), a.act_max);
    int8_t* out = a.output + static_cast<size_t>(r) * a.n;
    if (NB == 2 && a.valid_channels >= 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
    } else if (NB == 1 && a.valid_channels >= 8) {
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out), bytes);
    } else {
      alignas(16) int8_t staged[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(staged), bytes);
      std::memcpy(out, staged, a.valid_channels);
    }
  }
}

using TileFunction = void (*)(const TileArgs&);

// kTiles[nb - 1][mr - 1] runs an mr x nb tile, for every mr up to tile_rows(nb).
template <int NB, int... MR>
constexpr std::array<TileFunction, 12> tiles_of(std::integer_sequence<int, MR...>) {
  return {{&run_tile<MR + 1, NB>...}};
}
constexpr std::array<std::array<TileFunction, 12>, 2> kTiles = {{
    tiles_of<1>(std::make_integer_sequence<int, tile_rows(1)>()),
    tiles_of<2>(std::make_integer_sequence<int, tile_rows(2)>()),
}};

// Per-lane partial sums of one row's bytes (sum_k x[k] is the sum of the 8 lanes), via
// vpdpbusd with all-ones as the unsigned operand.
inline __m256i row_partial_sums(const int8_t* x, int k) {
  const __m256i ones = _mm256_set1_epi8(1);
  __m256i sum = _mm256_setzero_si256();
  int i = 0;
  for (; i + 32 <= k; i += 32)
    sum = _mm256_dpbusd_avx_epi32(sum, ones, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
  if (i < k && k >= 32) {
    // AVX2 has no byte-masked load: load the row's last 32 bytes and give the ones the bytes
    // already counted a weight of 0 (a memcpy call per row cost ~5 % at K = 100).
    const __m256i lane = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                          17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    const __m256i fresh = _mm256_and_si256(_mm256_cmpgt_epi8(lane, _mm256_set1_epi8(static_cast<char>(31 - (k - i)))), ones);
    sum = _mm256_dpbusd_avx_epi32(sum, fresh, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + k - 32)));
  } else if (i < k) {  // a row shorter than a vector: copy it, never reading past it
    alignas(32) int8_t tail[32] = {};
    std::memcpy(tail, x + i, k - i);
    sum = _mm256_dpbusd_avx_epi32(sum, ones, _mm256_load_si256(reinterpret_cast<const __m256i*>(tail)));
  }
  return sum;
}

// out[r] = -128 * sum_k x[r][k] for `count` <= 8 rows (out has room for 8), the 8 rows' partial sums reduced
// together by a horizontal-add tree (7 hadds + 3 ops instead of ~5 ops per row).
inline void row_corrections(const int8_t* x, int k, int count, int32_t* out) {
  // |sum_k x| <= 128*K, so -128 * sum fits int32 for K < 2^17.
  if (count == 1) {  // batch 1: the tree would reduce 7 zero vectors
    const __m256i s = row_partial_sums(x, k);
    __m128i v = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
    out[0] = -128 * _mm_cvtsi128_si32(v);
    return;
  }
  __m256i v[8];
  PYEDGE_UNROLL
  for (int r = 0; r < 8; ++r)
    v[r] = r < count ? row_partial_sums(x + static_cast<size_t>(r) * k, k) : _mm256_setzero_si256();
  // Each 128-bit lane of h0123 holds rows 0..3's sums over that lane's half; likewise h4567.
  const __m256i h0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  const __m256i h4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
  const __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                                        _mm256_permute2x128_si256(h0123, h4567, 0x31));
  // All 8 lanes are stored (the caller's array has room: kRowChunk is a multiple of 8); the
  // lanes past `count` are never read. A memcpy of count*4 bytes became `rep movsq`, ~9 % of
  // the seed model's time.
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                      _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sums, 7)));
}

class FullyConnectedAvxVnni final : public FullyConnected {
 public:
  explicit FullyConnectedAvxVnni(const FullyConnectedParams& p)
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
    a.output_zero_point = _mm256_set1_epi32(output_zero_point_);
    a.act_min = _mm_set1_epi8(act_min_);
    a.act_max = _mm_set1_epi8(act_max_);
    int32_t row_correction[kRowChunk];
    for (int row0 = 0; row0 < rows; row0 += kRowChunk) {
      const int chunk_rows = std::min(kRowChunk, rows - row0);
      const int8_t* chunk_input = input + static_cast<size_t>(row0) * k_;
      for (int r = 0; r < chunk_rows; r += 8)
        row_corrections(chunk_input + static_cast<size_t>(r) * k_, k_, std::min(8, chunk_rows - r),
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

std::unique_ptr<FullyConnected> make_fully_connected_avxvnni(const FullyConnectedParams& params) {
  return std::make_unique<FullyConnectedAvxVnni>(params);
}

}  // namespace pyedge
