"""gemmlowp fixed-point arithmetic and TFLite's int8 SOFTMAX / LOGISTIC / TANH, in NumPy.

What LiteRT's BUILTIN_REF kernels (``kernel_type == kReference`` in
tflite/kernels/activations.cc) compute for int8, bit for bit:

* SOFTMAX: ``SoftmaxPrepare`` calls ``PreprocessSoftmaxScaling`` and ``CalculateInputRadius``;
  ``reference_ops::Softmax`` (reference/softmax.h) then evaluates gemmlowp's fixed-point
  ``exp_on_negative_values`` on every ``x - row_max`` (Q5.26), sums in Q12.19, takes the
  reciprocal with ``GetReciprocal`` (``one_over_one_plus_x_for_x_in_0_1``) and rescales.
  ``x - row_max`` of an int8 row lies in [-255, 0], so the exp part is a 256-entry table
  (``softmax_exp_table``); only the sum, reciprocal and final rescale are per row.
* LOGISTIC and TANH (int8): the reference kernel does *not* use
  ``reference_integer_ops::Logistic/Tanh`` for int8; ``SigmoidPrepare``/``TanhPrepare`` fill a
  256-entry table with ``LUTPopulate<int8_t>`` from the float functions
  ``1.0f / (1.0f + std::exp(-x))`` and ``std::tanh(x)``, and Eval is a table lookup.
  ``logistic_table``/``tanh_table`` reproduce that float32 computation.

All integer helpers take and return int64 arrays that hold int32 values; every place where the
C++ code does int32 arithmetic that could wrap is wrapped explicitly (``wrap_int32``).

Rounding: TFLite is built either with ``TFLITE_SINGLE_ROUNDING`` (one rounding in
MultiplyByQuantizedMultiplier, multiplier capped at 2^30 - 1 in PreprocessSoftmaxScaling) or
without (gemmlowp double rounding, cap 2^31 - 1). ``SINGLE_ROUNDING`` is the variant the
pip build of LiteRT uses (measured by tests/test_activations_vs_litert.py).
"""

from __future__ import annotations

import ctypes
import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pyedge.quantization import quantize_multiplier

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

#: Measured: LiteRT 2.3.0 (pip) BUILTIN_REF softmax matches the single-rounding build.
SINGLE_ROUNDING = True

# reference_ops::Softmax: Q5.26 for the scaled input difference, Q12.19 for the sum of exps.
SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12

# Raw Q0.31 constants of gemmlowp's exp_on_negative_values barrel shifter: exp(-2^k).
_EXP_BARREL_SHIFTER = (
    (-2, 1672461947),  # exp(-1/4)
    (-1, 1302514674),  # exp(-1/2)
    (0, 790015084),  # exp(-1)
    (1, 290630308),  # exp(-2)
    (2, 39332535),  # exp(-4)
    (3, 720401),  # exp(-8)
    (4, 242),  # exp(-16)
)


def _i64(x: np.ndarray | int) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap_int32(x: np.ndarray | int) -> np.ndarray:
    """Two's-complement wrap of int64 values to the int32 range (what int32 + and - do)."""
    x = _i64(x)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul (ARM VQRDMULH) on int32 values.

    (a * b + nudge) / 2^31 with C's truncating division, nudge = 2^30 for a non-negative
    product and 1 - 2^30 otherwise; INT32_MIN * INT32_MIN saturates to INT32_MAX.
    """
    a = _i64(a)
    b = _i64(b)
    ab = a * b  # |ab| <= 2^62: exact in int64
    v = ab + np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    # Truncating division by 2^31 (toward zero), as the C++ '/' does.
    q = np.where(v >= 0, v >> 31, -((-v) >> 31))
    return np.where((a == INT32_MIN) & (b == INT32_MIN), np.int64(INT32_MAX), q)


def rounding_divide_by_pot(x: np.ndarray | int, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: arithmetic shift right, round to nearest, ties away from 0."""
    x = _i64(x)
    exponent = _i64(exponent)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def double_rounding_multiply(x: np.ndarray | int, multiplier: np.ndarray | int,
                             shift: np.ndarray | int) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier of the gemmlowp form (what LiteRT's int8 RELU,
    QUANTIZE and CONV_2D compute, docs/arithmetic.md): x * 2^left in int32 (wrapping, as the
    C++ does), SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT; TFLite's shift
    convention (positive = left). Broadcasts over per-channel multipliers and shifts."""
    shift = _i64(shift)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    high = saturating_rounding_doubling_high_mul(wrap_int32(_i64(x) << left), multiplier)
    return rounding_divide_by_pot(high, right)


def saturating_rounding_multiply_by_pot(x: np.ndarray | int, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> on int32 (compile-time exponent).

    Positive exponents shift left and saturate; negative ones are RoundingDivideByPOT.
    """
    x = _i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    shifted = wrap_int32(x << exponent)
    shifted = np.where(x > threshold, np.int64(INT32_MAX), shifted)
    return np.where(x < -threshold, np.int64(INT32_MIN), shifted)


