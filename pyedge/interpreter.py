"""The fallback backend: a TFLite interpreter for the models the native plan cannot run.

The TFLite Python interpreter is not thread-safe, so each thread gets its own interpreter
(created on first use); calls from many threads then run in parallel and never share state.
"""

from __future__ import annotations

import importlib
import threading

import numpy as np

from .quantization import dequantize, quantize

# Tried in this order; the first importable one is used.
INTERPRETER_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter",
                       "tensorflow.lite")


def find_interpreter() -> tuple[str, type] | None:
    """(module name, Interpreter class) of the first TFLite interpreter installed, or None."""
    for name in INTERPRETER_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception:  # not installed, or broken (tflite_runtime with NumPy 2)
            continue
        return name.split(".")[0], module.Interpreter
    return None


class InterpreterBackend:
    def __init__(self, content: bytes, interpreter_class: type, num_threads: int):
        self._content = content
        self._interpreter_class = interpreter_class
        self._num_threads = num_threads
        self._local = threading.local()
        try:  # fail now, not at the first predict, if the interpreter rejects the model
            probe = self._interpreter()
            self.input_detail = probe.get_input_details()[0]
            self.output_detail = probe.get_output_details()[0]
            # Some checks only run when a batch is allocated and invoked: do it on 2 rows.
            self.predict(np.zeros((2, *self.input_detail["shape"][1:]), self.input_detail["dtype"]))
        except (RuntimeError, ValueError, IndexError) as error:
            raise ValueError(f"the TFLite interpreter rejects this model: {error}") from None

    def _interpreter(self):
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = self._interpreter_class(model_content=self._content,
                                                  num_threads=self._num_threads)
            interpreter.allocate_tensors()
            self._local.interpreter, self._local.rows = interpreter, None
        return interpreter

    def predict(self, x: np.ndarray) -> np.ndarray:
        interpreter = self._interpreter()
        detail, out = self.input_detail, self.output_detail
        if self._local.rows != x.shape[0]:
            interpreter.resize_tensor_input(detail["index"], [x.shape[0], *detail["shape"][1:]])
            interpreter.allocate_tensors()
            self._local.rows = x.shape[0]
        if detail["dtype"] == np.int8 and x.dtype != np.int8:
            scale, zero_point = detail["quantization"]
            x = quantize(x, scale, zero_point)
        interpreter.set_tensor(detail["index"], x.astype(detail["dtype"], copy=False))
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])
        if out["dtype"] != np.float32:
            scale, zero_point = out["quantization"]
            y = dequantize(y, scale, zero_point) if scale else y.astype(np.float32)
        return y.reshape(x.shape[0], -1)
