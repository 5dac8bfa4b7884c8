"""Feature names travel with the model (the "features" key of its pyedge metadata): they are
read back as Model.feature_names, printed, and used to match a table's columns by name in
predict (a dict of columns, a NumPy structured array, a pandas DataFrame or Series), so that
reordered columns give the same bytes as the array in training order, on every backend.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from tflite_builder import BufferSpec, build, small_mlp

import pyedge
from pyedge.interpreter import find_interpreter

NAMES = ("width", "height", "depth", "mass")  # small_mlp() has 4 input features


def model_bytes(metadata: dict | None) -> bytes:
    spec = small_mlp()
    if metadata is not None:
        spec.buffers.append(BufferSpec(json.dumps(metadata).encode()))
        spec.metadata = {"pyedge": len(spec.buffers) - 1}
    return build(spec)


NAMED = model_bytes({"version": 1, "features": list(NAMES)})
ROWS = np.linspace(-3, 3, 20, dtype=np.float32).reshape(5, 4)  # columns in NAMES order
BACKENDS = ["native", "reference"] + (["interpreter"] if find_interpreter() is not None else [])


def test_feature_names_are_read_back_and_printed() -> None:
    model = pyedge.Model(NAMED)
    assert model.feature_names == NAMES
    assert "features: width, height, depth, mass" in str(model)
    assert pyedge.Model(model_bytes(None)).feature_names is None


@pytest.mark.parametrize("features, problem", [
    (["width", "height", "depth"], "features must be a list of 4 names"),
    (["width", "width", "depth", "mass"], "feature names must be unique ('width' repeated)"),
    (["width", "", "depth", "mass"], "feature names must be non-empty strings"),
    ([1, 2, 3, 4], "feature names must be non-empty strings"),
])
def test_bad_feature_names_are_a_value_error_naming_the_file(features, problem, tmp_path) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(model_bytes({"version": 1, "features": features}))
    with pytest.raises(ValueError) as error:
        pyedge.Model(path)
    assert str(error.value).startswith(f"{path}: ") and problem in str(error.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tables_are_matched_by_column_name(backend: str) -> None:
    model = pyedge.Model(NAMED, backend=backend)
    expected = model.predict(ROWS)
    # Columns in another order, and one the model does not use: the same bytes.
    columns = {name: ROWS[:, i] for i, name in enumerate(NAMES)}
    shuffled = {"colour": np.zeros(5), **{n: columns[n] for n in reversed(NAMES)}}
    np.testing.assert_array_equal(model.predict(shuffled), expected)
    structured = np.zeros(5, dtype=[(n, np.float64) for n in ("colour", *reversed(NAMES))])
    for name in NAMES:
        structured[name] = columns[name]
    np.testing.assert_array_equal(model.predict(structured), expected)
    # One row as a dict of scalars: one output row, as for a 1-D array.
    one = {name: float(ROWS[2, i]) for i, name in reversed(list(enumerate(NAMES)))}
    np.testing.assert_array_equal(model.predict(one), expected[2])


def test_pandas_dataframe_and_series_are_matched_by_name() -> None:
    pd = pytest.importorskip("pandas")
    model = pyedge.Model(NAMED)
    expected = model.predict(ROWS)
    frame = pd.DataFrame(ROWS, columns=list(NAMES))
    reordered = frame[["mass", "depth", "width", "height"]].assign(colour="red")
    np.testing.assert_array_equal(model.predict(reordered), expected)
    np.testing.assert_array_equal(model.predict(reordered.iloc[3]), expected[3])
    with pytest.raises(ValueError, match=r"no column for the model's feature 'height'"):
        model.predict(frame.drop(columns=["height"]))
    # A model without names takes a DataFrame's columns in order, as it takes an array.
    unnamed = pyedge.Model(model_bytes(None))
    np.testing.assert_array_equal(unnamed.predict(frame), unnamed.predict(ROWS))


def test_a_missing_column_is_an_error_naming_it() -> None:
    model = pyedge.Model(NAMED)
    with pytest.raises(ValueError, match=r"no column for the model's features 'depth', 'mass' "
                                         r"\(the model's features: width, height, depth, mass\)"):
        model.predict({"width": [1.0], "height": [2.0]})


def test_names_cannot_be_matched_without_the_models_names() -> None:
    unnamed = pyedge.Model(model_bytes(None))
    with pytest.raises(TypeError, match="carries no feature names"):
        unnamed.predict({name: ROWS[:, i] for i, name in enumerate(NAMES)})
    np.testing.assert_array_equal(unnamed.predict(ROWS), pyedge.Model(NAMED).predict(ROWS))


def test_predict_pickles_and_matching_imports_no_pandas() -> None:
    model = pyedge.Model(NAMED)
    predict = pickle.loads(pickle.dumps(model.predict))
    np.testing.assert_array_equal(predict({n: ROWS[:, i] for i, n in enumerate(NAMES)}),
                                  model.predict(ROWS))
    code = ("import sys, numpy as np, pyedge\n"
            f"m = pyedge.Model({NAMED!r})\n"
            "m.predict(np.zeros((2, 4), np.float32)); m.predict({'width': 1, 'height': 2, "
            "'depth': 3, 'mass': 4})\n"
            "print('pandas' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
