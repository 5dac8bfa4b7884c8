"""The NumPy backend: the plan's integer arithmetic written plainly, the tests' oracle.

Each layer's NumPy arithmetic is its op's reference() (pyedge/ops/): slower than the native
kernels, but exact, and written independently of them.
"""

from __future__ import annotations

import numpy as np

from .plan import Plan
from .quantization import dequantize, quantize


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
            tensors.append(layer.reference(tensors[-1]))
        return tensors

    def predict(self, x: np.ndarray) -> np.ndarray:
        q = self.trace(x)[-1]
        y = dequantize(q, self.plan.output.scale, self.plan.output.zero_point)
        return y.reshape(-1, *self.plan.output_shape)
