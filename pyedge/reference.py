"""The NumPy backend: the plan's integer arithmetic written plainly, the tests' oracle.

Slower than the native kernels but exact: int8 x int8 products summed in float64 stay
exact (|sum| < 2^53), so BLAS can do the matrix product.
"""

from __future__ import annotations

import numpy as np

from . import fixed_point
from .plan import FullyConnectedLayer, LookupTableLayer, Plan
from .quantization import dequantize, multiply_by_quantized_multiplier, quantize


def fully_connected(layer: FullyConnectedLayer, x: np.ndarray) -> np.ndarray:
    # TFLite's view of the input as [-1, K]: each plan row holds layer.groups of them.
    centered = x.reshape(-1, layer.weights.shape[1]).astype(np.float64) - layer.input_zero_point
    acc = (centered @ layer.weights.astype(np.float64).T).astype(np.int64) + layer.bias
    y = multiply_by_quantized_multiplier(acc, layer.multiplier, layer.shift)
    y = y + layer.output.zero_point
    y = np.clip(y, layer.activation_min, layer.activation_max).astype(np.int8)
    return y.reshape(x.shape[0], layer.output_depth)


def run_layer(layer: object, x: np.ndarray) -> np.ndarray:
    if isinstance(layer, FullyConnectedLayer):
        return fully_connected(layer, x)
    if isinstance(layer, LookupTableLayer):
        return layer.table[x.astype(np.int16) + 128]
    # The last axis only, as TFLite normalizes it.
    y = fixed_point.softmax_s8(x.reshape(-1, layer.axis_size), layer.softmax, layer.exp_table)
    return y.reshape(x.shape)


class ReferenceBackend:
    """Runs a Plan with NumPy; thread-safe (no state changes after construction)."""

    def __init__(self, plan: Plan):
        self.plan = plan

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        x = x.reshape(x.shape[0], self.plan.input_depth)
        if x.dtype == np.int8:
            return x
        return quantize(x, self.plan.input.scale,
                        self.plan.input.zero_point)

    def trace(self, x: np.ndarray) -> list[np.ndarray]:
        """The int8 input and every layer's int8 output."""
        tensors = [self.quantize_input(x)]
        for layer in self.plan.layers:
            tensors.append(run_layer(layer, tensors[-1]))
        return tensors

    def predict(self, x: np.ndarray) -> np.ndarray:
        q = self.trace(x)[-1]
        y = dequantize(q, self.plan.output.scale, self.plan.output.zero_point)
        return y.reshape(-1, *self.plan.output_shape)
