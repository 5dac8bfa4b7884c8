"""Runs a model on LiteRT's BUILTIN_REF kernels and returns every int8 tensor it computes.

The oracle of the bit-exactness tests: `experimental_preserve_all_tensors` keeps the
intermediate tensors readable after invoke.
"""

from __future__ import annotations

import hashlib

import numpy as np

from pyedge.quantization import dequantize, quantize


def litert_interpreter(content: bytes, kernels: str = "BUILTIN_REF", num_threads: int = 1):
    """A LiteRT interpreter on the kernels named by an OpResolverType ("BUILTIN_REF": the
    reference kernels, every tensor kept readable; "AUTO": its defaults, with XNNPACK)."""
    from ai_edge_litert import interpreter as litert

    return litert.Interpreter(model_content=content, num_threads=num_threads,
                              experimental_op_resolver_type=getattr(litert.OpResolverType, kernels),
                              experimental_preserve_all_tensors=kernels == "BUILTIN_REF")


def reference_tensors(content: bytes, x: np.ndarray) -> dict[str, dict]:
    """Every int8 tensor that is not a constant, by name: {"array": ..., "sha256": ...}."""
    interpreter = litert_interpreter(content)
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], [x.shape[0], *detail["shape"][1:]])
    interpreter.allocate_tensors()
    if detail["dtype"] == np.int8:
        scale, zero_point = detail["quantization"]
        x = quantize(x, scale, zero_point)
    interpreter.set_tensor(detail["index"], x.reshape(x.shape[0], *detail["shape"][1:]))
    interpreter.invoke()
    # Constant tensors (weights) have data in the model; computed ones are the op outputs.
    computed = {i for op in interpreter._get_ops_details() for i in op["outputs"]}
    computed.add(detail["index"])
    constants = {t["index"] for t in interpreter.get_tensor_details()} - computed
    result = {}
    for t in interpreter.get_tensor_details():
        if t["dtype"] != np.int8:
            continue
        try:
            array = interpreter.get_tensor(t["index"])
        except ValueError:  # constant tensors without data, etc.
            continue
        if array.ndim < 2 or array.shape[0] != x.shape[0] or t["index"] in constants:
            continue  # weights and other constants
        array = array.reshape(x.shape[0], -1).copy()
        result[t["name"]] = {"array": array, "sha256": hashlib.sha256(array.tobytes()).hexdigest()}
    return result


def litert_output(content: bytes, x: np.ndarray, kernels: str = "BUILTIN_REF",
                  dequantized: bool = True) -> np.ndarray:
    """LiteRT's output for the rows x (the input resized to len(x) rows), in its own shape.
    Float rows for a quantized input are quantized with its scale and zero point, as the
    converter's QUANTIZE would; a quantized output is dequantized unless dequantized=False."""
    interpreter = litert_interpreter(content, kernels)
    detail, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(detail["index"], [len(x), *detail["shape"][1:]])
    interpreter.allocate_tensors()
    if detail["dtype"] != np.float32 and x.dtype == np.float32:
        x = quantize(x, *detail["quantization"], detail["dtype"])
    interpreter.set_tensor(detail["index"], x.reshape(len(x), *detail["shape"][1:]))
    interpreter.invoke()
    y = interpreter.get_tensor(out["index"]).copy()
    if dequantized and out["dtype"] != np.float32:
        y = dequantize(y, *out["quantization"])
    return y
