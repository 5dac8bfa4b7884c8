"""Where data comes from: `load_data` takes a path, arrays or a name; and the built-in
datasets, which ship inside installed packages (nothing is downloaded):

    digits     scikit-learn's handwritten digits: 1,797 real 8x8 images, 64 pixel features
               (0-16), 10 classes
    synthetic  scikit-learn's make_classification: 10,000 rows, 100 features (40 informative,
               20 redundant), 10 classes, the shape of the 100-64-32-10 benchmark model;
               deterministic
    diabetes   scikit-learn's diabetes (Efron et al., 2004): 442 patients, 10 features (age,
               sex, BMI, blood pressure, six serum measurements), a regression target: disease
               progression one year later (25 to 346)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .data import DataError, Dataset, encode_labels, from_arrays, load_csv, load_npz
from .tensorflow_import import require

SYNTHETIC_ROWS = 10_000


def digits() -> Dataset:
    require("sklearn")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return from_arrays(bunch.data, bunch.target, feature_names=list(bunch.feature_names),
                       source="digits (scikit-learn)")


def synthetic(rows: int = SYNTHETIC_ROWS, seed: int = 0) -> Dataset:
    require("sklearn")
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=100, n_informative=40, n_redundant=20,
                               n_classes=10, n_clusters_per_class=1, class_sep=1.5, random_state=seed)
    return from_arrays(x.astype(np.float32), y, source="synthetic (scikit-learn make_classification)")


def diabetes() -> Dataset:
    require("sklearn")
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)  # the raw values a clinic records, not pre-scaled ones
    return from_arrays(bunch.data, bunch.target, feature_names=list(bunch.feature_names),
                       source="diabetes (scikit-learn)", task="regression")


BUILTIN: dict[str, Callable[[], Dataset]] = {"digits": digits, "synthetic": synthetic,
                                             "diabetes": diabetes}


def load_data(data: object, y: object = None, label: str | None = None, drop_missing: bool = False,
              classes: tuple | None = None, features: tuple[str, ...] | None = None,
              task: str = "auto") -> Dataset:
    """A Dataset from whatever the user has: a Dataset, NumPy features with labels y, a path to
    a CSV (label names its label column) or .npz file (arrays X, y), or a built-in dataset's
    name. classes, features: a trained model's, for data to evaluate it on (a CSV's columns
    are then matched by name). task: "auto" (classes; a built-in dataset's own task),
    "classification" or "regression" (labels are numbers to predict)."""
    dataset = _load(data, y, label, drop_missing, classes, features, task)
    if task != "auto" and dataset.task != task:
        raise DataError(f"{dataset.source} is a {dataset.task} dataset, not a {task} one")
    return dataset


def _load(data: object, y: object, label: str | None, drop_missing: bool, classes: tuple | None,
          features: tuple[str, ...] | None, task: str) -> Dataset:
    if isinstance(data, Dataset):
        return data if classes is None else _with_classes(data, classes)
    if isinstance(data, (str, Path)):
        if y is not None:
            raise DataError("labels y go with a NumPy array of features, not with a file")
        path = Path(data)
        if not path.is_file() and str(data) in BUILTIN:
            dataset = BUILTIN[str(data)]()
            return dataset if classes is None else _with_classes(dataset, classes)
        if not path.is_file():
            raise DataError(f"no data file at {str(data)!r} (built-in datasets: {', '.join(BUILTIN)})")
        if path.suffix.lower() == ".npz":
            return load_npz(path, drop_missing, classes, task)
        if label is None:
            raise DataError(f"{path}: name the label column (--label COLUMN, label=...)")
        return load_csv(path, label, drop_missing, classes, features, task)
    if y is None:
        raise DataError("NumPy features need their labels: fit(X, y, ...)")
    columns = getattr(data, "columns", None)  # a pandas DataFrame: its column names travel
    names = [str(c) for c in columns] if columns is not None else None
    return from_arrays(data, y, feature_names=names, drop_missing=drop_missing, classes=classes,
                       task=task)


def _with_classes(data: Dataset, classes: tuple) -> Dataset:
    y, classes = encode_labels(np.asarray(data.labels().tolist()), classes)
    return Dataset(data.x, y, classes, data.feature_names, data.source, data.dropped,
                   data.ignored_columns)
