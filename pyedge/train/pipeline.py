"""`fit`: from data to a validated int8 model in one folder (what `pyedge train` runs).

    result = pyedge.train.fit("sensors.csv", label="activity", out="runs/act")
    result = pyedge.train.fit(X, y, out="runs/x", epochs=20, hidden=(128, 64))
    print(result.summary()); result.files["tflite"]; result.report["validation"]["int8"]

Steps: load and check the data; split it (stratified) into training and validation rows;
standardize with the training rows' statistics; train the MLP; optionally prune and fine-tune;
save model.keras; quantize to model.tflite (with the statistics and class names in its
metadata); evaluate both models on the validation rows; write report.json and confusion.png.

A regression (task="regression", or a built-in regression dataset) standardizes the label too,
trains a linear head on it, stores the label's mean and std in the metadata (so predict returns
the label's units), and draws scatter.png and residuals.png instead of the confusion matrix.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..metadata import PyedgeMetadata
from ..model import Model
from .data import Dataset, check_trainable
from .datasets import load_data
from .evaluate import (
    evaluate_models,
    model_facts,
    regression_predictions,
    write_confusion_png,
    write_regression_pngs,
)
from .network import TrainingOptions, build_mlp, seed_everything, train
from .outputs import check_output_folder, staged_folder
from .pruning import gzip_size, prune
from .quantize import QuantizationOptions, calibration_sample, to_int8_tflite
from .report import training_summary
from .tensorflow_import import require

FILES = {"keras": "model.keras", "tflite": "model.tflite", "report": "report.json",
         "confusion": "confusion.png"}
REGRESSION_FILES = {"keras": "model.keras", "tflite": "model.tflite", "report": "report.json",
                    "scatter": "scatter.png", "residuals": "residuals.png"}


@dataclass
class TrainResult:
    out: Path
    files: dict[str, Path]  # keras, tflite, report, confusion (a regression: scatter, residuals)
    report: dict  # what report.json holds
    validation: Dataset  # the validation rows (raw features), which the report's metrics are on

    @property
    def float_accuracy(self) -> float:
        return self.report["validation"]["float"]["accuracy"]

    @property
    def int8_accuracy(self) -> float:
        return self.report["validation"]["int8"]["accuracy"]

    @property
    def agreement(self) -> float:
        return self.report["validation"]["agreement"]

    def summary(self) -> str:
        return training_summary(self.report, self.files)


def split_options(options: dict, training: TrainingOptions | None,
                  quantization: QuantizationOptions | None) -> tuple[TrainingOptions, QuantizationOptions]:
    """TrainingOptions and QuantizationOptions from keyword arguments named like their fields."""
    training_fields = {f.name for f in dataclasses.fields(TrainingOptions)}
    quantization_fields = {f.name for f in dataclasses.fields(QuantizationOptions)}
    unknown = set(options) - training_fields - quantization_fields
    if unknown:
        raise TypeError(f"unknown option{'s' if len(unknown) > 1 else ''}: {', '.join(sorted(unknown))}")
    training = dataclasses.replace(training or TrainingOptions(),
                                   **{k: v for k, v in options.items() if k in training_fields})
    quantization = dataclasses.replace(quantization or QuantizationOptions(),
                                       **{k: v for k, v in options.items() if k in quantization_fields})
    training.check()
    quantization.check()
    return training, quantization


def split(data: Dataset, n_validation: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training row indices, validation row indices), stratified by class (a regression's
    rows at random)."""
    require("sklearn")
    from sklearn.model_selection import train_test_split

    stratify = None if data.task == "regression" else data.y
    return train_test_split(np.arange(data.rows), test_size=n_validation, stratify=stratify,
                            random_state=seed)


