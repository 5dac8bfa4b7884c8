"""Evaluation: scikit-learn's metrics for the float Keras model and the int8 .tflite run by
pyedge, their agreement, pyedge against LiteRT, sizes, and the pictures: the confusion matrix
of a classifier; predicted against true values, and residuals, of a regression.

The int8 model is run the way a device runs it: `pyedge.Model(path).predict(raw features)`.
The float model gets the same standardized rows (`Model.standardize`), so the two differ only
by quantization.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..metadata import PyedgeMetadata
from ..model import Model
from .data import Dataset
from .network import keras_predict
from .outputs import check_output_folder, staged_folder
from .pruning import gzip_size
from .tensorflow_import import require


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple) -> dict:
    require("sklearn")
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    macro = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro",
                                            zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(macro[0]),
        "recall_macro": float(macro[1]),
        "f1_macro": float(macro[2]),
        "per_class": [{"class": _plain(c), "precision": float(p), "recall": float(r), "f1": float(f),
                       "support": int(s)} for c, p, r, f, s in zip(classes, precision, recall, f1, support)],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    require("sklearn")
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64).reshape(-1)
    return {"mae": float(mean_absolute_error(y_true, y_pred)),
            "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
            "r2": float(r2_score(y_true, y_pred)),
            "max_abs_error": float(np.max(np.abs(y_true - y_pred))) if len(y_true) else 0.0}


def _plain(value: object) -> str | int:
    return value.item() if hasattr(value, "item") else value


def model_classes(model: Model) -> tuple:
    """The classes the model's outputs stand for: its metadata's, else 0..n-1."""
    return tuple(model.classes.tolist()) if model.classes is not None else tuple(range(model.output_shape[1]))


def litert_comparison(model: Model, x: np.ndarray) -> dict | None:
    """Whether pyedge's outputs equal LiteRT's reference kernels' (BUILTIN_REF) on x, given the
    same standardized rows; None when LiteRT is not installed."""
    from ..interpreter import litert_interpreter, litert_module, run_litert

    module = litert_module()
    if module is None or len(x) == 0:
        return None
    interpreter = litert_interpreter(module, model.content, "BUILTIN_REF", len(x))
    expected = run_litert(interpreter, model.standardize(x))
    to_label_units = PyedgeMetadata(target=model.target_standardization).target_mapper()
    if to_label_units is not None:  # what predict does to the graph's output, on every backend
        expected = to_label_units(expected)
    got = model.predict(x)
    differing = int(np.sum(np.any(got != expected, axis=1)))
    return {"interpreter": f"{module.__name__.split('.')[0]} BUILTIN_REF", "rows": len(x),
            "identical": differing == 0, "rows_differing": differing}


def evaluate_models(tflite: str | os.PathLike | bytes, data: Dataset, keras_model=None) -> dict:
    """Metrics of the int8 model (and of the float Keras model, when given) on `data`, whose
    labels index the model's classes (load it with classes=model_classes(model)), or, for a
    regression, are the values to predict."""
    model = Model(tflite)
    if data.task == "regression":
        int8_values, float_values = regression_predictions(model, data, keras_model)
        result = {"data": data.source, "rows": data.rows, "pyedge_backend": model.backend,
                  "task": "regression", "int8": regression_metrics(data.y, int8_values)}
        if float_values is not None:
            result["float"] = regression_metrics(data.y, float_values)
            difference = np.abs(int8_values - float_values)
            result["int8_vs_float"] = {
                "mae": float(difference.mean()) if len(difference) else 0.0,
                "max_abs": float(difference.max()) if len(difference) else 0.0}
        result["litert"] = litert_comparison(model, data.x)
        return result
    int8_predictions = model.predict(data.x).argmax(axis=1)
    classes = model_classes(model)
    result: dict = {"data": data.source, "rows": data.rows, "pyedge_backend": model.backend,
                    "int8": classification_metrics(data.y, int8_predictions, classes)}
    if keras_model is not None:
        float_predictions = keras_predict(keras_model, model.standardize(data.x)).argmax(axis=1)
        result["float"] = classification_metrics(data.y, float_predictions, classes)
        result["agreement"] = float(np.mean(float_predictions == int8_predictions))
    result["litert"] = litert_comparison(model, data.x)
    return result


def regression_predictions(model: Model, data: Dataset, keras_model=None
                           ) -> tuple[np.ndarray, np.ndarray | None]:
    """(int8 values from pyedge, float32 values from Keras or None), in the label's units: the
    Keras model outputs the standardized label, mapped back as predict maps the int8 model's."""
    int8_values = model.predict(data.x).reshape(-1)
    if keras_model is None:
        return int8_values, None
    to_label_units = PyedgeMetadata(target=model.target_standardization).target_mapper()
    float_values = keras_predict(keras_model, model.standardize(data.x)).reshape(-1)
    return int8_values, float_values if to_label_units is None else to_label_units(float_values)


