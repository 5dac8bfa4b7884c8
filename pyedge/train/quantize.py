"""Post-training full-integer int8 quantization with the TFLite converter.

Weights int8 per output channel (the converter's default; per tensor as an option),
activations int8 calibrated on a representative sample of the training rows, float32 input
and output by default (the graph quantizes and dequantizes itself) or int8 I/O. The result is
the ordinary .tflite pyedge's native backend runs, plus pyedge's metadata entry.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import asdict, dataclass

import numpy as np

from ..metadata import PyedgeMetadata
from .tensorflow_import import quiet_native_output, tensorflow
from .tflite_metadata import with_metadata


@dataclass
class QuantizationOptions:
    calibration_rows: int = 500  # representative rows drawn from the training data
    per_channel: bool = True
    int8_io: bool = False  # int8 input and output tensors instead of float32
    prune: float | None = None  # fraction of each Dense kernel's weights to zero, then fine-tune
    prune_epochs: int = 2  # fine-tuning epochs after pruning

    def check(self) -> None:
        problems = []
        if not (isinstance(self.calibration_rows, int) and self.calibration_rows >= 1):
            problems.append(f"calibration rows must be a whole number >= 1, got {self.calibration_rows!r}")
        if self.prune is not None and not 0 < self.prune < 1:
            problems.append(f"the pruning fraction must be in (0, 1), got {self.prune}")
        if not (isinstance(self.prune_epochs, int) and self.prune_epochs >= 1):
            problems.append(f"fine-tuning epochs after pruning must be >= 1, got {self.prune_epochs!r}")
        if problems:
            raise ValueError("; ".join(problems))

    def as_dict(self) -> dict:
        return asdict(self)


def calibration_sample(x: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """Up to `rows` rows of x, drawn without replacement (all of x when it is smaller)."""
    if len(x) <= rows:
        return np.asarray(x, np.float32)
    pick = np.random.default_rng(seed).choice(len(x), size=rows, replace=False)
    return np.asarray(x[np.sort(pick)], np.float32)


def to_int8_tflite(keras_model, calibration: np.ndarray, options: QuantizationOptions,
                   metadata: PyedgeMetadata | None = None) -> bytes:
    """The Keras model as a full-integer int8 .tflite. `calibration`: rows as the Keras model
    takes them (standardized when metadata standardizes)."""
    tf = tensorflow()
    calibration = np.asarray(calibration, np.float32)
    if calibration.ndim != 2 or len(calibration) == 0:
        raise ValueError(f"calibration data must be rows of features, got shape {calibration.shape}")
    expected = keras_model.inputs[0].shape[1:]
    if tuple(expected) != calibration.shape[1:]:
        raise ValueError(f"the model takes rows of shape {tuple(expected)}; the calibration rows have "
                         f"shape {calibration.shape[1:]}")
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([row[None]] for row in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if options.int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if not options.per_channel:
        converter._experimental_disable_per_channel = True  # the converter's only switch for it
    # The converter prints the SavedModel it exports and its own C++ log: only shown on failure.
    with quiet_native_output(), contextlib.redirect_stdout(io.StringIO()):
        content = converter.convert()
    return with_metadata(content, metadata) if metadata is not None else content
