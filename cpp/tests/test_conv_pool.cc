// CONV_2D, DEPTHWISE_CONV_2D, the 2-D pools, MEAN and PAD at the C++ layer, on values TFLite's own kernel tests pin (ported
// as data; tests/test_tflite_kernel_cases.py runs the same cases through LiteRT and every
// backend), and the double rounding that sets CONV_2D apart from FULLY_CONNECTED.
#include <cstdio>
#include <vector>

#include "pyedge/plan.h"
#include "pyedge/requantize.h"

namespace {

int failed = 0, passed = 0;

void expect(const char* what, const std::vector<int8_t>& got, const std::vector<int8_t>& want) {
  if (got == want) {
    ++passed;
    return;
  }
  ++failed;
  std::printf("FAIL %s:", what);
  for (int8_t v : got) std::printf(" %d", v);
  std::printf(" (expected");
  for (int8_t v : want) std::printf(" %d", v);
  std::printf(")\n");
}

// The matrix-product fields of a conv layer, borrowing the vectors (which must outlive it).
pyedge::FullyConnectedParams matmul(int k, int n, const std::vector<int8_t>& w,
                                    const std::vector<int32_t>& bias,
                                    const std::vector<int32_t>& multiplier,
                                    const std::vector<int32_t>& shift, int32_t input_zero_point,
                                    int32_t output_zero_point) {
  pyedge::FullyConnectedParams p;
  p.input_depth = k;
  p.output_depth = n;
  p.weights = w.data();
  p.bias = bias.data();
  p.multiplier = multiplier.data();
  p.shift = shift.data();
  p.input_zero_point = input_zero_point;
  p.output_zero_point = output_zero_point;
  return p;
}

// The layer over x, as many rows as x holds.
std::vector<int8_t> run(const pyedge::Layer& layer, const std::vector<int8_t>& x) {
  const int rows = static_cast<int>(x.size()) / layer.input_depth();
  std::vector<int8_t> y(static_cast<size_t>(rows) * layer.output_depth());
  layer.run(x.data(), rows, y.data());
  return y;
}

}  // namespace

