"""What LiteRT's Prepare accepts and refuses for the window ops (CONV_2D, DEPTHWISE_CONV_2D,
the pools) and FULLY_CONNECTED's bias-scale check, on forged one-op models: pyedge refuses
exactly what the installed LiteRT refuses (a ValueError on every backend), runs natively what
it can, and runs the rest on the interpreter with the reason. Each expectation was measured on
LiteRT first; the first test keeps it measured.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyedge
from pyedge.interpreter import builtin_kernels_crash_on
from pyedge.tflite_reader import read_model

pytest.importorskip("ai_edge_litert")  # every expectation here is LiteRT's, measured
from litert_reference import litert_interpreter, litert_output  # noqa: E402
from tflite_builder import BufferSpec, ModelSpec, OperatorSpec, TensorSpec, build  # noqa: E402

IN_SCALE, WEIGHT_SCALE, OUT_SCALE = 0.5, 0.01, 0.05


def one_op(opcode: str, filter_shape: list[int], *, bias_scale: float | None = IN_SCALE * WEIGHT_SCALE,
           filter_zero_point: int = 0, bias_zero_point: int = 0, depth_multiplier: int = 1,
           in_shape: tuple[int, ...] = (1, 4, 4, 2), out_scale: float = OUT_SCALE,
           activation: str = "NONE", with_bias: bool = True) -> bytes:
    """int8 x [-1, ...in_shape[1:]] -> opcode (VALID, stride 1) -> int8 y; the filter's output
    channels on axis 3 for DEPTHWISE_CONV_2D, else 0; bias_scale None: a bias without
    quantization."""
    rng = np.random.default_rng(7)
    channels = filter_shape[3] if opcode == "DEPTHWISE_CONV_2D" else filter_shape[0]
    if opcode == "FULLY_CONNECTED":
        out_shape = [1, channels]
    else:
        out_shape = [1, in_shape[1] - filter_shape[1] + 1, in_shape[2] - filter_shape[2] + 1, channels]
    tensors = [TensorSpec("x", "INT8", list(in_shape), scales=[IN_SCALE], zero_points=[3],
                          shape_signature=[-1, *in_shape[1:]]),
               TensorSpec("y", "INT8", out_shape, scales=[out_scale], zero_points=[-4],
                          shape_signature=[-1, *out_shape[1:]]),
               TensorSpec("filter", "INT8", filter_shape, buffer=1, scales=[WEIGHT_SCALE],
                          zero_points=[filter_zero_point],
                          quantized_dimension=3 if opcode == "DEPTHWISE_CONV_2D" else 0),
               TensorSpec("bias", "INT32", [channels], buffer=2,
                          scales=None if bias_scale is None else [bias_scale],
                          zero_points=None if bias_scale is None else [bias_zero_point])]
    buffers = [BufferSpec(), BufferSpec(rng.integers(-127, 128, filter_shape).astype(np.int8).tobytes()),
               BufferSpec(rng.integers(-300, 300, channels).astype(np.int32).tobytes())]
    op = OperatorSpec(opcode, [0, 2, 3] if with_bias else [0, 2], [1],
                      depth_multiplier=depth_multiplier, activation=activation)
    return build(ModelSpec(tensors=tensors, buffers=buffers, operators=[op], inputs=[0], outputs=[1]))


def pool(activation: str, out_scale: float) -> bytes:
    tensors = [TensorSpec("x", "INT8", [1, 4, 4, 2], scales=[IN_SCALE], zero_points=[0],
                          shape_signature=[-1, 4, 4, 2]),
               TensorSpec("y", "INT8", [1, 2, 2, 2], scales=[out_scale], zero_points=[0],
                          shape_signature=[-1, 2, 2, 2])]
    op = OperatorSpec("MAX_POOL_2D", [0], [1], filter=(2, 2), stride=(2, 2), activation=activation)
    return build(ModelSpec(tensors=tensors, buffers=[BufferSpec()], operators=[op], inputs=[0], outputs=[1]))


DW = ("DEPTHWISE_CONV_2D", [1, 3, 3, 4])  # depth multiplier 2 over 2 input channels
# Models LiteRT refuses at Prepare (the message it gives).
REFUSED = {
    "fc bias without quantization": one_op("FULLY_CONNECTED", [3, 32], bias_scale=None,
                                           in_shape=(1, 32)),
    "fc bias scale off by 3 % of the output scale": one_op(
        "FULLY_CONNECTED", [3, 32], bias_scale=IN_SCALE * WEIGHT_SCALE + 0.03 * OUT_SCALE, in_shape=(1, 32)),
    "depthwise filter [2, KH, KW, N]": one_op("DEPTHWISE_CONV_2D", [2, 3, 3, 4]),
    "depthwise N not a multiple of C": one_op("DEPTHWISE_CONV_2D", [1, 3, 3, 3]),
    "depthwise bias zero point 1": one_op(*DW, bias_zero_point=1),
    "conv bias zero point 1": one_op("CONV_2D", [3, 3, 3, 2], bias_zero_point=1),
}
# Models LiteRT runs that pyedge runs natively.
NATIVE = {
    "conv bias scale 100x off (int8 CONV_2D does not check it)": one_op(
        "CONV_2D", [3, 3, 3, 2], bias_scale=100 * IN_SCALE * WEIGHT_SCALE),
    "depthwise bias scale 100x off": one_op(*DW, bias_scale=100 * IN_SCALE * WEIGHT_SCALE),
    "depthwise without bias quantization": one_op(*DW, bias_scale=None),
    "depthwise options' depth_multiplier 5 (the shapes decide)": one_op(*DW, depth_multiplier=5),
    "fc bias scale off by 1 % of the output scale": one_op(
        "FULLY_CONNECTED", [3, 32], bias_scale=IN_SCALE * WEIGHT_SCALE + 0.01 * OUT_SCALE, in_shape=(1, 32)),
}
# Models LiteRT runs that go to the interpreter, and why.
INTERPRETED = {
    "depthwise filter zero point 1 (LiteRT ignores it)": (one_op(*DW, filter_zero_point=1),
                                                          "non-zero zero point"),
    "max pool whose RELU6 bound overflows int32": (pool("RELU6", 1e-9), "results are undefined"),
}


def x_rows(content: bytes, rows: int = 6) -> np.ndarray:
    shape = litert_interpreter(content).get_input_details()[0]["shape"]
    return np.random.default_rng(2).integers(-128, 128, (rows, *shape[1:])).astype(np.int8)


@pytest.mark.parametrize("name", REFUSED)
def test_litert_refuses(name: str) -> None:
    with pytest.raises(RuntimeError, match="failed to prepare"):
        litert_interpreter(REFUSED[name]).allocate_tensors()


@pytest.mark.parametrize("backend", ["auto", "native", "reference", "interpreter"])
@pytest.mark.parametrize("name", REFUSED)
def test_pyedge_refuses_what_litert_refuses(name: str, backend: str) -> None:
    with pytest.raises(ValueError):
        pyedge.Model(REFUSED[name], backend=backend)


@pytest.mark.parametrize("name", NATIVE)
def test_runs_natively_bit_for_bit(name: str) -> None:
    content = NATIVE[name]
    x = x_rows(content)
    expected = litert_output(content, x, "BUILTIN_REF")
    for backend in ("native", "reference"):
        model = pyedge.Model(content, backend=backend)
        np.testing.assert_array_equal(model.predict(x), expected, err_msg=f"{name} [{backend}]")


@pytest.mark.parametrize("name", INTERPRETED)
def test_runs_on_the_interpreter_with_the_reason(name: str) -> None:
    content, reason = INTERPRETED[name]
    model = pyedge.Model(content)
    assert model.backend.startswith("interpreter") and reason in model.backend, model.backend
    x = x_rows(content)
    y = model.predict(x)
    assert y.shape[0] == len(x)
    if "undefined" not in reason:  # LiteRT's own results for an unset bound vary
        np.testing.assert_array_equal(y, litert_output(content, x, "BUILTIN_REF"))


def test_litert_builtin_depthwise_without_bias_crashes_and_pyedge_says_so(tmp_path) -> None:
    # Measured (the fuzzer found it): LiteRT's builtin int8 DEPTHWISE_CONV_2D without a bias
    # segfaults, its reference kernel runs it. pyedge runs it natively, and never gives it to
    # the builtin kernels (pyedge/model.py: a ValueError instead, naming both causes).
    content = one_op(*DW, with_bias=False)
    path = tmp_path / "depthwise_without_bias.tflite"
    path.write_bytes(content)
    script = ("import sys; sys.path.insert(0, sys.argv[2]); from litert_reference import litert_interpreter; "
              "i = litert_interpreter(open(sys.argv[1], 'rb').read(), sys.argv[3]); "
              "i.allocate_tensors(); i.invoke()")
    for kernels, crashes in (("BUILTIN_WITHOUT_DEFAULT_DELEGATES", True), ("BUILTIN_REF", False)):
        run = subprocess.run([sys.executable, "-c", script, str(path), str(Path(__file__).parent), kernels],
                             capture_output=True, timeout=120)
        # A crash is a signal, or (under tools/sanitize.sh) ASan's report of the SEGV and exit 1.
        crashed = run.returncode < 0 or b"ERROR: AddressSanitizer" in run.stderr
        assert crashed == crashes, (kernels, run.returncode, run.stderr[-500:])
    assert "DEPTHWISE_CONV_2D (operator 0) crashes without a bias" in builtin_kernels_crash_on(
        read_model(content))
    x = x_rows(content)
    np.testing.assert_array_equal(pyedge.Model(content, backend="native").predict(x),
                                  litert_output(content, x, "BUILTIN_REF"))