def rounding_half_sum(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp RoundingHalfSum<int32>: (a + b + sign) / 2 in int64, truncating division."""
    s = _i64(a) + _i64(b)
    s = s + np.where(s >= 0, np.int64(1), np.int64(-1))
    return np.where(s >= 0, s // 2, -((-s) // 2))


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl for Q0.31 input.

    A 4th-order Taylor expansion around -1/8; all the + and - are plain int32 operations.
    """
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883
    x = wrap_int32(_i64(a) + (1 << 28))  # a + 1/8
    x2 = saturating_rounding_doubling_high_mul(x, x)
    x3 = saturating_rounding_doubling_high_mul(x2, x)
    x4 = saturating_rounding_doubling_high_mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_doubling_high_mul(wrap_int32(x4_over_4 + x3), constant_1_over_3)
    poly = saturating_rounding_multiply_by_pot(wrap_int32(poly + x2), -1)
    return wrap_int32(
        constant_term + saturating_rounding_doubling_high_mul(constant_term, wrap_int32(x + poly))
    )


def exp_on_negative_values(a: np.ndarray | int, integer_bits: int) -> np.ndarray:
    """gemmlowp exp_on_negative_values for a FixedPoint<int32, integer_bits> input; Q0.31 result."""
    a = _i64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = wrap_int32((a & (one_quarter - 1)) - one_quarter)
    # Rescale<0> of the Q(integer_bits) value: a saturating left shift by integer_bits.
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits)
    )
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL_SHIFTER:
        if integer_bits > exponent:
            bit = np.int64(1) << (fractional_bits + exponent)
            result = np.where(
                (remainder & bit) != 0,
                saturating_rounding_doubling_high_mul(result, multiplier),
                result,
            )
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))  # -32.0
        result = np.where(a < clamp, np.int64(0), result)
    return np.where(a == 0, np.int64(INT32_MAX), result)  # exp(0) = One() of Q0.31


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray | int) -> np.ndarray:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: Newton-Raphson on Q2.29, Q0.31 in and out."""
    half_denominator = rounding_half_sum(a, INT32_MAX)  # (a + One) / 2, One of Q0.31 = MAX
    constant_48_over_17 = 1515870810  # Q2.29
    constant_neg_32_over_17 = -1010580540  # Q2.29
    one_q2 = 1 << 29
    x = wrap_int32(
        constant_48_over_17
        + saturating_rounding_doubling_high_mul(half_denominator, constant_neg_32_over_17)
    )
    for _ in range(3):
        half_denominator_times_x = saturating_rounding_doubling_high_mul(half_denominator, x)
        one_minus = wrap_int32(one_q2 - half_denominator_times_x)
        # x * one_minus is Q4.27; Rescale<2> is a saturating left shift by 2.
        x = wrap_int32(
            x
            + saturating_rounding_multiply_by_pot(
                saturating_rounding_doubling_high_mul(x, one_minus), 2
            )
        )
    # ExactMulByPot<-1> (Q2 -> Q1, same raw), then Rescale<0>: saturating left shift by 1.
    return saturating_rounding_multiply_by_pot(x, 1)


def _bit_length(x: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values below 2^53 (exact through float64 frexp)."""
    return np.frexp(x.astype(np.float64))[1].astype(np.int64)


