"""pyedge.Model: load a .tflite file once, predict with one call, from any thread."""

from __future__ import annotations

import math
import os

import numpy as np

from ._inputs import as_batch, is_table, table_rows
from .interpreter import (
    InterpreterBackend,
    builtin_kernels_crash_on,
    find_interpreter,
    missing_interpreter_message,
    reference_softmax_may_abort,
)
from .metadata import METADATA_NAME, PyedgeMetadata, parse_metadata
from .plan import InvalidModel, Plan, UnsupportedModel, build_plan, fixed_batch
from .reference import ReferenceBackend
from .tflite_reader import Graph, read_model

BACKENDS = ("auto", "native", "reference", "interpreter")
MAX_THREADS = 1024


def _core():
    """The C++ extension, or the ImportError that says why it cannot load."""
    try:
        from . import _core as core
    except ImportError as error:
        return error
    return core


def default_num_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def kernels() -> list[dict]:
    """Every kernel pyedge knows, best first: compiled into this build, supported by this CPU,
    and the one models use now (PYEDGE_KERNEL forces one)."""
    core = _core()
    if isinstance(core, ImportError):
        return []
    selected = core.select_kernel(os.environ.get("PYEDGE_KERNEL", ""))  # ValueError if bad
    return [dict(k, selected=k["name"] == selected) for k in core.kernels()]


def kernel_variable_problem() -> str | None:
    """What is wrong with PYEDGE_KERNEL (unknown, or not supported by this CPU), or None."""
    try:
        kernels()
    except ValueError as error:
        return str(error)
    return None