int main() {
  // -6 x 0.25 = -1.5: one rounding (half up) gives -1; gemmlowp's high multiply gives -3 exactly
  // and its rounding shift takes -1.5 away from zero, -2. LiteRT's reference CONV_2D gives -2.
  const int32_t half = 1 << 30;  // 0.5 in Q31
  expect("double rounding of -6 x 0.25",
         {static_cast<int8_t>(pyedge::multiply_by_quantized_multiplier_double_rounding(-6, half, -1)),
          static_cast<int8_t>(pyedge::multiply_by_quantized_multiplier(-6, half, -1))},
         {-2, -1});

  // tensorflow/lite/kernels/conv_test.cc, ConvolutionOpTest.SimplePerChannelTest: a [1, 2, 3, 2]
  // image (scale 0.5, zero point -1), a [2, 2, 2, 2] filter with channel scales 1 and 2, bias
  // 3 and -2, VALID, stride 1; output scale 0.5, zero point -1. Multipliers 1.0 and 2.0.
  {
    const std::vector<int8_t> x = {5, 3, 1, -3, -5, -7, 7, 5, 3, -5, -7, -9};
    const std::vector<int8_t> w = {1, 2, 3, 4, 3, 4, 5, 6, 4, 4, 3, 3, 2, 2, 1, 1};
    const std::vector<int32_t> bias = {6, -2}, multiplier = {half, half}, shift = {1, 2};
    const auto p = matmul(8, 2, w, bias, multiplier, shift, -1, -1);
    const pyedge::Window window{2, 3, 2, 2, 2, 1, 1, 1, 1, 1, 2, 0, 0};
    expect("conv_test.cc SimplePerChannelTest", run(*pyedge::make_conv_2d_layer(window, p), x),
           {61, 127, -115, -93});
  }

  // tensorflow/lite/micro/kernels/depthwise_conv_test.cc, PerChannelBroadcastQuantizationParams:
  // a [1, 3, 2, 2] image, a [1, 2, 2, 4] filter (depth multiplier 2), bias 1..4, every scale 1
  // (multiplier 1.0), zero points 0, VALID, stride 1. The layer takes the filter as [N][taps].
  {
    const std::vector<int8_t> x = {1, 2, 7, 8, 3, 4, 9, 10, 5, 6, 11, 12};
    const int8_t filter[] = {1, 2, 3, 4, -9, 10, -11, 12, 5, 6, 7, 8, 13, -14, 15, -16};
    std::vector<int8_t> w(16);
    for (int n = 0; n < 4; ++n)
      for (int t = 0; t < 4; ++t) w[n * 4 + t] = filter[t * 4 + n];
    const std::vector<int32_t> bias = {1, 2, 3, 4}, multiplier(4, half), shift(4, 1);
    const auto p = matmul(4, 4, w, bias, multiplier, shift, 0, 0);
    const pyedge::Window window{3, 2, 2, 2, 2, 1, 1, 1, 1, 2, 1, 0, 0};
    expect("depthwise_conv_test.cc PerChannelBroadcastQuantizationParams",
           run(*pyedge::make_depthwise_conv_2d_layer(window, p), x),
           {71, -34, 99, -20, 91, -26, 127, -4});
  }

  // tensorflow/lite/micro/kernels/pooling_test.cc (scale 0.25 or 0.5, zero point 0):
  // SimpleAveragePoolTestInt8PaddingSameStride1ActNone (2x2 filter, stride 1, SAME: the last
  // column and row average the taps inside the image) and MaxPoolTestInt8ActRelu.
  const pyedge::Window same{2, 4, 1, 2, 2, 1, 1, 1, 1, 2, 4, 0, 0};
  expect("pooling_test.cc SimpleAveragePoolTestInt8PaddingSameStride1ActNone",
         run(*pyedge::make_pool_2d_layer(same, true, -128, 127), {12, -24, 32, 16, 12, 8, 40, 28}),
         {2, 14, 29, 22, 10, 24, 34, 28});
  const pyedge::Window valid{2, 4, 1, 2, 2, 2, 2, 1, 1, 1, 2, 0, 0};
  expect("pooling_test.cc MaxPoolTestInt8ActRelu",
         run(*pyedge::make_pool_2d_layer(valid, false, 0, 127), {-3, -12, 4, 8, -6, -4, 20, 14}),
         {0, 20});

  // tensorflow/lite/micro/kernels/reduce_test.cc (scales 0.5, zero points 0, axes 1 and 2):
  // MeanInt84DKeepDims ([2, 2, 3, 2]: each output averages a channel's 6 values) and
  // MeanInt84DWithoutKeepDimsWithPrecision ([2, 2, 3, 1]; golden 11.166667 and 19.833334 are
  // 22.3 and 39.7 steps: LiteRT's double rounding gives 23 and 40). 1 / 6 folded in: the
  // multiplier of 1.0 (2^30, shift 1) becomes 2^32 / 6 with shift -1.
  {
    const std::vector<int32_t> by_channel = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1}, all(6, 0);
    std::vector<int8_t> x(24);
    for (int i = 0; i < 24; ++i) x[i] = static_cast<int8_t>(2 * (i + 1));
    const pyedge::MeanParams per_channel{12, 2, 6, by_channel.data(), 0, 715827882, -1, 0};
    expect("reduce_test.cc MeanInt84DKeepDims", run(*pyedge::make_mean_layer(per_channel), x),
           {12, 14, 36, 38});
    const pyedge::MeanParams whole{6, 1, 6, all.data(), 0, 715827882, -1, 0};
    expect("reduce_test.cc MeanInt84DWithoutKeepDimsWithPrecision",
           run(*pyedge::make_mean_layer(whole), {2, 48, 26, 6, 18, 34, 22, 72, 28, 38, 34, 44}), {23, 40});
  }

  // tensorflow/lite/kernels/pad_test.cc QuantizedPadV2OpTest.Int8SimpleConstValuedTest: [1, 2, 2, 1]
  // {-0.8, 0.2, 0.9, 0.7} at scale 2/255 (zero point 0) is {-102, 25, 115, 89}, padded by one on
  // each side of the 2x2 image with -0.5 (-64); two rows, to cover the row stride.
  {
    const int32_t source[16] = {-1, -1, -1, -1, -1, 0, 1, -1, -1, 2, 3, -1, -1, -1, -1, -1};
    const std::vector<int8_t> fill(4, -64);
    std::vector<int8_t> want = fill;
    for (const std::vector<int8_t>& middle : {std::vector<int8_t>{-64, -102, 25, -64},
                                              std::vector<int8_t>{-64, 115, 89, -64}})
      want.insert(want.end(), middle.begin(), middle.end());
    want.insert(want.end(), fill.begin(), fill.end());
    const std::vector<int8_t> row = want;
    want.insert(want.end(), row.begin(), row.end());  // the second row
    expect("pad_test.cc Int8SimpleConstValuedTest",
           run(*pyedge::make_pad_layer(source, 4, 16, -64), {-102, 25, 115, 89, -102, 25, 115, 89}), want);
  }

  std::printf("test_conv_pool: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