def write_regression_pngs(scatter: str | os.PathLike, residuals: str | os.PathLike,
                          y_true: np.ndarray, values: dict[str, np.ndarray], caption: str) -> None:
    """Predicted against true values (with the y = x line), and residuals (predicted - true)
    against the predicted values, one panel per model in `values` (title -> predictions)."""
    require("matplotlib")
    from matplotlib.figure import Figure

    y_true = np.asarray(y_true, np.float64)
    low, high = float(np.min(y_true)), float(np.max(y_true))
    for path, residual in ((scatter, False), (residuals, True)):
        figure = Figure(figsize=(4.6 * len(values), 4.4), layout="constrained")
        axes = figure.subplots(1, len(values), squeeze=False, sharey=True)[0]
        for ax, (title, predicted) in zip(axes, values.items()):
            predicted = np.asarray(predicted, np.float64)
            metrics = regression_metrics(y_true, predicted)
            if residual:
                ax.scatter(predicted, predicted - y_true, s=12, alpha=0.6)
                ax.axhline(0.0, color="black", linewidth=0.8)
                ax.set_xlabel("predicted")
                ax.set_ylabel("residual (predicted - true)")
            else:
                ax.scatter(y_true, predicted, s=12, alpha=0.6)
                ax.plot([low, high], [low, high], color="black", linewidth=0.8, label="y = x")
                ax.set_xlabel("true")
                ax.set_ylabel("predicted")
                ax.legend(loc="upper left", fontsize=8)
            ax.set_title(f"{title}\nMAE {metrics['mae']:.4g}, RMSE {metrics['rmse']:.4g}, "
                         f"R² {metrics['r2']:.3f} ({len(y_true):,} rows)", fontsize=10)
            ax.grid(alpha=0.3)
        figure.suptitle(caption, fontsize=10)
        figure.savefig(path, dpi=100)


def model_facts(tflite: str | os.PathLike | bytes, keras_path: str | os.PathLike | None = None) -> dict:
    """Sizes, parameters and MACs per row of the int8 model (and the Keras file's size)."""
    model = Model(tflite)
    content = model.content
    facts = {"architecture": architecture(model), "backend": model.backend,
             "tflite_bytes": len(content), "tflite_gzip_bytes": gzip_size(content)}
    if model.plan is not None:
        facts.update(parameters=model.plan.params, macs_per_row=model.plan.macs,
                     float32_parameter_bytes=4 * model.plan.params)
    if keras_path is not None and Path(keras_path).is_file():
        facts["keras_file_bytes"] = Path(keras_path).stat().st_size
    return facts


def architecture(model: Model) -> str:
    from ..bench import architecture as describe

    return describe(model)


def write_confusion_png(path: str | os.PathLike, panels: list[tuple[str, list[list[int]]]],
                        classes: tuple, caption: str) -> None:
    confusion_figure(panels, classes, caption).savefig(path, dpi=100)


