"""`pyedge quantize`: a user's own Keras model to a full-integer int8 .tflite.

The calibration file is an .npz with
    X        rows of raw features, as the model's users will pass them to predict (required; not
             standardized: with mean and std given, X standardized twice is refused)
    mean,    optional, one float per feature: the standardization the Keras model was trained
    std        with; written into the .tflite so predict applies it, and applied to X here
    features optional, one name per column of X: Model.feature_names (tables given to predict
             and CSVs given to evaluate are then matched by column name)
    classes  optional, one name per model output: Model.classes
    y        optional labels (names from `classes`, or integer indices into them; without
             `classes`, output indices): needed to fine-tune after --prune, and to report accuracy
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from ..metadata import PyedgeMetadata
from .data import DataError, check_trainable, from_arrays, read_npz
from .evaluate import evaluate_models, load_keras_model, model_facts
from .network import TrainingOptions
from .outputs import check_output_file, write_file_atomically
from .pipeline import split
from .pruning import gzip_size, prune
from .quantize import QuantizationOptions, calibration_sample, to_int8_tflite

CALIBRATION_KEYS = ("X", "y", "mean", "std", "classes", "features")


def read_calibration(path: str | os.PathLike) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no calibration file at {str(path)!r}")
    arrays = read_npz(path)
    if "X" not in arrays:
        raise DataError(f"{path} needs an array X of calibration rows; it has "
                        f"{', '.join(sorted(arrays)) or 'none'}")
    unknown = sorted(set(arrays) - set(CALIBRATION_KEYS))
    if unknown:
        raise DataError(f"{path}: unknown arrays {', '.join(unknown)} (known: {', '.join(CALIBRATION_KEYS)})")
    return arrays


def check_raw_features(x: np.ndarray, mean: np.ndarray, std: np.ndarray, source: str) -> None:
    """X must be raw features: standardized with mean and std, they come out near mean 0 and
    std 1. X that is itself already standardized (mean ~0, std ~1) while mean and std are far
    from (0, 1) would be standardized twice, and the model written would predict nonsense:
    a DataError. A milder mismatch (mean/std that do not fit X) is a warning on stderr."""
    if len(x) < 2:
        return
    x64 = x.astype(np.float64)
    z = (x64 - mean) / std
    x_looks_standardized = np.mean((np.abs(x64.mean(axis=0)) < 0.1) & (np.abs(x64.std(axis=0) - 1) < 0.1))
    z_off = (np.abs(z.mean(axis=0)) > 1) | ~((1 / 3 < z.std(axis=0)) & (z.std(axis=0) < 3))
    if not z_off.mean() > 0.5:
        return
    detail = (f"standardized with the file's mean and std, {int(z_off.sum())} of {x.shape[1]} features "
              f"have a mean or std far from 0 and 1 (feature 0: mean {z[:, 0].mean():.3g}, std "
              f"{z[:, 0].std():.3g})")
    if x_looks_standardized > 0.9:
        raise DataError(f"{source}: X looks already standardized (every feature has mean ~0 and std "
                        f"~1), but mean and std are given too: {detail}. X must be the raw features, "
                        "as predict() will get them; or leave out mean and std if the model takes X as is")
    print(f"pyedge quantize: warning: {source}: {detail}; X should be raw features, as predict() "
          "will get them, and mean/std the statistics the Keras model was trained with", file=sys.stderr)


def quantize_keras_file(keras_path: str | os.PathLike, calibration: str | os.PathLike,
                        out: str | os.PathLike, options: QuantizationOptions | None = None,
                        seed: int = 0, verbose: int | str = 0) -> dict:
    """Converts the Keras model to int8 with the calibration rows; writes `out`. Returns a
    report: model facts (sizes, MACs, backend), the options, pruning and, when the file has
    labels, float32 vs int8 metrics on the calibration rows (not held-out data)."""
    options = options or QuantizationOptions()
    options.check()
    out = check_output_file(out)  # before any work
    arrays = read_calibration(calibration)
    model = load_keras_model(keras_path)
    x = arrays["X"]
    if x.ndim != 2 or x.dtype.kind not in "fiu" or not np.isfinite(x).all():
        raise DataError(f"{calibration}: X must be finite numbers in rows (rows, features), got "
                        f"{x.dtype} of shape {x.shape}")
    x = x.astype(np.float32)
    classes = tuple(arrays["classes"].tolist()) if "classes" in arrays else None
    features = tuple(str(n) for n in arrays["features"].tolist()) if "features" in arrays else None
    if features is not None and len(features) != x.shape[1]:
        raise DataError(f"{calibration}: features must name the {x.shape[1]} columns of X, got "
                        f"{len(features)} names")
    metadata = None
    if "mean" in arrays or "std" in arrays or classes is not None or features is not None:
        if ("mean" in arrays) != ("std" in arrays):
            raise DataError(f"{calibration}: mean and std go together: give both or neither")
        mean = std = None
        if "mean" in arrays:
            mean, std = (np.asarray(arrays[k], np.float32).reshape(-1) for k in ("mean", "std"))
            if mean.size != x.shape[1] or std.size != x.shape[1] or not np.all(std > 0):
                raise DataError(f"{calibration}: mean and std need {x.shape[1]} values each (one per "
                                "feature), std > 0")
        metadata = PyedgeMetadata(mean, std, classes, features)
        if mean is not None:
            check_raw_features(x, mean, std, str(calibration))
    x_model = metadata.standardize(x) if metadata is not None else x
    report: dict = {"options": options.as_dict(),
                    "calibration_rows_used": min(len(x), options.calibration_rows)}

    labelled = None
    if "y" in arrays:
        y = arrays["y"]
        n_outputs = int(model.outputs[0].shape[-1])
        if classes is not None and y.dtype.kind in "iu" and all(isinstance(c, str) for c in classes):
            # Integer labels beside class names: indices into the names.
            if not np.all((y >= 0) & (y < len(classes))):
                raise DataError(f"{calibration}: integer labels y index the {len(classes)} classes: "
                                f"0 to {len(classes) - 1}")
            y = np.asarray(classes)[y]
        labelled = from_arrays(x, y, source=str(calibration),
                               classes=classes if classes is not None else tuple(range(n_outputs)))
    if options.prune:
        if labelled is None:
            raise DataError(f"--prune fine-tunes the model: {calibration} needs labels y")
        training = TrainingOptions(seed=seed)
        n_validation = check_trainable(labelled, training.validation_fraction)
        train_rows, validation_rows = split(labelled, n_validation, seed)
        before = gzip_size(to_int8_tflite(model, calibration_sample(x_model, options.calibration_rows, seed),
                                          options, metadata))
        result = prune(model, options.prune, x_model[train_rows], labelled.y[train_rows],
                       x_model[validation_rows], labelled.y[validation_rows], training,
                       options.prune_epochs, verbose)
        report["pruning"] = dict(dataclasses.asdict(result), tflite_gzip_bytes_before=before)
    content = to_int8_tflite(model, calibration_sample(x_model, options.calibration_rows, seed), options,
                             metadata)
    out.parent.mkdir(parents=True, exist_ok=True)
    if "pruning" in report:
        report["pruning"]["tflite_gzip_bytes_after"] = gzip_size(content)
        pruned_keras = out.with_suffix(".pruned.keras")
        partial = pruned_keras.with_name(f".{pruned_keras.stem}.partial.keras")
        model.save(partial)  # (Keras wants the .keras suffix) then moved into place whole
        os.replace(partial, pruned_keras)
        report["pruned_keras"] = str(pruned_keras)
    write_file_atomically(out, content)
    report["model"] = model_facts(out)
    if labelled is not None:
        report["calibration_rows"] = evaluate_models(out, labelled, keras_model=model)
    return report
