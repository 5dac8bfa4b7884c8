"""The fallback backend: a TFLite interpreter for the models the native plan cannot run.

The TFLite Python interpreter is not thread-safe, so each thread gets its own interpreter
(created on first use); calls from many threads then run in parallel and never share state.
A stateful model (variable tensors: LSTM / SVDF state) is the exception: its state carries
from call to call as in TFLite, so it has one interpreter, and calls take turns.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from types import SimpleNamespace

import numpy as np

from .quantization import dequantize, quantize
from .tflite_reader import MAX_ACTIVATION_BYTES

# Tried in this order; the first importable one is used.
INTERPRETER_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter",
                       "tensorflow.lite")


# The distribution each module comes from (for its version in messages).
DISTRIBUTIONS = {"ai_edge_litert": ("ai-edge-litert",), "tflite_runtime": ("tflite-runtime",),
                 "tensorflow": ("tensorflow", "tensorflow-cpu")}


def find_interpreter() -> tuple[str, type] | None:
    """(module name, Interpreter class) of the first TFLite interpreter installed, or None."""
    for name in INTERPRETER_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception:  # not installed, or broken (tflite_runtime with NumPy 2: SystemError)
            continue
        return name.split(".")[0], module.Interpreter
    return None


def litert_module():
    """LiteRT's interpreter module (ai_edge_litert, else tflite_runtime) with its reference
    kernels (OpResolverType), or None: the peer that bench and evaluation compare pyedge with."""
    for name in INTERPRETER_MODULES[:2]:
        try:
            module = importlib.import_module(name)
        except Exception:  # not installed, or broken against this NumPy
            continue
        if hasattr(module, "OpResolverType"):
            return module
    return None


def litert_interpreter(module, content: bytes, kernels: str, rows: int, num_threads: int = 1):
    """An interpreter of `module` allocated for `rows` rows, on the kernels an OpResolverType
    names: AUTO (XNNPACK), BUILTIN_WITHOUT_DEFAULT_DELEGATES or BUILTIN_REF."""
    interpreter = module.Interpreter(
        model_content=content, num_threads=num_threads,
        experimental_op_resolver_type=getattr(module.OpResolverType, kernels))
    detail = interpreter.get_input_details()[0]
    if detail["shape"][0] != rows:
        interpreter.resize_tensor_input(detail["index"], [rows, *detail["shape"][1:]])
    interpreter.allocate_tensors()
    return interpreter


def run_litert(interpreter, x: np.ndarray) -> np.ndarray:
    """The float32 outputs [rows, values] of an allocated interpreter for the graph's float
    rows x (quantized with the input's own scale where the input is quantized)."""
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], _input_rows(x, detail))
    interpreter.invoke()
    y = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    return _float_output(y, interpreter.get_output_details()[0]).reshape(len(x), -1)


def _input_rows(x: np.ndarray, detail: dict) -> np.ndarray:
    """x as the interpreter's input takes it: float rows for a quantized (int8, uint8 or int16)
    input are quantized with the tensor's own scale and zero point, as the graph's QUANTIZE
    would; rows of the input's own type are used as they are."""
    dtype = detail["dtype"]
    if dtype != np.float32 and x.dtype != dtype:
        scale, zero_point = detail["quantization"]
        if not scale:
            raise ValueError(f"the model's {np.dtype(dtype).name} input has no quantization "
                             f"scale: give {np.dtype(dtype).name} rows")
        x = quantize(x, scale, zero_point, dtype)
    return x.astype(dtype, copy=False)


