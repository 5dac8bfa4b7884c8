// Weight packing shared by the two vpdpbusd kernels (AVX-512 VNNI: blocks of 16 channels,
// AVX-VNNI: blocks of 8): weights stored unsigned (w + 128) so that raw int8 activations can be
// the signed operand, 4 consecutive k per 32-bit lane, and each block's requantization
// constants with bias - input_zero_point * sum_k w folded in. Plain C++, internal linkage
// (tools/check_isa_isolation.sh).
//
// Layout: blocks grouped into panels of up to kPanelBlocks; within a panel, for each group g of
// 4 consecutive k, the blocks' vectors follow each other:
//   weights[panel_first * k_groups + g * nb + b].bytes[4 * c + j] = w[n0 + kBlock*b + c][4g + j] + 128
// which is the order the microkernels read them. Padding (k past K, channels past N) is 0.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "pyedge/fully_connected.h"
#include "requantization_block.h"

namespace pyedge {
namespace {

template <int kBlock, int kPanelBlocks, typename WeightVector>
void pack_weights_u8c4(const FullyConnectedParams& p, std::vector<WeightVector>& weights,
                       std::vector<RequantizationBlock<kBlock>>& params) {
  static_assert(sizeof(WeightVector::bytes) == 4 * kBlock, "one vector holds 4 k per channel");
  const int k = p.input_depth, n_total = p.output_depth;
  const int k_groups = (k + 3) / 4, blocks = (n_total + kBlock - 1) / kBlock;
  weights.assign(static_cast<size_t>(k_groups) * blocks, WeightVector{});
  params.assign(blocks, RequantizationBlock<kBlock>{});
  for (int block = 0; block < blocks; ++block) {
    const int panel_first = block / kPanelBlocks * kPanelBlocks;
    const int nb = std::min(kPanelBlocks, blocks - panel_first);
    WeightVector* panel = weights.data() + static_cast<size_t>(panel_first) * k_groups;
    for (int c = 0; c < kBlock; ++c) {
      const int n = block * kBlock + c;
      const bool valid = n < n_total;
      int64_t weight_sum = 0;
      if (valid) {
        const int8_t* w = p.weights + static_cast<size_t>(n) * k;
        for (int i = 0; i < k; ++i) {
          panel[static_cast<size_t>(i / 4) * nb + (block - panel_first)].bytes[4 * c + i % 4] =
              static_cast<uint8_t>(w[i] + 128);
          weight_sum += w[i];
        }
      }
      set_channel_params(params[block], c, valid, valid && p.bias ? p.bias[n] : 0, weight_sum,
                         p.input_zero_point, valid ? p.multiplier[n] : 0,
                         valid ? p.shift[n] : 0, p.output_zero_point);
    }
  }
}

}  // namespace
}  // namespace pyedge