def confusion_figure(panels: list[tuple[str, list[list[int]]]], classes: tuple, caption: str):
    """One confusion matrix per (title, matrix) panel, side by side, each titled with its
    accuracy, under a caption naming the model and the data; scikit-learn's
    ConfusionMatrixDisplay on a matplotlib Figure (no pyplot: no global backend state). The
    figure grows with the number of classes and the longest name, and constrained layout
    keeps tick labels, axis titles and panels apart (checked by eye for 2 to 30 classes and
    names of 1 to 30 characters, and by tests/test_train_data.py's overlap check)."""
    require("matplotlib")
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    labels = [str(c) if len(str(c)) <= 30 else str(c)[:29] + "…" for c in classes]
    n, longest = len(labels), max(len(label) for label in labels)
    font = 10 if n <= 10 else 8 if n <= 20 else 6
    names_inches = 0.3 + longest * font / 100  # the room a rotated or left label takes
    side = max(2.5, n * font / 28)  # the matrix itself: a readable cell per class
    figure = Figure(figsize=(len(panels) * (side + names_inches + 0.5), side + names_inches + 1.3),
                    layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, matrix) in zip(axes, panels):
        matrix = np.asarray(matrix)
        display = ConfusionMatrixDisplay(matrix, display_labels=labels)
        display.plot(ax=ax, colorbar=False, values_format="d", text_kw={"fontsize": font},
                     xticks_rotation="vertical" if n > 12 or longest > 3 else "horizontal")
        ax.tick_params(labelsize=font)
        accuracy = np.trace(matrix) / max(int(matrix.sum()), 1)
        ax.set_title(f"{title}\naccuracy {accuracy:.4f} on {int(matrix.sum()):,} rows", fontsize=10)
    figure.suptitle(caption, fontsize=10)
    return figure


def evaluate_file(tflite: str | os.PathLike, data: object, label: str | None = None,
                  keras_path: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                  drop_missing: bool = False) -> tuple[dict, dict, dict[str, Path]]:
    """What `pyedge evaluate` runs: the int8 model (and the float Keras model, when
    `keras_path` is given or a model.keras lies beside the .tflite) on a data file.

    Writes evaluation-<data>.json and evaluation-<data>-confusion.png (a regression's:
    -scatter.png and -residuals.png) into `out` (default: the model's folder). Returns
    (evaluation, model facts, files written)."""
    from .datasets import load_data

    tflite = Path(tflite)
    model = Model(tflite)  # a missing or invalid file fails here, before any data is read
    out = check_output_folder(out if out is not None else tflite.parent)
    regression = model.target_standardization is not None
    dataset = load_data(data, label=label, drop_missing=drop_missing,
                        classes=None if regression else model_classes(model),
                        features=model.feature_names,
                        task="regression" if regression else "classification")
    if keras_path is None and (tflite.parent / "model.keras").is_file():
        keras_path = tflite.parent / "model.keras"
    keras_model = load_keras_model(keras_path) if keras_path is not None else None
    evaluation = evaluate_models(tflite, dataset, keras_model)
    evaluation["dropped"] = list(dataset.dropped)
    evaluation["features"] = None if dataset.feature_names is None else list(dataset.feature_names)
    evaluation["ignored_columns"] = list(dataset.ignored_columns)
    stem = Path(dataset.source.split(" (")[0]).stem or "data"
    names = {"report": f"evaluation-{stem}.json"}
    pictures = ("scatter", "residuals") if regression else ("confusion",)
    names.update({key: f"evaluation-{stem}-{key}.png" for key in pictures})
    facts = model_facts(tflite, keras_path)
    with staged_folder(out) as staging:  # every file, or none
        caption = f"{tflite} on {dataset.source}"
        if regression:
            int8_values, float_values = regression_predictions(model, dataset, keras_model)
            values = {"int8 (pyedge)": int8_values}
            if float_values is not None:
                values = {"float32 (Keras)": float_values, **values}
            write_regression_pngs(staging / names["scatter"], staging / names["residuals"],
                                  dataset.y, values, caption)
        else:
            panels = [(name, evaluation[key]["confusion_matrix"]) for key, name in
                      (("float", "float32 (Keras)"), ("int8", "int8 (pyedge)")) if key in evaluation]
            write_confusion_png(staging / names["confusion"], panels, model_classes(model), caption)
        (staging / names["report"]).write_text(
            json.dumps({"evaluation": evaluation, "model": facts}, indent=1) + "\n")
    return evaluation, facts, {key: out / name for key, name in names.items()}


def load_keras_model(path: str | os.PathLike):
    from .tensorflow_import import keras

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no Keras model file at {str(path)!r}")
    try:
        return keras().models.load_model(path)
    except Exception as error:  # Keras raises assorted types for files it cannot read
        raise ValueError(f"{path}: not a model Keras can load ({type(error).__name__}: {error})") from None