def _float_output(y: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return y
    scale, zero_point = detail["quantization"]
    return dequantize(y, scale, zero_point) if scale else y.astype(np.float32)


def missing_interpreter_message() -> str:
    """Why no interpreter could be used (each package that is installed but failed to import,
    with its version and error), and what to install that works with this NumPy."""
    failures = []
    for name in INTERPRETER_MODULES:
        package = name.split(".")[0]
        try:
            importlib.import_module(name)
        except Exception as error:
            missing = getattr(error, "name", None) or ""
            if isinstance(error, ModuleNotFoundError) and missing.split(".")[0] == package:
                continue  # not installed: nothing to report
            failures.append(f"{package_version(package)} is installed but does not import "
                            f"({type(error).__name__}: {_one_line(error)})")
    broken = "; ".join(failures) + "; " if failures else ""
    return f"{broken}install one that works with NumPy {np.__version__}: {install_hint()}"


def install_hint() -> str:
    import platform

    if platform.machine() in ("x86_64", "AMD64", "aarch64", "arm64"):
        return 'pip install "pyedge[litert]" (ai-edge-litert, built for NumPy 1 and 2)'
    if int(np.__version__.split(".")[0]) >= 2:  # 32-bit ARM: ai-edge-litert has no wheels
        return ('no TFLite interpreter for this platform works with NumPy 2 (tflite-runtime is '
                'built for NumPy 1): pip install "numpy<2" tflite-runtime')
    return "pip install tflite-runtime"


def package_version(package: str) -> str:
    from importlib import metadata  # slow to import: only on this error path

    for distribution in DISTRIBUTIONS.get(package, (package,)):
        try:
            return f"{distribution} {metadata.version(distribution)}"
        except metadata.PackageNotFoundError:
            continue
    return package


# LiteRT's reference int8 SOFTMAX aborts the process (TFLITE_CHECK in its reciprocal) when the
# sum of a row's exps reaches 2^28 in Q12.19: a row of 512 or more values tied at the maximum
# (found by tools/fuzz_models.py; zero rows are such rows). Its builtin (optimized) SOFTMAX does
# not; pyedge's native kernel writes -128 there.
MAX_REFERENCE_SOFTMAX_AXIS = 511


def reference_softmax_may_abort(graph) -> str:
    """Why LiteRT's reference kernels could abort the process on this model (data-dependent: a
    SOFTMAX row of >= 512 equal values), '' when they cannot. Such a model runs on LiteRT's
    builtin kernels instead: what LiteRT runs by default, without its XNNPACK delegate."""
    for s, subgraph in enumerate(graph.subgraphs):  # (a control-flow op runs the others)
        for op in subgraph.operators:
            if op.opcode != "SOFTMAX" or not op.inputs or op.inputs[0] < 0:
                continue
            x = subgraph.tensors[op.inputs[0]]
            if x.type_name in ("INT8", "UINT8") and x.shape and x.shape[-1] > MAX_REFERENCE_SOFTMAX_AXIS:
                where = f" of subgraph {s}" if s else ""
                return (f"the reference SOFTMAX (operator {op.index}{where}, rows of {x.shape[-1]} "
                        f"values) aborts the process on a row of more than "
                        f"{MAX_REFERENCE_SOFTMAX_AXIS} equal values")
    return ""


def builtin_kernels_crash_on(graph) -> str:
    """Why LiteRT's builtin (optimized) kernels would crash the process on this model, '' when
    they would not. Measured (tools/fuzz_models.py found it): an int8 DEPTHWISE_CONV_2D without
    a bias segfaults there (its accumulator buffer is filled from the missing bias); the
    reference kernel runs it."""
    for op in graph.operators:
        if (op.opcode == "DEPTHWISE_CONV_2D" and op.inputs and op.inputs[0] >= 0
                and graph.tensors[op.inputs[0]].type_name == "INT8"
                and (len(op.inputs) < 3 or op.inputs[2] < 0)):
            return f"LiteRT's builtin DEPTHWISE_CONV_2D (operator {op.index}) crashes without a bias"
    return ""


def _check_tensor_bytes(interpreter, rows: int, constant_bytes: int) -> None:
    """The reader bounds the tensors' bytes by the shapes the file declares; the interpreter
    computes its own (a RESHAPE or a FULLY_CONNECTED can move a row's values into the batch
    dimension, found by tools/fuzz_loader.py), so its tensors are bounded again, as allocated,
    before anything runs: a forged file must not make a predict allocate gigabytes. The
    constants (weights) are allowed what the file holds, `constant_bytes`."""
    total = sum(int(np.prod(t["shape"], dtype=np.int64)) * np.dtype(t["dtype"]).itemsize
                for t in interpreter.get_tensor_details() if len(t["shape"]))
    if total > rows * MAX_ACTIVATION_BYTES + constant_bytes:
        raise ValueError(f"its tensors take {total:,} bytes for {rows} rows as the interpreter "
                         f"sizes them (more than {MAX_ACTIVATION_BYTES:,} per row)")


def _one_line(error: BaseException) -> str:
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text[:600] if text else "no message"


class InterpreterBackend:
    def __init__(self, content: bytes, interpreter_class: type, num_threads: int,
                 batch: int | None = None, stateful: bool = False, reference: bool = True):
        self._content = content
        self._interpreter_class = interpreter_class
        self._num_threads = num_threads
        # A fixed-batch model runs at its own batch only: a call is split into calls of it.
        self.batch = batch  # None: dynamic (resized to each call's rows)
        self.stateful = stateful
        # BUILTIN_REF where the module has it (ai_edge_litert, tflite_runtime and tensorflow.lite
        # all do): then the fallback computes what LiteRT's reference kernels compute.
        # (reference=False: the builtin kernels, for a model the reference ones could abort on.)
        has_resolver = hasattr(sys.modules[interpreter_class.__module__], "OpResolverType")
        self.kernels = ("default kernels" if not has_resolver else
                        "reference kernels" if reference else "builtin kernels")
        # Where a thread finds its interpreter: its own, or the one a stateful model shares.
        self._local = SimpleNamespace() if stateful else threading.local()
        self._lock = threading.Lock()  # the turns a stateful model's callers take
        try:  # fail now, not at the first predict, if the interpreter rejects the model
            probe = self._interpreter()
            self.input_detail = probe.get_input_details()[0]
            self.output_detail = probe.get_output_details()[0]
            # Some checks only run when a batch is allocated and invoked: do it at the batch
            # the file declares, as LiteRT's allocate_tensors does (a model can be valid at some
            # batches only: fuzz_models seed 1 model 47383 was refused at 2 rows), then forget
            # the state that left behind.
            rows = batch or max(1, int(self.input_detail["shape"][0]))
            x = np.zeros((rows, *self.input_detail["shape"][1:]), self.input_detail["dtype"])
            self._invoke(x, check_size=True)
            self.reset_state()
        except Exception as error:  # whatever the interpreter raises, it is refusing the model
            module = interpreter_class.__module__.split(".")[0]
            raise ValueError(f"the TFLite interpreter ({package_version(module)}) rejects this "
                             f"model: {type(error).__name__}: {_one_line(error)}") from None

    def _new_interpreter(self):
        options = {}
        # LiteRT's reference kernels, where the module offers them: its default XNNPACK delegate
        # aborts the process (double free) on some valid int8 models, refuses others, and checks
        # less at Prepare, and its builtin kernels differ from the reference by 1 LSB (ruy's
        # double rounding), all found by tools/fuzz_models.py. The reference kernels are slower,
        # but they compute what the native backend does, bit for bit.
        if self.kernels != "default kernels":
            resolver = sys.modules[self._interpreter_class.__module__].OpResolverType
            options["experimental_op_resolver_type"] = (
                resolver.BUILTIN_REF if self.kernels == "reference kernels"
                else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter = self._interpreter_class(model_content=self._content,
                                              num_threads=self._num_threads, **options)
        interpreter.allocate_tensors()
        return interpreter

    def _interpreter(self):
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = self._local.interpreter = self._new_interpreter()
            self._local.rows = None
        return interpreter

    def reset_state(self) -> None:
        """Zero the variable tensors (a stateful model's state), as after loading."""
        if self.stateful:
            with self._lock:
                self._interpreter().reset_all_variables()

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = _input_rows(x, self.input_detail)
        if self.batch is None and not self.stateful:
            return self._invoke(x)
        # In order, one call of the model's batch at a time (a stateful model's state carries
        # from each to the next, as in TFLite).
        with self._lock if self.stateful else contextlib.nullcontext():
            step = self.batch or len(x)
            return np.concatenate([self._invoke(x[i:i + step]) for i in range(0, len(x), step)])

    def _invoke(self, x: np.ndarray, check_size: bool = False) -> np.ndarray:
        interpreter = self._interpreter()
        detail, out = self.input_detail, self.output_detail
        if self.batch is None and self._local.rows != x.shape[0]:
            try:
                interpreter.resize_tensor_input(detail["index"], [x.shape[0], *detail["shape"][1:]])
                interpreter.allocate_tensors()
            except (RuntimeError, ValueError) as error:
                # A model can be valid at some batches only (a RESHAPE to a fixed shape after
                # a FULLY_CONNECTED that flattens its input, found by tools/fuzz_models.py).
                self._local.interpreter = None  # a failed Prepare leaves it half-allocated
                raise ValueError(f"this model cannot run a batch of {x.shape[0]} rows: the "
                                 f"TFLite interpreter refuses it: {_one_line(error)}") from None
            self._local.rows = x.shape[0]
        if check_size:
            _check_tensor_bytes(interpreter, x.shape[0], len(self._content))
        interpreter.set_tensor(detail["index"], x.astype(detail["dtype"], copy=False))
        interpreter.invoke()
        return _float_output(interpreter.get_tensor(out["index"]), out)
