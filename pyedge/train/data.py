"""Data in: CSV files, .npz files, NumPy arrays and the built-in datasets, as one Dataset.

Every problem a user can fix is a DataError (a ValueError) that says where it is: the file,
the column, the line numbers. Rows with missing values are never dropped silently: they are an
error that lists them, or, when the caller asks for it (`drop_missing=True`, the CLI's
`--drop-missing`), dropped and listed in `Dataset.dropped`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Cell texts that mean "no value" (compared lowercased, after stripping spaces).
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none", "?", "-")
MIN_ROWS = 10
LISTED_ROWS = 10  # how many bad rows an error names before "and N more"
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")


class DataError(ValueError):
    """Data that cannot be trained on or evaluated as given, with where and why."""


@dataclass
class Dataset:
    x: np.ndarray  # float32 (rows, features): raw features, as the model's users will pass them
    y: np.ndarray  # int64 (rows,): index into classes; float32 label values for a regression
    classes: tuple  # the label values, sorted: all strings or all integers; () for a regression
    feature_names: tuple[str, ...] | None  # None: unnamed (plain arrays), matched by position
    source: str
    dropped: tuple[str, ...] = ()  # "line 7", "row 3": rows left out for missing values
    ignored_columns: tuple[str, ...] = ()  # CSV columns the model has no feature for
    task: str = "classification"  # or "regression"

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])

    @property
    def features(self) -> int:
        return int(self.x.shape[1])

    def labels(self) -> np.ndarray:
        """The label of every row, as in the data (strings or integers; a regression's values)."""
        if self.task == "regression":
            return self.y
        return np.asarray(self.classes, dtype=object)[self.y]


def _listing(places: list[str]) -> str:
    shown = ", ".join(places[:LISTED_ROWS])
    return shown + (f" and {len(places) - LISTED_ROWS} more" if len(places) > LISTED_ROWS else "")


def label_values(raw: list[str] | np.ndarray) -> np.ndarray:
    """Labels as integers when every one is written as an integer, else as strings (stripped)."""
    texts = [str(v).strip() for v in raw]
    if texts and all(_INTEGER.fullmatch(t) for t in texts):
        return np.array([int(t) for t in texts], dtype=np.int64)
    return np.array(texts, dtype=str)


TASKS = ("auto", "classification", "regression")
# A numeric label with more distinct values than this, none of them written as an integer, is
# a quantity, not a class: without --task it is an error that suggests --task regression.
_REGRESSION_HINT = ("to predict the value, pass --task regression (task='regression'); to classify, "
                    "write the classes as integers or names")


def check_task(task: str) -> None:
    if task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)}, got {task!r}")


def regression_targets(texts: np.ndarray, source: str, where: list[str], column: str = "label"
                       ) -> np.ndarray:
    """Label texts or numbers as float32 values to predict, or a DataError naming the first one
    that is not a finite number."""
    values = np.zeros(len(texts), np.float64)
    for i, text in enumerate(texts):
        try:
            values[i] = float(text)
        except (TypeError, ValueError):
            values[i] = np.nan
        if not math.isfinite(values[i]) or abs(values[i]) > np.finfo(np.float32).max:
            raise DataError(f"{source}, {where[i]}: {column} {str(text)!r} is not a finite number; "
                            "a regression needs a number in every row")
    return values.astype(np.float32)


def _looks_like_quantities(texts: list[str]) -> bool:
    """Every label is a number, and some are not integers: 0.37, 1.5e3."""
    return bool(texts) and all(_is_number(t) for t in texts) and not all(
        _INTEGER.fullmatch(t) for t in texts)


