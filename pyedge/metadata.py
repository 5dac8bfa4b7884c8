"""What a trained model carries beside its graph: feature names, standardization, class names.

The one place the format is defined. A `.tflite` file written by `pyedge train` or
`pyedge quantize` has a metadata entry (the flatbuffer's `Model.metadata`, a name and a buffer
index, which every TFLite interpreter ignores) named "pyedge" whose buffer is UTF-8 JSON:

    {"version": 1,
     "features": ["age", ...],   # optional: the input features' names, in the graph's order
     "mean": [m0, m1, ...],      # optional, with "std": one float per input feature
     "std": [s0, s1, ...],       #   (finite; std > 0)
     "classes": ["cat", ...],    # optional: one name per output, all strings or all integers
     "target": {"mean": m, "std": s}}  # optional (version 2): a regression model's one
                                 #   output is standardized; predict returns output * s + m

With "features", tables given by column name (a CSV to `pyedge evaluate`, a DataFrame or a
dict to `Model.predict`) are matched by name, so reordered columns give the same answers.

The model's graph computes on standardized features `(x - mean) / std`; `pyedge.Model.predict`
takes raw features and applies it first, in float32, on every backend, before the graph's
QUANTIZE (to use the file with another interpreter, feed it `Model.standardize(x)`). int8 rows
given to an int8-input model are already in the graph's quantized space and are used as is.
With "target", predict maps the graph's (dequantized) output back to the label's units the same
way on every backend: two float32 operations, `y * std + mean`.
Readers ignore keys they do not know; a change that older readers would misread bumps
"version" (a file with "target" is version 2: a version-1 reader would return standardized
values), and a reader refuses a version newer than its own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

METADATA_NAME = "pyedge"
VERSION = 2  # the newest this reads; files are written with the lowest version they need
MAX_METADATA_BYTES = 16 << 20  # 65,000 features in JSON take ~2 MB; anything far larger is forged


@dataclass(frozen=True)
class PyedgeMetadata:
    mean: np.ndarray | None = None  # float32 (features,), read-only
    std: np.ndarray | None = None  # float32 (features,), > 0
    classes: tuple | None = None  # str or int, one per model output
    features: tuple[str, ...] | None = None  # one name per input feature, unique
    target: tuple[float, float] | None = None  # (mean, std > 0) of a regression label, float32

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise ValueError("mean and std go together: give both or neither")
        if self.features is not None:
            object.__setattr__(self, "features", _feature_names(list(self.features), None))

    @classmethod
    def from_training_data(cls, x: np.ndarray, classes: list | tuple | None = None,
                           features: list | tuple | None = None,
                           targets: np.ndarray | None = None) -> PyedgeMetadata:
        """Standardization statistics of the training rows x (rows, features); a constant
        feature gets std 1 (as scikit-learn's StandardScaler does), so it maps to 0. With
        `targets` (a regression's training labels), their mean and std too."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        mean = x.mean(axis=0).astype(np.float32)
        std = x.std(axis=0).astype(np.float32)
        std[~(std > 0)] = 1.0  # also catches a std that underflows to 0 in float32
        target = None
        if targets is not None:
            values = np.asarray(targets, dtype=np.float64)
            target = (float(np.float32(values.mean())), float(np.float32(values.std()) or 1.0))
        return cls(_frozen(mean), _frozen(std), None if classes is None else tuple(classes),
                   None if features is None else tuple(features), target)

    def standardizer(self, feature_shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray] | None:
        """The function x -> (x - mean) / std for rows of `feature_shape` (one row, or a batch
        of them), or None without statistics. Two float32 IEEE operations (x is cast to
        float32 first, as predict casts it), so every backend and CPU gets the same bits."""
        if self.mean is None:
            return None
        mean, std = self.mean.reshape(feature_shape), self.std.reshape(feature_shape)

        def standardize(x: np.ndarray) -> np.ndarray:
            out = np.subtract(x, mean, dtype=np.float32)
            np.divide(out, std, out=out)
            return out

        return standardize

    def target_mapper(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """The function y -> y * std + mean (float32) from the graph's output to the label's
        units, or None for a model without a standardized target."""
        if self.target is None:
            return None
        mean, std = np.float32(self.target[0]), np.float32(self.target[1])

        def to_label_units(y: np.ndarray) -> np.ndarray:
            out = np.multiply(y, std, dtype=np.float32)
            np.add(out, mean, out=out)
            return out

        return to_label_units

    def standardize_target(self, y: np.ndarray) -> np.ndarray:
        """Regression labels as the graph is trained to output them: (y - mean) / std."""
        assert self.target is not None
        mean, std = np.float32(self.target[0]), np.float32(self.target[1])
        return np.divide(np.subtract(y, mean, dtype=np.float32), std, dtype=np.float32)

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """(rows, features) -> standardized float32 rows (a copy as float32 without statistics)."""
        function = self.standardizer((np.shape(x)[-1],))
        return np.array(x, dtype=np.float32) if function is None else function(x)

    def to_json(self) -> bytes:
        payload: dict[str, object] = {"version": 2 if self.target is not None else 1}
        if self.features is not None:
            payload["features"] = list(self.features)
        if self.mean is not None:
            # float32 -> Python float is exact, and JSON's shortest repr reads back exactly.
            payload["mean"] = [float(v) for v in self.mean]
            payload["std"] = [float(v) for v in self.std]
        if self.classes is not None:
            payload["classes"] = [_plain(c) for c in self.classes]
        if self.target is not None:
            payload["target"] = {"mean": float(self.target[0]), "std": float(self.target[1])}
        return json.dumps(payload, separators=(",", ":")).encode()


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float32)
    a.flags.writeable = False
    return a


def _plain(value: object) -> str | int:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"class names must be strings or integers, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (str, np.str_)):
        return str(value)
    raise ValueError(f"class names must be strings or integers, got {value!r}")


def parse_metadata(payload: bytes, input_depth: int, output_depth: int) -> PyedgeMetadata:
    """Reads and checks the "pyedge" entry against the graph it travels with. Any problem is a
    ValueError that says what is wrong (the caller adds the file name)."""
    if len(payload) > MAX_METADATA_BYTES:
        raise ValueError(f"'{METADATA_NAME}' metadata is {len(payload):,} bytes, more than the "
                         f"{MAX_METADATA_BYTES:,} allowed")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"'{METADATA_NAME}' metadata is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"'{METADATA_NAME}' metadata must be a JSON object")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"'{METADATA_NAME}' metadata has no valid version number")
    if version > VERSION:
        raise ValueError(f"'{METADATA_NAME}' metadata version {version} is newer than this "
                         f"pyedge reads ({VERSION}): upgrade pyedge")
    mean = std = classes = features = None
    if "features" in data:
        features = _feature_names(data["features"], input_depth)
    if "mean" in data or "std" in data:
        mean = _features(data, "mean", input_depth)
        std = _features(data, "std", input_depth)
        if not np.all(std > 0):
            raise ValueError(f"'{METADATA_NAME}' metadata: std must be > 0 "
                             f"(feature {int(np.argmin(std > 0))} has {std[np.argmin(std > 0)]})")
    if "classes" in data:
        classes = _classes(data["classes"], output_depth)
    target = _target(data["target"], output_depth) if "target" in data else None
    return PyedgeMetadata(mean, std, classes, features, target)


def _feature_names(values: object, input_depth: int | None) -> tuple[str, ...]:
    if not isinstance(values, list) or (input_depth is not None and len(values) != input_depth):
        got = f"{len(values)} names" if isinstance(values, list) else type(values).__name__
        raise ValueError(f"'{METADATA_NAME}' metadata: features must be a list of {input_depth} "
                         f"names (one per input feature), got {got}")
    if not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"'{METADATA_NAME}' metadata: feature names must be non-empty strings")
    if len(set(values)) != len(values):
        repeated = sorted({v for v in values if values.count(v) > 1})
        raise ValueError(f"'{METADATA_NAME}' metadata: feature names must be unique "
                         f"({', '.join(map(repr, repeated[:5]))} repeated)")
    return tuple(values)


def _features(data: dict, key: str, input_depth: int) -> np.ndarray:
    values = data.get(key)
    if not isinstance(values, list) or len(values) != input_depth:
        got = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
        raise ValueError(f"'{METADATA_NAME}' metadata: {key} must be a list of {input_depth} numbers "
                         f"(one per input feature), got {got}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in values):
        raise ValueError(f"'{METADATA_NAME}' metadata: {key} must hold finite numbers only")
    with np.errstate(over="ignore"):  # checked just below
        array = np.asarray(values, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"'{METADATA_NAME}' metadata: {key} overflows float32")
    return _frozen(array)


def _target(value: object, output_depth: int) -> tuple[float, float]:
    what = f"'{METADATA_NAME}' metadata: target"
    if output_depth != 1:
        raise ValueError(f"{what} is for a model with one output value; this one has {output_depth}")
    if not isinstance(value, dict) or set(value) != {"mean", "std"}:
        raise ValueError(f"{what} must be an object with exactly 'mean' and 'std'")
    mean, std = value["mean"], value["std"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               and abs(v) <= float(np.finfo(np.float32).max) for v in (mean, std)):
        raise ValueError(f"{what} mean and std must be finite float32 numbers")
    if not np.float32(std) > 0:
        raise ValueError(f"{what} std must be > 0 in float32, got {std}")
    return float(np.float32(mean)), float(np.float32(std))


def _classes(values: object, output_depth: int) -> tuple:
    if not isinstance(values, list) or len(values) != output_depth:
        got = f"{len(values)} names" if isinstance(values, list) else type(values).__name__
        raise ValueError(f"'{METADATA_NAME}' metadata: classes must be a list of {output_depth} names "
                         f"(one per model output), got {got}")
    all_str = all(isinstance(v, str) for v in values)
    all_int = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if not (all_str or all_int):
        raise ValueError(f"'{METADATA_NAME}' metadata: classes must be all strings or all integers")
    if len(set(values)) != len(values):
        raise ValueError(f"'{METADATA_NAME}' metadata: class names must be unique")
    return tuple(values)
