"""TFLite's integer quantization arithmetic, in Python and NumPy.

The single source of the rules the C++ kernels follow (cpp/include/pyedge/requantize.h):
multipliers are made once at load time here; the NumPy functions are the tests' oracle.
"""

from __future__ import annotations

import math

import numpy as np


def round_half_away(x: float) -> float:
    """C's std::round (TfLiteRound): halves go away from zero, unlike Python's round()."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def quantize_multiplier(real_multiplier: float, saturate_shift: bool = True) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = M * 2^(shift - 31), M a Q31 integer in [2^30, 2^31).

    Tiny multipliers (shift < -31) flush to zero; shifts above 30 saturate, as TFLite does
    with single rounding (softmax's >1 multipliers keep theirs: saturate_shift=False).
    """
    if real_multiplier == 0.0:
        return 0, 0
    if not math.isfinite(real_multiplier) or real_multiplier < 0:
        raise ValueError(f"a requantization multiplier must be finite and >= 0, got {real_multiplier}")
    fraction, shift = math.frexp(real_multiplier)
    q = int(round_half_away(fraction * (1 << 31)))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30 and saturate_shift:
        return (1 << 31) - 1, 30
    return q, shift


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """quantize_multiplier for every value of an array (one per output channel), vectorized
    because a layer's load time would otherwise be one Python call per channel: (M, shift) as
    int32 arrays, the same numbers."""
    reals = np.asarray(reals, dtype=np.float64)
    if not np.all(np.isfinite(reals)) or np.any(reals < 0):
        raise ValueError(f"a requantization multiplier must be finite and >= 0, got {reals[:8].tolist()}")
    fraction, shift = np.frexp(reals)
    # fraction * 2^31 is exact and non-negative, so half away from zero is floor(x + 0.5).
    q = np.floor(fraction * float(1 << 31) + 0.5).astype(np.int64)
    carry = q == 1 << 31
    q, shift = np.where(carry, q // 2, q), np.where(carry, shift + 1, shift)
    flush, saturate = shift < -31, shift > 30
    q, shift = np.where(flush, 0, q), np.where(flush, 0, shift)
    q, shift = np.where(saturate, (1 << 31) - 1, q), np.where(saturate, 30, shift)
    return q.astype(np.int32), shift.astype(np.int32)


def multiply_by_quantized_multiplier(
    x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """Single rounding: (x * M + 2^(30 - shift)) >> (31 - shift), exact in int64.

    |x| < 2^31 and M < 2^31, so the product stays below 2^62 and int64 does not overflow.
    """
    total_shift = 31 - np.asarray(shift, dtype=np.int64)
    product = np.asarray(x, dtype=np.int64) * np.asarray(multiplier, dtype=np.int64)
    return (product + (np.int64(1) << (total_shift - 1))) >> total_shift


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: type = np.int8) -> np.ndarray:
    """TFLite's QUANTIZE (float -> int8, or uint8 / int16): round(x / scale) half away from
    zero, + zp, clamp to the type.

    The division is in float32 as in the reference kernel; values are clamped in float before
    the conversion so that huge inputs saturate instead of wrapping.
    """
    info = np.iinfo(dtype)
    bound = 2.0 * (int(info.max) - int(info.min) + 1)  # past any zero point's reach
    q = np.asarray(x, dtype=np.float32) / np.float32(scale)
    q = np.clip(q, -bound, bound)
    magnitude = np.floor(np.abs(q))
    magnitude += (np.abs(q) - magnitude) >= 0.5
    rounded = np.copysign(magnitude, q).astype(np.int32) + zero_point
    return np.clip(rounded, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite's DEQUANTIZE: scale * (q - zp), rounded once to float32."""
    return (np.float32(scale) * (q.astype(np.int32) - zero_point).astype(np.float32)).astype(
        np.float32
    )