def encode_labels(values: np.ndarray, classes: tuple | None = None,
                  where: list[str] | None = None) -> tuple[np.ndarray, tuple]:
    """(class index per row, classes). With classes=None they are the sorted distinct values;
    given (a trained model's), a value that is not one of them is an error naming its rows."""
    if classes is None:
        classes = tuple(v.item() if hasattr(v, "item") else v for v in np.unique(values))
    index = {c: i for i, c in enumerate(classes)}
    if all(isinstance(c, (int, np.integer)) for c in classes) and values.dtype.kind in "US":
        values = label_values(values)  # a model with integer classes, labels read as text
    elif all(isinstance(c, str) for c in classes) and values.dtype.kind in "iu":
        as_text = values.astype(str)  # a model with text classes ("1", "2"), labels read as numbers
        if np.isin(as_text, classes).all():
            values = as_text
        else:  # integer labels beside named classes: indices into them, as pyedge quantize reads y
            outside = np.flatnonzero((values < 0) | (values >= len(classes)))
            if outside.size:
                places = [where[i] if where else f"row {i}" for i in outside]
                raise DataError(f"integer label {values[outside[0]]} ({_listing(places)}) is not an "
                                f"index of the model's classes {list(classes)} (0 to {len(classes) - 1})")
            values = np.asarray(classes)[values]
    keys = [v.item() if hasattr(v, "item") else v for v in values]
    unknown = [i for i, k in enumerate(keys) if k not in index]
    if unknown:
        places = [where[i] if where else f"row {i}" for i in unknown]
        names = sorted({str(keys[i]) for i in unknown})[:5]
        raise DataError(f"label {', '.join(repr(n) for n in names)} ({_listing(places)}) is not one "
                        f"of the model's classes {list(classes)}")
    return np.array([index[k] for k in keys], dtype=np.int64), classes


def load_csv(path: str | Path, label: str, drop_missing: bool = False,
             classes: tuple | None = None, features: tuple[str, ...] | None = None,
             task: str = "auto") -> Dataset:
    """A CSV file with a header row; `label` names the label column (anywhere in the table);
    every other column is a numeric feature. With `features` (a trained model's feature names)
    exactly those columns are read, in that order, wherever they are in the file; a missing one
    is an error, and the others are left out (listed in `ignored_columns`). task: "regression"
    reads the labels as numbers to predict; "auto" as classes, unless they are decimal numbers
    (then an error that suggests --task regression)."""
    check_task(task)
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no data file at {str(path)!r}")
    if not label:
        raise DataError(f"{path}: name the label column (--label COLUMN)")
    reader = csv.reader(io.StringIO(_csv_text(path), newline=""))
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)
    if header is None:
        raise DataError(f"{path} is empty")
    header = [cell.strip() for cell in header]
    if len(header) == 1 and (separator := next((c for c in ";\t|" if c in header[0]), None)):
        shown = "tab" if separator == "\t" else repr(separator)
        raise DataError(f"{path}, line {reader.line_num}: one column named {header[0][:60]!r}: the file "
                        f"looks separated by {shown}, not by commas; save it as a comma-separated CSV "
                        "with '.' as the decimal point (pandas: pd.read_csv(path, sep="
                        f"{separator!r}, decimal=',').to_csv(path, index=False))")
    lines, body = [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank lines, often at the end of a file
        if len(row) != len(header):
            raise DataError(f"{path}, line {reader.line_num}: {len(row)} fields, but the header "
                            f"has {len(header)}")
        lines.append(f"line {reader.line_num}")
        body.append(row)
    if header.count(label) != 1:
        if label in header:
            raise DataError(f"{path}: {header.count(label)} columns are named {label!r}")
        raise DataError(f"{path}: no column named {label!r}; the columns are: {', '.join(header)}")
    if len(header) < 2:
        raise DataError(f"{path}: no feature columns beside the label {label!r}")
    if not body:
        raise DataError(f"{path}: no data rows under the header")
    label_at = header.index(label)
    feature_columns = [j for j in range(len(header)) if j != label_at]
    ignored: tuple[str, ...] = ()
    if features is not None:
        feature_columns, ignored = _columns_by_name(path, header, label, features)
    table = np.char.strip(np.array(body, dtype=str))
    missing_cells = np.isin(np.char.lower(table), MISSING_TOKENS)
    x = np.full((len(body), len(feature_columns)), np.nan)
    for k, j in enumerate(feature_columns):
        present = ~missing_cells[:, j]
        try:
            x[present, k] = table[present, j].astype(np.float64)
        except ValueError:
            bad = next(i for i in np.flatnonzero(present) if not _is_number(table[i, j]))
            value = str(table[bad, j])
            hint = ("it looks like a decimal comma: write numbers with '.' as the decimal point"
                    if _DECIMAL_COMMA.fullmatch(value) else "encode it as numbers or remove the column")
            raise DataError(f"{path}, {lines[bad]}: column {header[j]!r} is not numeric ({value!r}); "
                            f"{hint}") from None
    bad_rows = missing_cells[:, label_at] | ~np.isfinite(x).all(axis=1)
    x, kept_labels, dropped = _handle_missing(x, table[:, label_at], bad_rows, lines, str(path),
                                              drop_missing)
    kept_lines = [line for line, bad in zip(lines, bad_rows) if not bad]
    names = tuple(header[j] for j in feature_columns)
    if task == "regression":
        y = regression_targets(kept_labels, str(path), kept_lines, f"column {label!r}")
        return Dataset(x.astype(np.float32), y, (), names, str(path), dropped, ignored, "regression")
    if task == "auto" and classes is None and _looks_like_quantities(kept_labels.tolist()):
        raise DataError(f"{path}: column {label!r} holds decimal numbers ("
                        f"{len(set(kept_labels.tolist())):,} distinct values, e.g. {kept_labels[0]!r}), "
                        f"not classes; {_REGRESSION_HINT}")
    y, classes = encode_labels(label_values(kept_labels), classes, kept_lines)
    return Dataset(x.astype(np.float32), y, classes, names, str(path), dropped, ignored)


def _columns_by_name(path: Path, header: list[str], label: str,
                     features: tuple[str, ...]) -> tuple[list[int], tuple[str, ...]]:
    """(the column index of each of the model's features, in the model's order; the columns
    it has no feature for). A missing feature is a DataError that names it."""
    missing = [name for name in features if name not in header]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:LISTED_ROWS])
        more = f" and {len(missing) - LISTED_ROWS} more" if len(missing) > LISTED_ROWS else ""
        raise DataError(f"{path}: no column for the model's feature{'s' if len(missing) > 1 else ''} "
                        f"{shown}{more}; the model was trained on the columns: {', '.join(features)}")
    repeated = sorted({name for name in features if header.count(name) > 1})
    if repeated:
        raise DataError(f"{path}: several columns are named {', '.join(map(repr, repeated))}")
    wanted = set(features)
    ignored = tuple(name for name in header if name not in wanted and name != label)
    return [header.index(name) for name in features], ignored


