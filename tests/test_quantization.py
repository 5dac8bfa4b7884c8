"""TFLite's QuantizeMultiplier, per value and vectorized (the per-channel multipliers of a layer)."""

from __future__ import annotations

import numpy as np
import pytest

from pyedge.quantization import quantize_multiplier, quantize_multipliers

# TFLite quantization_util_test.cc, QuantizationUtilTest.QuantizeMultiplierSmallerThanOneExp
# (the same (M, shift) as QuantizeMultiplier, TFLite's shift convention), and the power-of-two
# values of QuantizeMultiplier's own test.
TFLITE_CASES = [(0.25, 1073741824, -1), (0.50 - 5e-9, 2147483627, -1), (0.50 - 1e-10, 1073741824, 0),
                (0.50, 1073741824, 0), (0.75, 1610612736, 0), (1 - 1e-9, 2147483646, 0),
                (0.0, 0, 0), (0.125, 1073741824, -2), (1.0, 1073741824, 1), (2.0, 1073741824, 2),
                (4.0, 1073741824, 3)]


@pytest.mark.parametrize("real, multiplier, shift", TFLITE_CASES)
def test_tflite_quantize_multiplier_cases(real: float, multiplier: int, shift: int) -> None:
    assert quantize_multiplier(real) == (multiplier, shift)
    m, s = quantize_multipliers(np.array([real]))
    assert (int(m[0]), int(s[0])) == (multiplier, shift)


def test_vectorized_multipliers_are_the_per_value_ones() -> None:
    rng = np.random.default_rng(3)
    reals = np.concatenate([
        np.exp(rng.uniform(np.log(1e-14), np.log(1e12), 20000)),  # every decade a model has
        [0.0, 2.0**-32, 2.0**-33, 2.0**-31.5, 2.0**30, 2.0**31, 2.0**40, 1e300,  # flush, saturate
         np.nextafter(0.5, 0), np.nextafter(1.0, 0), 1 - 2.0**-33, 1 - 2.0**-32],  # carries
    ])
    m, s = quantize_multipliers(reals)
    expected = [quantize_multiplier(float(r)) for r in reals]
    assert list(zip(m.tolist(), s.tolist())) == expected


@pytest.mark.parametrize("bad", [-1e-3, np.inf, np.nan])
def test_a_multiplier_that_is_negative_or_not_finite_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        quantize_multipliers(np.array([0.5, bad]))
    with pytest.raises(ValueError, match="finite and >= 0"):
        quantize_multiplier(bad)