def get_reciprocal(x: np.ndarray | int, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite GetReciprocal (common.h) for positive int32 x: (Q0.31 scale, num_bits_over_unit)."""
    x = _i64(x)
    headroom_plus_one = 32 - _bit_length(x)  # CountLeadingZeros(uint32 x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = wrap_int32(((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def multiply_by_quantized_multiplier_greater_than_one(
    x: np.ndarray | int,
    multiplier: int,
    left_shift: int,
    *,
    single_rounding: bool = SINGLE_ROUNDING,
) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplierGreaterThanOne (common.h / common.cc), both builds.

    Single rounding: (x * M + 2^(30 - shift)) >> (31 - shift) in int64.
    Double rounding: SaturatingRoundingDoublingHighMul(x * 2^shift, M) (int32 shift may wrap).
    """
    x = _i64(x)
    if single_rounding:
        total_shift = 31 - left_shift
        return wrap_int32((x * multiplier + (np.int64(1) << (total_shift - 1))) >> total_shift)
    return saturating_rounding_doubling_high_mul(wrap_int32(x << left_shift), multiplier)


def calculate_input_radius(
    input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31
) -> int:
    """TFLite CalculateInputRadius (quantization_util.cc, float build)."""
    max_input_rescaled = (
        1.0
        * ((1 << input_integer_bits) - 1)
        * (1 << (total_signed_bits - input_integer_bits))
        / (1 << input_left_shift)
    )
    return int(math.floor(max_input_rescaled))


@dataclass(frozen=True)
class SoftmaxParams:
    """What SoftmaxPrepare (kReference, int8) stores: Q31 multiplier, left shift, diff_min."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(
    input_scale: float, beta: float = 1.0, *, single_rounding: bool = SINGLE_ROUNDING
) -> SoftmaxParams:
    """TFLite PreprocessSoftmaxScaling + CalculateInputRadius for the int8 reference softmax.

    ``input_scale`` and ``beta`` are float32 in the flatbuffer and TfLiteTensor; the product
    beta * scale * 2^26 is formed in double, as the C++ does, and capped at 2^30 - 1 (single
    rounding build) or 2^31 - 1 (double rounding build).
    """
    beta64 = float(np.float32(beta))
    scale64 = float(np.float32(input_scale))
    if not (beta64 > 0 and scale64 > 0 and math.isfinite(beta64 * scale64)):
        raise ValueError(f"softmax needs beta > 0 and input_scale > 0, got {beta}, {input_scale}")
    max_real_multiplier = float((1 << 30) - 1) if single_rounding else float((1 << 31) - 1)
    real = min(beta64 * scale64 * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), max_real_multiplier)
    if real <= 1.0:  # QuantizeMultiplierGreaterThanOne's TFLITE_CHECK_GT(double_multiplier, 1.)
        raise ValueError(f"softmax input_scale * beta = {beta64 * scale64} is too small (< 2^-26)")
    multiplier, shift = quantize_multiplier(real, saturate_shift=False)
    diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift)
    return SoftmaxParams(input_multiplier=multiplier, input_left_shift=shift, diff_min=diff_min)


def softmax_exp_table(
    params: SoftmaxParams, *, single_rounding: bool = SINGLE_ROUNDING
) -> np.ndarray:
    """int32[256]: Q0.31 raw exp_on_negative_values(rescaled diff), index = -(x - row_max).

    An entry is 0 where diff < diff_min: the reference skips those elements in the sum and
    writes the output minimum, and a zero exp gives exactly that (it adds 0 to the sum and its
    output rounds to 0, i.e. -128), so 0 is the "excluded" mark and needs no special case.
    """
    diffs = -np.arange(256, dtype=np.int64)
    rescaled = multiply_by_quantized_multiplier_greater_than_one(
        diffs, params.input_multiplier, params.input_left_shift, single_rounding=single_rounding
    )
    exps = exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
    table = np.where(diffs >= params.diff_min, exps, 0)
    if np.any(table < 0):
        raise AssertionError("exp_on_negative_values returned a negative value")
    return table.astype(np.int32)


def softmax_s8(
    x: np.ndarray, params: SoftmaxParams, exp_table: np.ndarray | None = None
) -> np.ndarray:
    """int8 softmax along the last axis, as reference_ops::Softmax<int8_t, int8_t> computes it.

    Output scale 1/256, zero point -128. Vectorised over rows. Where the reference would abort
    (TFLITE_CHECK exponent <= 31, i.e. a sum of exps >= 2^28 in Q12.19: more than 511
    elements tied at the row maximum), every output of the row is -128, the value the
    arithmetic tends to (each probability is < 1/512, below half an output step).
    """
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TypeError(f"softmax_s8 takes int8 input, got {x.dtype}")
    if exp_table is None:
        exp_table = softmax_exp_table(params)
    table = _i64(exp_table)
    shape = x.shape
    if x.ndim == 0 or shape[-1] == 0 or x.size == 0:
        return np.full(shape, -128, dtype=np.int8)
    rows = x.reshape(-1, shape[-1])
    out = np.empty(rows.shape, dtype=np.int8)
    # Blocks of rows keep the int64 temporaries around 2^18 elements (vectorised per block).
    block = max(1, (1 << 18) // rows.shape[1])
    for start in range(0, rows.shape[0], block):
        out[start : start + block] = _softmax_rows(rows[start : start + block], table)
    return out.reshape(shape)


def _softmax_rows(rows: np.ndarray, table: np.ndarray) -> np.ndarray:
    rows = rows.astype(np.int64)
    row_max = rows.max(axis=1, keepdims=True)
    exps = table[row_max - rows]  # Q0.31, (n, depth)
    # Rescale<12> (Q0.31 -> Q12.19) of each exp, then the int32 sum (cannot wrap below 2^28).
    sums = rounding_divide_by_pot(exps, ACCUMULATION_INTEGER_BITS).sum(axis=1)
    too_big = sums >= (1 << 28)
    sums = np.where(too_big, np.int64(1 << 19), sums)
    shifted_scale, num_bits_over_unit = get_reciprocal(sums, ACCUMULATION_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - 8
    unsat = rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shifted_scale[:, None], exps), exponent[:, None]
    )
    out = np.clip(unsat - 128, -128, 127)
    out[too_big] = -128
    return out.astype(np.int8)


def _lut_populate_int8(
    transform,
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
) -> np.ndarray:
    """TFLite LUTPopulate<int8_t> (common.h) in float32, returned indexed by (x + 128)."""
    values = np.arange(-128, 128, dtype=np.int32)
    inverse_scale = np.float32(1.0) / np.float32(output_scale)
    dequantized = np.float32(input_scale) * (values - input_zero_point).astype(np.float32)
    with np.errstate(over="ignore"):
        transformed = transform(dequantized).astype(np.float32)
    scaled = (transformed * inverse_scale).astype(np.float32)
    # TfLiteRound (std::round): half away from zero; |s| - floor(|s|) is exact in float32.
    magnitude = np.floor(np.abs(scaled))
    magnitude += (np.abs(scaled) - magnitude) >= np.float32(0.5)
    rescaled = np.copysign(magnitude, scaled).astype(np.float32)
    quantized = (rescaled + np.float32(output_zero_point)).astype(np.int64)
    return np.clip(quantized, -128, 127).astype(np.int8)


@functools.cache
def _c_float_function(name: str) -> Callable[[float], float] | None:
    """The C library's float function `name` (expf, tanhf), the one std::exp / std::tanh of a
    float call in LiteRT's Prepare; None where this process has none."""
    try:  # (CDLL(None): the C library this process already uses; a TypeError on Windows)
        function = getattr(ctypes.CDLL(None), name)
    except (AttributeError, OSError, TypeError):
        return None
    function.restype, function.argtypes = ctypes.c_float, [ctypes.c_float]
    return function


def _c_float(name: str, fallback: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """`name` of every value of x, as the C library computes it. glibc's tanhf is not correctly
    rounded (it differs from the float32 rounding of the exact tanh on about 6 % of inputs, and
    LiteRT's TANH table with it: found by tools/fuzz_models.py, seed 1 model 201061); its expf on
    about 0.06 %. Where the process has no C library function, the correctly rounded value."""
    function = _c_float_function(name)
    if function is None:
        with np.errstate(over="ignore"):
            return fallback(x.astype(np.float64)).astype(np.float32)
    return np.array([function(float(v)) for v in x.reshape(-1)], np.float32).reshape(x.shape)


def _logistic_f32(v: np.ndarray) -> np.ndarray:
    one = np.float32(1.0)
    return (one / (one + _c_float("expf", np.exp, -v))).astype(np.float32)  # 1.0f / (1.0f + std::exp(-v))


def _tanh_f32(v: np.ndarray) -> np.ndarray:
    return _c_float("tanhf", np.tanh, v)  # std::tanh(float)


def logistic_table(
    input_scale: float,
    input_zero_point: int,
    output_scale: float = 1.0 / 256,
    output_zero_point: int = -128,
) -> np.ndarray:
    """int8[256] LOGISTIC table of LiteRT's reference kernel, indexed by (x + 128)."""
    return _lut_populate_int8(
        _logistic_f32, input_scale, input_zero_point, output_scale, output_zero_point
    )


def tanh_table(
    input_scale: float,
    input_zero_point: int,
    output_scale: float = 1.0 / 128,
    output_zero_point: int = 0,
) -> np.ndarray:
    """int8[256] TANH table of LiteRT's reference kernel, indexed by (x + 128)."""
    return _lut_populate_int8(
        _tanh_f32, input_scale, input_zero_point, output_scale, output_zero_point
    )


def apply_table(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Elementwise int8 op through a 256-entry table indexed by (x + 128)."""
    return np.asarray(table, dtype=np.int8)[np.asarray(x, dtype=np.int8).astype(np.int16) + 128]