class Model:
    """An int8 TFLite model, ready to predict.

    source: a path to a .tflite file, or the model's bytes.
    backend: "auto" (native when every op is supported and the extension loads, else a TFLite
        interpreter, else the NumPy reference), or force "native", "interpreter", "reference".
    num_threads: threads for large batches (default: the CPUs this process may use); results
        never depend on it.
    """

    def __init__(self, source: str | os.PathLike | bytes, backend: str = "auto",
                 num_threads: int | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        # A pickled model asks again for "the CPUs of this process" where it lands, if it did here.
        self._requested = (backend, None if num_threads is None else int(num_threads))
        if num_threads is None:
            num_threads = default_num_threads()
        if not 1 <= int(num_threads) <= MAX_THREADS:
            raise ValueError(f"num_threads must be in [1, {MAX_THREADS}], got {num_threads}")
        kernels()  # an unknown or unsupported PYEDGE_KERNEL is an error whichever backend runs
        if isinstance(source, (bytes, bytearray, memoryview)):
            content, name = bytes(source), "model bytes"
        else:
            # (os.path rather than pathlib, which costs `import pyedge` ~8 ms)
            name = os.fspath(source)
            if os.path.isdir(name):
                raise IsADirectoryError(f"{name!r} is a directory, not a model file")
            if not os.path.isfile(name):
                raise FileNotFoundError(f"no model file at {name!r}")
            with open(name, "rb") as f:
                content = f.read()
        self._content = content
        self.source = name
        self.graph: Graph = read_model(content, name)
        if len(self.graph.inputs) != 1 or len(self.graph.outputs) != 1:  # on any backend
            raise ValueError(f"{name}: pyedge runs models with one input and one output; this "
                             f"one has {len(self.graph.inputs)} and {len(self.graph.outputs)}")
        self.metadata: dict[str, bytes] = self.graph.metadata
        self.plan: Plan | None = None
        unsupported: list[str] = []
        try:
            self.plan = build_plan(self.graph)
        except UnsupportedModel as error:
            unsupported = error.reasons
        except InvalidModel as error:
            raise ValueError(f"{name}: inconsistent TFLite model: {error}") from None
        self._native = None
        self._backend = None
        self._pyedge_metadata = self._read_pyedge_metadata()
        self._standardize = self._pyedge_metadata.standardizer(self.input_shape[1:])
        self._to_label_units = self._pyedge_metadata.target_mapper()
        self.backend = self._choose_backend(backend, int(num_threads), unsupported)

    def _read_pyedge_metadata(self) -> PyedgeMetadata:
        payload = self.metadata.get(METADATA_NAME)
        if payload is None:
            return PyedgeMetadata()
        try:
            return parse_metadata(payload, math.prod(self.input_shape[1:]),
                                  math.prod(self.output_shape[1:]))
        except ValueError as error:
            raise ValueError(f"{self.source}: {error}") from None

    def _choose_backend(self, backend: str, num_threads: int, unsupported: list[str]) -> str:
        why_not_native = ""
        if unsupported:
            why_not_native = "native backend cannot run this model: " + "; ".join(unsupported)
        elif backend in ("auto", "native"):
            core = _core()
            if isinstance(core, ImportError):
                why_not_native = f"the C++ extension pyedge._core does not load ({core})"
            else:
                spec = self.plan.to_native()
                if self._pyedge_metadata.mean is not None:
                    spec.update(input_mean=self._pyedge_metadata.mean, input_std=self._pyedge_metadata.std)
                self._native = core.NativeModel(spec, num_threads,
                                                os.environ.get("PYEDGE_KERNEL", ""))
                threads = self._native.num_threads
                # Each op the model runs, with the implementation the CPU gave it.
                ops = (["quantize"] if self.plan.float_input else []) + list(
                    dict.fromkeys(layer.kind for layer in self.plan.layers))
                chosen = self._native.implementations
                return (f"native (kernel {self._native.kernel}, {threads} "
                        f"thread{'s' if threads > 1 else ''}; "
                        + ", ".join(f"{op} {chosen[op]}" for op in ops) + ")")
        if backend == "native":
            raise RuntimeError(f"{self.source}: {why_not_native}")
        found = find_interpreter()
        if backend == "reference" or (backend == "auto" and self.plan is not None
                                      and found is None):
            if self.plan is None:
                raise RuntimeError(f"{self.source}: {why_not_native}")
            self._backend = ReferenceBackend(self.plan)
            reason = why_not_native if backend == "auto" else "requested"
            return f"reference (NumPy; {reason})"
        if found is None:
            raise RuntimeError(f"{self.source}: {why_not_native}. No TFLite interpreter is "
                               f"installed to run it instead: {missing_interpreter_message()}")
        module, interpreter_class = found
        may_abort = reference_softmax_may_abort(self.graph)
        crashes = builtin_kernels_crash_on(self.graph) if may_abort else ""
        if crashes:
            # The builtin kernels would crash on every input, the reference ones on rows of
            # ties (and on the load-time probe's zeros): a clear error instead of a dead process.
            raise ValueError(f"{self.source}: {why_not_native}; LiteRT's kernels would end the "
                             f"process on it: {may_abort}, and {crashes}")
        try:
            self._backend = InterpreterBackend(
                self._content, interpreter_class, num_threads, fixed_batch(self._graph_input),
                stateful=self.stateful, reference=not may_abort)
        except ValueError as error:
            raise ValueError(f"{self.source}: {error}") from None
        kernels = self._backend.kernels
        if kernels == "builtin kernels":
            kernels += f", since {may_abort}"
        reason = why_not_native if backend == "auto" else "requested"
        return f"interpreter ({module}, {kernels}; {reason})"

    # -- shapes and quantization ------------------------------------------------------------
    @property
    def input_shape(self) -> tuple:
        """(None, features...): None stands for the batch dimension."""
        if self.plan is not None:
            return (None, *self.plan.feature_shape)
        return (None, *self.graph.tensors[self.graph.inputs[0]].shape[1:])

    @property
    def batch_multiple(self) -> int:
        """predict() takes a multiple of this many rows: the batch of a model whose batch is
        fixed (it runs one such batch per call of the interpreter), else 1."""
        if self.plan is not None:
            return self.plan.batch_multiple
        return fixed_batch(self._graph_input) or 1

    @property
    def output_shape(self) -> tuple:
        if self.plan is not None:
            return (None, *self.plan.output_shape)
        return (None, *self.graph.tensors[self.graph.outputs[0]].shape[1:])

    @property
    def input_quantization(self) -> tuple[float, int] | None:
        """(scale, zero_point) of the int8 tensor the model computes on, or None (float model)."""
        if self.plan is not None:
            return (self.plan.input.scale, self.plan.input.zero_point)
        return _tensor_quantization(self.graph, self.graph.inputs[0])

    @property
    def output_quantization(self) -> tuple[float, int] | None:
        if self.plan is not None:
            return (self.plan.output.scale, self.plan.output.zero_point)
        return _tensor_quantization(self.graph, self.graph.outputs[0])

    @property
    def size_bytes(self) -> int:
        return len(self._content)

    @property
    def content(self) -> bytes:
        """The .tflite file's bytes, as loaded (to hand the same model to another runtime)."""
        return self._content

    # -- what travels with a trained model (pyedge/metadata.py) --------------------------------
    @property
    def classes(self) -> np.ndarray | None:
        """The class name of each output, as the training labels were (strings or integers),
        or None: `model.classes[model.predict(x).argmax(axis=-1)]` names the predictions."""
        classes = self._pyedge_metadata.classes
        if classes is None:
            return None
        names = np.array(classes)
        names.flags.writeable = False
        return names

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        """The input features' names, in the order the model takes them (as in the training
        data's columns), or None: tables given to predict are matched by these names."""
        return self._pyedge_metadata.features

    @property
    def target_standardization(self) -> tuple[float, float] | None:
        """(mean, std) of a regression model's label: predict returns the graph's output
        * std + mean (float32), in the label's units; None for other models."""
        return self._pyedge_metadata.target

    @property
    def standardization(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean, std) float32 per feature that predict applies to raw features, or None."""
        meta = self._pyedge_metadata
        return None if meta.mean is None else (meta.mean, meta.std)

    def standardize(self, x: object) -> np.ndarray:
        """Raw float rows as the graph takes them: `(x - mean) / std` in float32 (x as float32
        when the model has no standardization). What another TFLite interpreter must be given
        to compute what predict computes from raw features."""
        rows, single = as_batch(x, self.input_shape[1:], None)
        rows = self._standardized(rows)
        return rows[0] if single else rows

    # -- running ----------------------------------------------------------------------------
    def predict(self, x: object) -> np.ndarray:
        """One row (features,) or a batch (rows, features) -> float32 outputs of the same rank.

        Float input of any dtype and layout is converted; an int8 array given to an int8-input
        model is taken as already quantized. NaN/Inf raise ValueError naming the first bad row.
        A table with named columns (a pandas DataFrame or Series, a NumPy structured array, a
        dict of columns) is matched by name to the model's `feature_names`: column order does
        not matter, other columns are ignored, a missing one is a ValueError.
        A regression model trained by pyedge returns values in its label's units.
        """
        y = self._predict_graph(x)
        return y if self._to_label_units is None else self._to_label_units(y)

    def _predict_graph(self, x: object) -> np.ndarray:
        """The graph's (dequantized) outputs for x."""
        if type(x) is not np.ndarray or x.dtype.names is not None:
            if is_table(x):
                x = table_rows(x, self._pyedge_metadata.features, self.input_shape[1:])
        if self._native is not None:
            # One C++ call checks, standardizes, quantizes, runs and dequantizes.
            return self._native.predict(x)
        rows, single = as_batch(x, self.input_shape[1:], self._raw_input_dtype)
        if rows.dtype == np.float32:  # (quantized rows are in the graph's space already)
            rows = self._standardized(rows)
        batch = self.batch_multiple
        if rows.shape[0] % batch:
            raise ValueError(f"this model's batch is fixed at {batch} rows: predict() takes a "
                             f"multiple of {batch} rows, got {rows.shape[0]}")
        if rows.shape[0]:
            y = self._backend.predict(rows)
        else:
            y = np.zeros((0, *self.output_shape[1:]), np.float32)
        return y[0] if single and len(y) == 1 else y

    @property
    def _graph_input(self):
        return self.graph.tensors[self.graph.inputs[0]]

    @property
    def stateful(self) -> bool:
        """Whether the model keeps state between calls (variable tensors: LSTM / SVDF state).
        As in TFLite, each predict continues from the state the last one left; rows of one
        call run in order, one model batch at a time. reset_state() starts afresh."""
        return any(t.is_variable for t in self.graph.tensors)

    def reset_state(self) -> None:
        """Zero a stateful model's state, as after loading (a stateless model has none)."""
        if self.stateful:
            self._backend.reset_state()

    def _standardized(self, rows: np.ndarray) -> np.ndarray:
        """A batch of float32 rows, standardized (as is without statistics), for the Python
        backends; the native one does the same two float32 operations in C++."""
        if self._standardize is None:
            return rows
        standardized = self._standardize(rows)
        finite = np.isfinite(standardized.reshape(len(rows), math.prod(rows.shape[1:]))).all(axis=1)
        if not finite.all():  # as_batch has refused NaN and Inf already
            raise ValueError(f"input row {int(np.argmin(finite))} overflows float32 when standardized "
                             "with the model's training statistics ((x - mean) / std)")
        return standardized

    @property
    def _raw_input_dtype(self) -> np.dtype | None:
        """The dtype of rows predict passes as they are: the graph input's, when quantized
        (int8; on the interpreter also uint8 and int16, which it may have no scale to
        quantize floats with), else None (float rows)."""
        if self.plan is not None:
            return None if self.plan.float_input else np.dtype(np.int8)
        dtype = self._graph_input.dtype
        return dtype if dtype is not None and dtype.kind in "iu" else None

    def trace(self, x: object) -> dict[str, np.ndarray]:
        """Every int8 tensor the plan computes for x, by its name in the .tflite file: the
        quantized input, then each layer's output (native or reference backend only)."""
        if self.plan is None:
            raise RuntimeError(f"trace needs the native plan; {self.backend}")
        names = [self.plan.input_name] + [layer.name for layer in self.plan.layers]
        if self._native is not None:
            arrays = self._native.trace(x)  # standardizes in C++, as predict does
        else:
            rows, _ = as_batch(x, self.input_shape[1:], self._raw_input_dtype)
            if rows.dtype == np.float32:
                rows = self._standardized(rows)
            arrays = ReferenceBackend(self.plan).trace(rows)
        tensors = dict(zip(names, arrays))
        for alias, source in self.plan.aliases.items():
            tensors[alias] = tensors[source]
        return tensors

    # -- describing -------------------------------------------------------------------------
    def summary(self) -> str:
        lines = [f"pyedge.Model {self.source!r} ({self.size_bytes:,} bytes)",
                 f"  backend: {self.backend}"]
        if self.stateful:
            lines.append("  stateful: state carries from call to call (model.reset_state() clears it)")
        if self.feature_names is not None:
            names = self.feature_names
            shown = ", ".join(names) if len(names) <= 16 else \
                ", ".join(names[:12]) + f", ... ({len(names)} features)"
            lines.append(f"  features: {shown}")
        if self.standardization is not None:
            lines.append(f"  preprocessing: (x - mean) / std on {self.standardization[0].size} raw "
                         "features (training statistics, from the file's metadata)")
        if self.classes is not None:
            names = ", ".join(str(c) for c in self.classes[:12])
            more = f", ... ({len(self.classes)} classes)" if len(self.classes) > 12 else ""
            lines.append(f"  classes: {names}{more}")
        if self.target_standardization is not None:
            mean, std = self.target_standardization
            lines.append(f"  output: a value in the label's units (graph output x {std:g} + {mean:g})")
        if self.plan is None:
            ops = ", ".join(op.opcode for op in self.graph.operators)
            lines.append(f"  input {self.input_shape}, output {self.output_shape}; ops: {ops}")
            return "\n".join(lines)
        p = self.plan
        kind = "float32" if p.float_input else "int8"
        lines.append(f"  input  {kind} {self.input_shape}  scale={p.input.scale:.6g} "
                     f"zero_point={p.input.zero_point}")
        lines.append(f"  {'layer':<28}{'output':>8}{'params':>10}{'MACs':>10}  detail")
        for layer in p.layers:
            name, detail = layer.describe()
            lines.append(f"  {name:<28}{layer.output_depth:>8}{layer.params:>10,}"
                         f"{layer.macs:>10,}  {detail}")
        kind = "float32" if p.float_output else "int8"
        lines.append(f"  output {kind} {self.output_shape}  (dequantized: scale={p.output.scale:.6g}"
                     f" zero_point={p.output.zero_point})")
        lines.append(f"  total: {p.params:,} parameters, {p.macs:,} MACs per row")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def __reduce__(self):
        # A Model pickles as its bytes (not a path), so it travels to other processes.
        backend, num_threads = self._requested
        return (Model, (self._content, backend, num_threads))


def _tensor_quantization(graph: Graph, index: int) -> tuple[float, int] | None:
    t = graph.tensors[index]
    if t.type_name != "INT8" or not t.scales.size:
        return None
    return (float(t.scales[0]), int(t.zero_points[0]))
