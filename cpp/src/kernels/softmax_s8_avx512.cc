// AVX-512 int8 softmax: the same bytes as SoftmaxS8::run (see softmax_s8.h for the
// arithmetic, which is TFLite's reference_ops::Softmax<int8_t, int8_t>), only faster.
//
// Two layouts:
//  - depth <= kMaxLaneDepth: 16 rows per vector, one row per 32-bit lane (two vectors, 32
//    rows, per call), so the ~30 dependent multiplies of the reciprocal are paid once per 16
//    rows. Columns come in with 4-byte gathers (4 columns of 16 rows each) and go out with
//    4-byte scatters; exp values come from the 256-entry table by gather.
//  - deeper rows: one row at a time, 16 columns per vector; the reciprocal is computed
//    with the same vector code on a broadcast sum.
// Compiled with -mavx512f/bw/dq/vl/vnni only (no AVX512CD: no vplzcnt; see reciprocal()).
#include "avx512_intrinsics.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "pyedge/softmax_s8.h"

namespace pyedge {
namespace {

constexpr int kLanes = 16;
// Deeper rows use the per-row layout: the lane layout keeps ~3 * depth vectors (~12 KB at 64)
// on the stack.
constexpr int kMaxLaneDepth = 64;
// TFLITE_CHECK(exponent <= 31) holds iff the Q12.19 sum is below 2^28 (see softmax_s8.cc).
constexpr int64_t kSumLimit = int64_t{1} << 28;

// gemmlowp SaturatingRoundingDoublingHighMul per 32-bit lane: floor((a*b + 2^30) / 2^31)
// (softmax_s8.cc explains why that equals gemmlowp's nudge-and-truncate for either sign).
// a_odd, b_odd: a and b shifted down 32 bits (vpmuldq reads the low dword of each qword),
// passed in so that loops can hoist them. The one saturating case, INT32_MIN * INT32_MIN,
// is not handled: every call below has an operand that cannot be INT32_MIN.
inline __m512i srdhm(__m512i a, __m512i a_odd, __m512i b, __m512i b_odd) {
  const __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(a, b), nudge);
  const __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(a_odd, b_odd), nudge);
  // Bits 31..62 of each 64-bit sum: even ones shifted down to the low dword, odd ones up to
  // the high dword (the low dword of a right shift is the same logical or arithmetic).
  return _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
}

inline __m512i odd_lanes(__m512i v) { return _mm512_srli_epi64(v, 32); }

// Per lane: the row's reciprocal and exponent, in the form the output step uses.
struct RowScale {
  __m512i mul;        // shifted_scale (Q0.31, > 0)
  __m512i mul_odd;    // odd_lanes(mul)
  __m512i bias_even;  // per qword, for its even lane: 2^30 + 2^(exponent + 30)
  __m512i bias_odd;   // the same for the odd lane
  __m512i cnt_even;   // exponent + 31
  __m512i cnt_odd;    // exponent + 31 - 32: leaves the odd lane's result in the high dword
};