def _csv_text(path: Path) -> str:
    """The file as text (UTF-8, with or without a byte-order mark), or a DataError that says
    where it is not and what it likely is instead."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        sample = raw[:4096]
        if b"\0" in sample or sum(b < 9 or 13 < b < 32 for b in sample) > len(sample) // 20:
            raise DataError(f"{path} is not a text file (binary data at line {line}, byte "
                            f"{error.start}); give a CSV file") from None
        raise DataError(f"{path}, line {line}: byte 0x{raw[error.start]:02x} is not UTF-8; the file "
                        "is likely Latin-1 or Windows-1252 (an export from Excel): save it as UTF-8 "
                        "(pandas: pd.read_csv(path, encoding='latin-1').to_csv(path, index=False))") from None


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz file, or a DataError that says what the file is instead."""
    with path.open("rb") as f:
        start = f.read(4)
    if start != b"PK\x03\x04" and start != b"PK\x05\x06":  # a zip archive (empty: the second)
        looks = ("it looks like text (a CSV? then give it with --label COLUMN)"
                 if start and all(32 <= b < 127 or b in (9, 10, 13) for b in start) else
                 f"it starts with the bytes {start!r}")
        raise DataError(f"{path} is not an .npz file (a zip archive of arrays written by "
                        f"numpy.savez): {looks}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "pickle" in str(error):  # an object array: never loaded, it could run code
            raise DataError(f"{path} holds an array of Python objects, which pyedge does not load; "
                            "save numbers and strings only (e.g. y.astype(str))") from None
        raise DataError(f"{path} is not a readable .npz file ({error})") from None
    except Exception as error:
        raise DataError(f"{path} is not a readable .npz file ({error})") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _handle_missing(x: np.ndarray, labels: np.ndarray, bad_rows: np.ndarray, places: list[str],
                    source: str, drop_missing: bool) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    if not bad_rows.any():
        return x, labels, ()
    where = [p for p, bad in zip(places, bad_rows) if bad]
    if not drop_missing:
        raise DataError(f"{source}: {len(where)} row{'s' if len(where) > 1 else ''} with missing or "
                        f"non-finite values ({_listing(where)}); fix them, or leave them out with "
                        "--drop-missing (drop_missing=True)")
    return x[~bad_rows], labels[~bad_rows], tuple(where)


def load_npz(path: str | Path, drop_missing: bool = False, classes: tuple | None = None,
             task: str = "auto") -> Dataset:
    """An .npz file with arrays X (rows, features) and y (rows,) of integer or string labels."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no data file at {str(path)!r}")
    arrays = read_npz(path)
    missing = [name for name in ("X", "y") if name not in arrays]
    if missing:
        raise DataError(f"{path} needs arrays X and y; it has {', '.join(sorted(arrays)) or 'none'}")
    return from_arrays(arrays["X"], arrays["y"], source=str(path), drop_missing=drop_missing,
                       classes=classes, task=task)


def from_arrays(x: object, y: object, feature_names: list[str] | None = None, source: str = "arrays",
                drop_missing: bool = False, classes: tuple | None = None,
                task: str = "auto") -> Dataset:
    """NumPy features (rows, features) and labels (rows,): integers or strings (classes), or
    numbers to predict (task="regression")."""
    check_task(task)
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2:
        raise DataError(f"{source}: features must be a 2-D array (rows, features), got shape "
                        f"{x.shape}; flatten each row first (x.reshape(len(x), -1))")
    if x.dtype.kind not in "fiub":
        raise DataError(f"{source}: features must be numbers, got dtype {x.dtype}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{source}: labels must be one per row: {len(x)} rows, labels of shape {y.shape}")
    if task == "regression":
        if y.dtype.kind not in "fiub":
            raise DataError(f"{source}: a regression needs numeric labels, got dtype {y.dtype}")
        y = y.astype(np.float64)
    elif y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            hint = f"; {_REGRESSION_HINT}" if task == "auto" and classes is None else ""
            raise DataError(f"{source}: labels must be integers or strings, got non-integral floats{hint}")
        y = y.astype(np.int64)
    elif y.dtype.kind == "b":
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iuUS":
        raise DataError(f"{source}: labels must be integers or strings, got dtype {y.dtype}")
    if y.dtype.kind == "S":
        y = y.astype(str)
    x = x.astype(np.float64)
    bad_rows = ~np.isfinite(x).all(axis=1)
    places = [f"row {i}" for i in range(len(x))]
    x, y, dropped = _handle_missing(x, y, bad_rows, places, source, drop_missing)
    names = tuple(feature_names) if feature_names else None
    if names is not None and len(names) != x.shape[1]:
        raise DataError(f"{source}: {len(names)} feature names for {x.shape[1]} features")
    if not np.all(np.abs(x) <= np.finfo(np.float32).max):
        raise DataError(f"{source}: a feature value overflows float32")
    kept = [p for p, bad in zip(places, bad_rows) if not bad]
    if task == "regression":
        targets = regression_targets(y, source, kept)
        return Dataset(x.astype(np.float32), targets, (), names, source, dropped, (), "regression")
    encoded, classes = encode_labels(y, classes, kept)
    return Dataset(x.astype(np.float32), encoded, classes, names, source, dropped)


def check_trainable(data: Dataset, validation_fraction: float) -> int:
    """Raises DataError unless the data can be split and trained on; returns the number of
    validation rows (stratified: at least one per class, and one per class left to train on)."""
    if data.rows < MIN_ROWS:
        raise DataError(f"{data.source}: only {data.rows} rows; training needs at least {MIN_ROWS}")
    if data.task == "regression":
        if np.all(data.y == data.y[0]):
            raise DataError(f"{data.source}: every row has the label value {float(data.y[0])!r}; "
                            "there is nothing to predict")
        return max(math.ceil(data.rows * validation_fraction), 1)
    # bincount wants the platform's index type: int64 labels fail to cast on 32-bit ARM.
    counts = np.bincount(data.y.astype(np.intp), minlength=len(data.classes))
    if len(data.classes) < 2:
        raise DataError(f"{data.source}: every row has the label {data.classes[0]!r}; a classifier "
                        "needs at least two classes")
    if counts.min() < 2:
        lonely = [repr(c) for c, n in zip(data.classes, counts) if n < 2]
        numbers = len(data.classes) > 20 and all(isinstance(c, int) for c in data.classes)
        hint = (f" (the label has {len(data.classes)} distinct integers: if it is a quantity, "
                "pass --task regression)" if numbers else "")
        raise DataError(f"{data.source}: class {', '.join(lonely[:5])} has a single row; every class "
                        f"needs at least 2 (one to train on, one to validate){hint}")
    n_validation = max(math.ceil(data.rows * validation_fraction), len(data.classes))
    if data.rows - n_validation < len(data.classes):
        raise DataError(f"{data.source}: only {data.rows} rows for {len(data.classes)} classes: too few "
                        "to keep a validation split with every class and still train on every class")
    return n_validation