def fit(data: object, y: object = None, *, label: str | None = None,
        out: str | os.PathLike | None = None, drop_missing: bool = False, verbose: int | str = "auto",
        training: TrainingOptions | None = None, quantization: QuantizationOptions | None = None,
        **options) -> TrainResult:
    """Trains, quantizes and evaluates; writes model.keras, model.tflite, report.json and
    confusion.png into `out` (default runs/<data name>).

    data: a CSV path (with label=COLUMN), an .npz path (arrays X, y), a built-in dataset name
    ("digits", "synthetic", "diabetes"), a Dataset, or a NumPy array of features with labels y.
    options: any field of TrainingOptions (hidden, activation, epochs, batch_size, learning_rate,
    decay, decay_rate, early_stopping, validation_fraction, seed, task, loss) or
    QuantizationOptions (calibration_rows, per_channel, int8_io, prune, prune_epochs).
    """
    training, quantization = split_options(options, training, quantization)
    dataset = load_data(data, y, label=label, drop_missing=drop_missing, task=training.task)
    training = dataclasses.replace(training, task=dataset.task)
    training.check()
    regression = dataset.task == "regression"
    if regression and quantization.prune:
        raise ValueError("pruning (--prune) is for classifiers in this version, not a regression")
    n_validation = check_trainable(dataset, training.validation_fraction)
    out = check_output_folder(out if out is not None else Path("runs") / _run_name(dataset.source))
    train_rows, validation_rows = split(dataset, n_validation, training.seed)
    metadata = PyedgeMetadata.from_training_data(
        dataset.x[train_rows], None if regression else dataset.classes, dataset.feature_names,
        targets=dataset.y[train_rows] if regression else None)
    x_train, y_train = metadata.standardize(dataset.x[train_rows]), dataset.y[train_rows]
    x_validation, y_validation = metadata.standardize(dataset.x[validation_rows]), dataset.y[validation_rows]
    if regression:  # the network learns the standardized label; predict maps it back
        y_train = metadata.standardize_target(y_train)
        y_validation = metadata.standardize_target(y_validation)

    if verbose:  # what is about to happen, before Keras' epoch lines
        outputs = 1 if regression else len(dataset.classes)
        layers = "-".join(str(n) for n in (dataset.features, *training.hidden, outputs))
        target = (f"a value to predict ({training.loss or 'mse'} loss)" if regression
                  else f"{len(dataset.classes)} classes")
        print(f"training data: {dataset.source}: {dataset.rows:,} rows x {dataset.features} features, "
              f"{target}; {len(train_rows):,} rows to train, "
              f"{len(validation_rows):,} to validate\n"
              f"training a {layers} MLP ({training.activation}) for {training.epochs} epochs, then "
              f"quantizing to int8 and evaluating; files go to {out}", flush=True)
    seed_everything(training.seed)
    model = build_mlp(dataset.features, len(dataset.classes), training)
    history = train(model, x_train, y_train, x_validation, y_validation, training, verbose)
    calibration = calibration_sample(x_train, quantization.calibration_rows, training.seed)

    pruning_report = None
    if quantization.prune:
        unpruned = to_int8_tflite(model, calibration, quantization, metadata)
        result = prune(model, quantization.prune, x_train, y_train, x_validation, y_validation,
                       training, quantization.prune_epochs, verbose)
        pruning_report = dict(dataclasses.asdict(result), tflite_gzip_bytes_before=gzip_size(unpruned))

    validation = Dataset(dataset.x[validation_rows], dataset.y[validation_rows], dataset.classes,
                         dataset.feature_names, f"{dataset.source} (validation split)", (),
                         task=dataset.task)
    names = REGRESSION_FILES if regression else FILES
    with staged_folder(out, names["report"]) as staging:  # every file, or none
        files = {key: staging / name for key, name in names.items()}
        model.save(files["keras"])
        content = to_int8_tflite(model, calibration, quantization, metadata)
        files["tflite"].write_bytes(content)
        if pruning_report is not None:
            pruning_report["tflite_gzip_bytes_after"] = gzip_size(content)
        evaluation = evaluate_models(files["tflite"], validation, keras_model=model)
        caption = f"{out / names['tflite']} on {validation.source}"
        if regression:
            int8_values, float_values = regression_predictions(
                Model(files["tflite"]), validation, model)
            write_regression_pngs(files["scatter"], files["residuals"], validation.y,
                                  {"float32 (Keras)": float_values, "int8 (pyedge)": int8_values},
                                  caption)
        else:
            write_confusion_png(files["confusion"],
                                [("float32 (Keras)", evaluation["float"]["confusion_matrix"]),
                                 ("int8 (pyedge)", evaluation["int8"]["confusion_matrix"])],
                                dataset.classes, caption)
        report = {
            "pyedge_version": __version__,
            "data": {"source": dataset.source, "rows": dataset.rows, "features": dataset.features,
                     "feature_names": None if dataset.feature_names is None else list(dataset.feature_names),
                     "task": dataset.task,
                     "classes": [c.item() if hasattr(c, "item") else c for c in dataset.classes],
                     "train_rows": len(train_rows), "validation_rows": len(validation_rows),
                     "dropped": list(dataset.dropped),
                     "target": None if metadata.target is None else dict(
                         zip(("mean", "std"), metadata.target))},
            "training": {**training.as_dict(), **history},
            "quantization": {**quantization.as_dict(), "calibration_rows_used": len(calibration)},
            "pruning": pruning_report,
            "model": model_facts(files["tflite"], files["keras"]),
            "validation": evaluation,
            "files": {key: path.name for key, path in files.items()},
        }
        files["report"].write_text(json.dumps(report, indent=1) + "\n")
    return TrainResult(out, {key: out / name for key, name in names.items()}, report, validation)


def _run_name(source: str) -> str:
    name = Path(source.split(" (")[0]).stem
    return name or "model"