// TFLite GetReciprocal(sum, 12) and exponent = num_bits_over_unit + 31 - 8, per lane, for
// Q12.19 sums in [2^19, 2^28) (the max element alone gives 2^19; larger sums are the
// "sum too big" rows, which callers handle before the output step).
inline RowScale reciprocal(__m512i sum) {
  // floor(log2(sum)) without vplzcnt (AVX512CD): int -> float rounding toward zero never
  // carries into the next power of two, so the float's exponent field is exact.
  const __m512 f = _mm512_cvt_roundepi32_ps(sum, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512i log2 = _mm512_sub_epi32(_mm512_srli_epi32(_mm512_castps_si512(f), 23),
                                        _mm512_set1_epi32(127));
  const __m512i headroom_plus_one = _mm512_sub_epi32(_mm512_set1_epi32(31), log2);
  // shifted_sum_minus_one = (sum << headroom_plus_one) - 2^31: the top bit is set, so xor.
  const __m512i a = _mm512_xor_si512(_mm512_sllv_epi32(sum, headroom_plus_one),
                                     _mm512_set1_epi32(INT32_MIN));
  // one_over_one_plus_x_for_x_in_0_1 (same steps as softmax_s8.cc). a in [0, 2^31), so
  // RoundingHalfSum(a, One) = (a + 2^31) >> 1 = (a >> 1) + 2^30.
  const __m512i hd = _mm512_add_epi32(_mm512_srli_epi32(a, 1), _mm512_set1_epi32(1 << 30));
  const __m512i hd_odd = odd_lanes(hd);
  const __m512i neg_32_17 = _mm512_set1_epi32(-1010580540);  // Q2.29
  // hd > 0 in this srdhm and the next; the third's second operand is
  // 2^29 - srdhm(...) >= 2^29 - INT32_MAX > INT32_MIN: no INT32_MIN * INT32_MIN.
  __m512i x = _mm512_add_epi32(_mm512_set1_epi32(1515870810),
                               srdhm(hd, hd_odd, neg_32_17, neg_32_17));
  for (int i = 0; i < 3; ++i) {
    const __m512i x_odd = odd_lanes(x);
    const __m512i one_minus =
        _mm512_sub_epi32(_mm512_set1_epi32(1 << 29), srdhm(hd, hd_odd, x, x_odd));
    // gemmlowp saturates this shift left by 2 (Rescale Q4 -> Q2); the correction is far
    // inside +-2^29 for every reachable sum (checked exhaustively for all sums in
    // [2^19, 2^28)), so the plain shift gives the same bits.
    x = _mm512_add_epi32(x, _mm512_slli_epi32(srdhm(x, x_odd, one_minus, odd_lanes(one_minus)), 2));
  }
  // Final Rescale<0>: saturating shift left by 1 of x in (0, 2^31): as unsigned, x << 1 is
  // >= 2^31 exactly when it should saturate to INT32_MAX.
  RowScale s;
  s.mul = _mm512_min_epu32(_mm512_slli_epi32(x, 1), _mm512_set1_epi32(INT32_MAX));
  s.mul_odd = odd_lanes(s.mul);
  // exponent = (12 - headroom_plus_one) + 23 = log2 + 4, per qword's even / odd lane.
  const __m512i exponent = _mm512_add_epi32(log2, _mm512_set1_epi32(4));
  const __m512i exp_even = _mm512_maskz_mov_epi32(0x5555, exponent);
  const __m512i exp_odd = odd_lanes(exponent);
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i c30 = _mm512_set1_epi64(30);
  s.bias_even = _mm512_add_epi64(_mm512_sllv_epi64(one, _mm512_add_epi64(exp_even, c30)), nudge);
  s.bias_odd = _mm512_add_epi64(_mm512_sllv_epi64(one, _mm512_add_epi64(exp_odd, c30)), nudge);
  s.cnt_even = _mm512_add_epi64(exp_even, _mm512_set1_epi64(31));
  s.cnt_odd = _mm512_sub_epi64(exp_odd, one);
  return s;
}

// The output before the -128 offset, RoundingDivideByPOT(SRDHM(shifted_scale, e), exponent)
// with e >= 0 the Q0.31 table value. Both factors are >= 0, so it is
// floor((floor((P + 2^30) / 2^31) + 2^(exponent-1)) / 2^exponent), P = scale * e, and the
// nested floors of integers fold into one: floor((P + 2^30 + 2^(exponent+30)) /
// 2^(exponent+31)); P < 2^62, so the sum fits in 64 bits. Result in [0, 256].
inline __m512i scaled_output(__m512i e, const RowScale& s) {
  const __m512i even = _mm512_srlv_epi64(
      _mm512_add_epi64(_mm512_mul_epu32(e, s.mul), s.bias_even), s.cnt_even);
  const __m512i odd = _mm512_srlv_epi64(
      _mm512_add_epi64(_mm512_mul_epu32(odd_lanes(e), s.mul_odd), s.bias_odd), s.cnt_odd);
  return _mm512_mask_blend_epi32(0xAAAA, even, odd);
}

// Q0.31 exp -> Q12.19 (gemmlowp Rescale<12>): (e + 2^11) >> 12, as SoftmaxS8 builds
// exp_accum_table. e + 2^11 can pass INT32_MAX, so the shift is logical.
inline __m512i to_accum(__m512i e) {
  return _mm512_srli_epi32(_mm512_add_epi32(e, _mm512_set1_epi32(1 << 11)), 12);
}

// Four columns of outputs ([0, 256] per lane, from scaled_output) -> one dword per row
// (lane) holding the four int8 results in column order. Saturation does the clamp:
// packus maps 256 to 255, and xor 0x80 is "- 128" on [0, 255].
inline __m512i pack_columns(__m512i c0, __m512i c1, __m512i c2, __m512i c3) {
  // Per 128-bit lane (rows 4L..4L+3) bytes are c0[4], c1[4], c2[4], c3[4]; transpose the 4x4.
  const __m512i bytes =
      _mm512_packus_epi16(_mm512_packs_epi32(c0, c1), _mm512_packs_epi32(c2, c3));
  const __m512i transpose = _mm512_broadcast_i32x4(
      _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  return _mm512_xor_si512(_mm512_shuffle_epi8(bytes, transpose),
                          _mm512_set1_epi8(static_cast<char>(0x80)));
}

// n (1..16 * kBlocks) rows of depth (1..kMaxLaneDepth) columns; block b holds rows
// 16b..16b+15, one per lane. kDepth > 0 is the depth as a constant (fully unrolled, in
// registers), 0: the runtime depth. Two blocks side by side give the CPU two independent
// reciprocal chains (~30 dependent multiplies each) to overlap.
//
// Columns move in 4-byte groups, gathered per row (lane) and scattered back. Group k
// starts at column 4k, except that the last one is moved back to depth - 4 so that it stays
// inside the row (no access past a row or the tile); the columns it repeats get the same
// values again. Rows shorter than 4 bytes are staged through a local copy instead.
template <int kDepth, int kBlocks>
void softmax_lanes(const int32_t* exp_table, const int8_t* input, int n, int runtime_depth,
                   int8_t* output) {
  const int depth = kDepth > 0 ? kDepth : runtime_depth;
  const int groups = (depth + 3) / 4;
  const bool narrow = depth < 4;
  const __m512i row_offset =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(depth));
  const auto group_start = [&](int k) { return narrow ? 0 : std::min(4 * k, depth - 4); };

  const int8_t* src = input;
  alignas(64) int8_t staged[kBlocks * kLanes * 3 + 4] = {};
  if (narrow) {  // <= 96 bytes
    for (int b = 0; b * 64 < n * depth; ++b) {
      const int left = n * depth - b * 64;
      const __mmask64 bytes =
          left >= 64 ? ~__mmask64{0} : _cvtu64_mask64((uint64_t{1} << left) - 1);
      _mm512_mask_storeu_epi8(staged + b * 64, bytes, _mm512_maskz_loadu_epi8(bytes, input + b * 64));
    }
    src = staged;
  }

  __mmask16 live[kBlocks];
  __m512i sum[kBlocks];
  __m512i e[kBlocks][kMaxLaneDepth + 3];
  for (int b = 0; b < kBlocks; ++b) {
    const int rows_here = std::max(0, std::min(kLanes, n - kLanes * b));
    live[b] = static_cast<__mmask16>((1u << rows_here) - 1);
    const int8_t* block_src = src + b * kLanes * depth;
    // All input bytes are read here, before any output is written: in-place calls are safe.
    __m512i in[(kMaxLaneDepth + 3) / 4];
    for (int k = 0; k < groups; ++k) {
      in[k] = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live[b], row_offset,
                                          block_src + group_start(k), 1);
    }
    if (narrow) {  // the bytes past the row are not the row's: -128 cannot raise the max
      const __mmask64 cols = _cvtu64_mask64(0x1111111111111111ull * ((1u << depth) - 1));
      in[0] = _mm512_mask_mov_epi8(_mm512_set1_epi8(-128), cols, in[0]);
    }
    // Row max on bytes: over the groups, then over the 4 bytes of each dword (rotations),
    // which leaves the max in all 4 bytes; row_max - x then fits a byte as unsigned.
    __m512i max8 = in[0];
    for (int k = 1; k < groups; ++k) max8 = _mm512_max_epi8(max8, in[k]);
    max8 = _mm512_max_epi8(max8, _mm512_ror_epi32(max8, 8));
    max8 = _mm512_max_epi8(max8, _mm512_ror_epi32(max8, 16));

    // exp(x - max) from the table (index max - x in [0, 255]; dead lanes read entry 0) and
    // the Q12.19 sum. depth <= 64 terms of <= 2^19 each: the sum stays < 2^28, so the
    // "sum too big" case cannot happen here.
    sum[b] = _mm512_setzero_si512();
    const __m512i low_byte = _mm512_set1_epi32(0xFF);
    for (int k = 0; k < groups; ++k) {
      const int g = group_start(k);
      const __m512i diff = _mm512_sub_epi8(max8, in[k]);
      for (int c = 4 * k; c < std::min(4 * k + 4, depth); ++c) {
        const int j = c - g;  // byte of column c in the group's dword
        const __m512i index =
            j == 3 ? _mm512_srli_epi32(diff, 24)
                   : _mm512_and_si512(_mm512_srl_epi32(diff, _mm_cvtsi32_si128(8 * j)), low_byte);
        e[b][c] = _mm512_i32gather_epi32(index, exp_table, 4);
        sum[b] = _mm512_add_epi32(sum[b], to_accum(e[b][c]));
      }
    }
  }
  RowScale s[kBlocks];
  for (int b = 0; b < kBlocks; ++b) s[b] = reciprocal(sum[b]);

  for (int b = 0; b < kBlocks; ++b) {
    int8_t* block_out = output + b * kLanes * depth;
    __m512i out[kMaxLaneDepth + 3];
    for (int c = 0; c < depth; ++c) out[c] = scaled_output(e[b][c], s[b]);
    for (int c = depth; c < 4; ++c) out[c] = _mm512_setzero_si512();
    for (int k = 0; k < groups; ++k) {
      const int g = group_start(k);
      const __m512i packed = pack_columns(out[g], out[g + 1], out[g + 2], out[g + 3]);
      if (!narrow) {
        _mm512_mask_i32scatter_epi32(block_out + g, live[b], row_offset, packed, 1);
      } else {
        alignas(64) int8_t rows[kLanes * 4];
        _mm512_store_si512(rows, packed);
        const int rows_here = std::max(0, std::min(kLanes, n - kLanes * b));
        for (int r = 0; r < rows_here; ++r) std::memcpy(block_out + r * depth, rows + 4 * r, depth);
      }
    }
  }
}

// One row of any depth, 16 columns per vector. The row is read fully (max, sum) before the
// output pass, which reads each chunk before writing it: in-place calls are safe.
void softmax_row(const int32_t* exp_table, const int8_t* in, int depth, int8_t* out) {
  const auto chunk_mask = [depth](int c) {
    const int left = depth - c;
    return static_cast<__mmask16>(left >= kLanes ? 0xFFFF : (1u << left) - 1);
  };
  // Row max, 64 bytes at a time; missing bytes read as -128.
  __m512i max8 = _mm512_set1_epi8(-128);
  for (int c = 0; c < depth; c += 64) {
    const int left = depth - c;
    const __mmask64 m = left >= 64 ? ~__mmask64{0} : _cvtu64_mask64((uint64_t{1} << left) - 1);
    max8 = _mm512_max_epi8(max8, _mm512_mask_loadu_epi8(max8, m, in + c));
  }
  __m256i max256 = _mm256_max_epi8(_mm512_castsi512_si256(max8), _mm512_extracti64x4_epi64(max8, 1));
  __m128i max128 = _mm_max_epi8(_mm256_castsi256_si128(max256), _mm256_extracti128_si256(max256, 1));
  max128 = _mm_max_epi8(max128, _mm_srli_si128(max128, 8));
  max128 = _mm_max_epi8(max128, _mm_srli_si128(max128, 4));
  max128 = _mm_max_epi8(max128, _mm_srli_si128(max128, 2));
  max128 = _mm_max_epi8(max128, _mm_srli_si128(max128, 1));
  const __m512i row_max = _mm512_set1_epi32(static_cast<int8_t>(_mm_cvtsi128_si32(max128)));

  // Q12.19 sum. Lanes are int32 and each term <= 2^19: fold into int64 every 2^12 chunks,
  // before a lane could pass 2^31.
  int64_t total = 0;
  for (int c = 0; c < depth;) {
    __m512i sum = _mm512_setzero_si512();
    for (int k = 0; k < 4096 && c < depth; ++k, c += kLanes) {
      const __mmask16 m = chunk_mask(c);
      const __m512i xv = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, in + c));
      const __m512i ev = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m,
                                                     _mm512_sub_epi32(row_max, xv), exp_table, 4);
      sum = _mm512_add_epi32(sum, to_accum(ev));
    }
    alignas(64) uint32_t lanes[kLanes];
    _mm512_store_si512(lanes, sum);
    for (uint32_t v : lanes) total += v;
  }
  if (total >= kSumLimit) {  // "sum too big": the whole row is -128, as SoftmaxS8::run
    std::memset(out, -128, static_cast<size_t>(depth));
    return;
  }
  const RowScale s = reciprocal(_mm512_set1_epi32(static_cast<int32_t>(total)));
  const __m128i minus_128 = _mm_set1_epi8(static_cast<char>(0x80));
  for (int c = 0; c < depth; c += kLanes) {
    const __mmask16 m = chunk_mask(c);
    const __m512i xv = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, in + c));
    const __m512i ev = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m,
                                                   _mm512_sub_epi32(row_max, xv), exp_table, 4);
    // [0, 256] -> uint8 with saturation (256 -> 255), then - 128 as xor 0x80.
    const __m128i bytes = _mm_xor_si128(_mm512_cvtusepi32_epi8(scaled_output(ev, s)), minus_128);
    _mm_mask_storeu_epi8(out + c, m, bytes);
  }
}

using LanesFn = void (*)(const int32_t*, const int8_t*, int, int, int8_t*);

// The lane versions for a depth, for 32 and for 16 rows: unrolled for the small depths of
// classifier heads.
template <int kDepth>
void lanes_pair(LanesFn* two_blocks, LanesFn* one_block) {
  *two_blocks = softmax_lanes<kDepth, 2>;
  *one_block = softmax_lanes<kDepth, 1>;
}

void lanes_for_depth(int depth, LanesFn* two_blocks, LanesFn* one_block) {
  switch (depth) {
    case 1: return lanes_pair<1>(two_blocks, one_block);
    case 2: return lanes_pair<2>(two_blocks, one_block);
    case 3: return lanes_pair<3>(two_blocks, one_block);
    case 4: return lanes_pair<4>(two_blocks, one_block);
    case 5: return lanes_pair<5>(two_blocks, one_block);
    case 6: return lanes_pair<6>(two_blocks, one_block);
    case 7: return lanes_pair<7>(two_blocks, one_block);
    case 8: return lanes_pair<8>(two_blocks, one_block);
    case 9: return lanes_pair<9>(two_blocks, one_block);
    case 10: return lanes_pair<10>(two_blocks, one_block);
    case 11: return lanes_pair<11>(two_blocks, one_block);
    case 12: return lanes_pair<12>(two_blocks, one_block);
    case 13: return lanes_pair<13>(two_blocks, one_block);
    case 14: return lanes_pair<14>(two_blocks, one_block);
    case 15: return lanes_pair<15>(two_blocks, one_block);
    case 16: return lanes_pair<16>(two_blocks, one_block);
    default: return lanes_pair<0>(two_blocks, one_block);
  }
}

}  // namespace

void softmax_s8_avx512(const SoftmaxS8& softmax, const int8_t* input, int rows, int depth,
                       int8_t* output) {
  if (depth <= 0 || rows <= 0) return;
  const int32_t* exp_table = softmax.exp_table();
  if (depth <= kMaxLaneDepth) {
    LanesFn two_blocks, one_block;
    lanes_for_depth(depth, &two_blocks, &one_block);
    for (int r = 0; r < rows; r += 2 * kLanes) {
      const int64_t offset = static_cast<int64_t>(r) * depth;
      const int n = std::min(2 * kLanes, rows - r);
      (n > kLanes ? two_blocks : one_block)(exp_table, input + offset, n, depth, output + offset);
    }
  } else {
    for (int r = 0; r < rows; ++r) {
      const int64_t offset = static_cast<int64_t>(r) * depth;
      softmax_row(exp_table, input + offset, depth, output + offset);
    }
  }
}

}  // namespace pyedge
