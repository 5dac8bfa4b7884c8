"""Data in for pyedge.train (CSV, .npz, arrays, built-in sets) and the metadata format that
carries standardization and class names. Nothing here imports TensorFlow."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from pyedge.metadata import MAX_METADATA_BYTES, PyedgeMetadata, parse_metadata
from pyedge.train.data import (
    DataError,
    check_trainable,
    encode_labels,
    from_arrays,
    load_csv,
    load_npz,
)
from pyedge.train.datasets import load_data


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def table(rows: int = 12, label_values=("cat", "dog")) -> str:
    lines = ["width,activity,height"]
    lines += [f"{i * 0.5},{label_values[i % len(label_values)]},{1000 + i}" for i in range(rows)]
    return "\n".join(lines) + "\n"


def test_csv_label_in_the_middle_with_string_labels(tmp_path):
    data = load_csv(write(tmp_path, table()), "activity")
    assert data.feature_names == ("width", "height")
    assert data.classes == ("cat", "dog")
    assert data.x.dtype == np.float32 and data.x.shape == (12, 2)
    np.testing.assert_array_equal(data.x[3], [1.5, 1003.0])
    np.testing.assert_array_equal(data.y[:4], [0, 1, 0, 1])
    assert list(data.labels()[:2]) == ["cat", "dog"]
    assert data.dropped == ()


def test_csv_integer_labels_stay_integers_and_sort_numerically(tmp_path):
    data = load_csv(write(tmp_path, table(label_values=(10, 2, 7))), "activity")
    assert data.classes == (2, 7, 10)
    assert all(type(c) is int for c in data.classes)
    np.testing.assert_array_equal(data.y[:3], [2, 0, 1])


def test_csv_missing_values_are_reported_with_line_numbers(tmp_path):
    text = table().splitlines()
    text[2] = "NA,dog,1001"  # line 3 of the file
    text[5] = "2.0,,1004"  # line 6: no label
    text[7] = "3.0,dog,"  # line 8
    path = write(tmp_path, "\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"3 rows with missing or non-finite values \(line 3, line 6, line 8\)"
                                        r".*--drop-missing"):
        load_csv(path, "activity")
    data = load_csv(path, "activity", drop_missing=True)
    assert data.rows == 9 and data.dropped == ("line 3", "line 6", "line 8")


def test_csv_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match=r"no column named 'label'; the columns are: width, activity, height"):
        load_csv(write(tmp_path, table()), "label")
    bad = table().replace("1003", "tall")
    with pytest.raises(DataError, match=r"line 5: column 'height' is not numeric \('tall'\); encode"):
        load_csv(write(tmp_path, bad), "activity")
    ragged = table() + "1.0,cat\n"
    with pytest.raises(DataError, match=r"line 14: 2 fields, but the header has 3"):
        load_csv(write(tmp_path, ragged), "activity")
    with pytest.raises(DataError, match="is empty"):
        load_csv(write(tmp_path, "\n\n"), "activity")
    with pytest.raises(DataError, match="no data rows"):
        load_csv(write(tmp_path, "a,b\n"), "b")
    with pytest.raises(DataError, match="no feature columns"):
        load_csv(write(tmp_path, "b\n1\n2\n"), "b")
    with pytest.raises(DataError, match="no data file"):
        load_csv(tmp_path / "nope.csv", "activity")


def test_unreadable_csvs_name_the_file_the_line_and_the_likely_cause(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("width;height;activity\n1,5;2,0;cat\n")  # a European-locale export
    with pytest.raises(DataError, match=rf"^{path}, line 1: one column named 'width;height;activity': "
                                        r"the file looks separated by ';', not by commas"):
        load_csv(path, "activity")
    path.write_bytes(b"width,height,activity\n1,2,cat\n3,4,caf\xe9\n")
    with pytest.raises(DataError, match=rf"^{path}, line 3: byte 0xe9 is not UTF-8; the file is "
                                        r"likely Latin-1 or Windows-1252"):
        load_csv(path, "activity")
    path.write_bytes(b"TFL3\x00\x00\x14\x00\x8c\xff" * 40)
    with pytest.raises(DataError, match=rf"^{path} is not a text file \(binary data at line 1"):
        load_csv(path, "activity")
    path.write_text('width,height,activity\n"1,5",2,cat\n')
    with pytest.raises(DataError, match=r"line 2: column 'width' is not numeric \('1,5'\); it looks "
                                        r"like a decimal comma"):
        load_csv(path, "activity")


def test_a_file_that_is_not_an_npz_is_named_as_what_it_is(tmp_path):
    path = tmp_path / "data.npz"
    path.write_text("width,height,activity\n1,2,cat\n")
    with pytest.raises(DataError, match=r"is not an .npz file .*: it looks like text \(a CSV\? then "
                                        r"give it with --label COLUMN\)") as error:
        load_npz(path)
    assert "pickle" not in str(error.value)
    np.savez(path, X=np.zeros((2, 2)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="holds an array of Python objects, which pyedge does not load"):
        load_npz(path)


def test_integer_labels_index_a_models_named_classes():
    # What pyedge quantize accepts as y beside class names, evaluate accepts too.
    y, classes = encode_labels(np.array([2, 0, 1]), ("run", "sit", "walk"))
    assert classes == ("run", "sit", "walk") and y.tolist() == [2, 0, 1]
    with pytest.raises(DataError, match=r"integer label 3 \(row 0\) is not an index of the model's "
                                        r"classes \['run', 'sit', 'walk'\] \(0 to 2\)"):
        encode_labels(np.array([3, 0]), ("run", "sit", "walk"))
    y, _ = encode_labels(np.array([10, 2]), ("2", "10"))  # text classes that are numbers: by name
    assert y.tolist() == [1, 0]


def test_csv_blank_lines_and_byte_order_mark_are_fine(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n" + table() + "\n\n").encode())
    data = load_csv(path, "activity")
    assert data.rows == 12 and data.feature_names[0] == "width"


def test_training_needs_two_classes_enough_rows_and_two_rows_per_class(tmp_path):
    single = load_csv(write(tmp_path, table(label_values=("cat",))), "activity")
    with pytest.raises(DataError, match="every row has the label 'cat'.*at least two classes"):
        check_trainable(single, 0.2)
    few = load_csv(write(tmp_path, table(rows=6)), "activity")
    with pytest.raises(DataError, match="only 6 rows; training needs at least 10"):
        check_trainable(few, 0.2)
    lonely = from_arrays(np.zeros((12, 2)), ["a"] * 11 + ["b"])
    with pytest.raises(DataError, match="class 'b' has a single row"):
        check_trainable(lonely, 0.2)
    many_classes = from_arrays(np.zeros((12, 2)), np.arange(12) % 6)
    assert check_trainable(many_classes, 0.2) == 6  # one validation row per class
    with pytest.raises(DataError, match="too few to keep a validation split"):
        check_trainable(many_classes, 0.6)
    assert check_trainable(load_csv(write(tmp_path, table()), "activity"), 0.2) == 3


def test_npz_and_arrays(tmp_path):
    x = np.arange(24, dtype=np.float64).reshape(12, 2)
    y = np.array(["b", "a", "c"] * 4)
    np.savez(tmp_path / "d.npz", X=x, y=y)
    data = load_npz(tmp_path / "d.npz")
    assert data.classes == ("a", "b", "c") and data.rows == 12
    np.testing.assert_array_equal(data.y[:3], [1, 0, 2])
    np.savez(tmp_path / "no_y.npz", X=x)
    with pytest.raises(DataError, match="needs arrays X and y; it has X"):
        load_npz(tmp_path / "no_y.npz")
    x[4, 1] = np.nan
    with pytest.raises(DataError, match=r"1 row with missing or non-finite values \(row 4\)"):
        from_arrays(x, y)
    with pytest.raises(DataError, match="2-D array"):
        from_arrays(np.zeros((12, 2, 2)), y)
    with pytest.raises(DataError, match="non-integral"):
        from_arrays(np.zeros((3, 2)), [0.5, 1, 2])
    assert from_arrays(np.zeros((3, 2)), [2.0, 1.0, 2.0]).classes == (1, 2)
    with pytest.raises(DataError, match="labels y go with a NumPy array"):
        load_data(str(tmp_path / "d.npz"), y)
    with pytest.raises(DataError, match=r"no data file at 'nothing.csv' \(built-in datasets: digits"):
        load_data("nothing.csv", label="a")


def test_labels_are_mapped_to_a_trained_models_classes():
    y, classes = encode_labels(np.array(["7", "3", "7"]), (3, 7))  # CSV text, integer classes
    assert classes == (3, 7) and y.tolist() == [1, 0, 1]
    y, _ = encode_labels(np.array([1, 2]), ("1", "2"))  # numbers, text classes
    assert y.tolist() == [0, 1]
    with pytest.raises(DataError, match=r"label 'eel' \(row 1\) is not one of the model's classes"):
        encode_labels(np.array(["cat", "eel"]), ("cat", "dog"))


def test_builtin_datasets():
    pytest.importorskip("sklearn")
    digits = load_data("digits")
    assert (digits.rows, digits.features) == (1797, 64) and digits.classes == tuple(range(10))
    synthetic = load_data("synthetic")
    assert (synthetic.rows, synthetic.features) == (10_000, 100) and len(synthetic.classes) == 10
    np.testing.assert_array_equal(synthetic.x, load_data("synthetic").x)  # deterministic
    diabetes = load_data("diabetes")
    assert (diabetes.rows, diabetes.features, diabetes.task) == (442, 10, "regression")
    assert diabetes.y.min() == 25 and diabetes.y.max() == 346 and diabetes.x[:, 0].max() == 79  # raw ages


# -- the metadata format (pyedge/metadata.py) -------------------------------------------------

def test_metadata_round_trip_is_exact_in_float32():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 7)) * np.array([1e-3, 1, 1e4, 3, 0, 1e2, 7]) + 5
    meta = PyedgeMetadata.from_training_data(x, ("cat", "dog", "eel"))
    assert meta.std[4] == 1.0  # a constant feature maps to 0, not to a division by 0
    back = parse_metadata(meta.to_json(), 7, 3)
    np.testing.assert_array_equal(back.mean.view(np.uint32), meta.mean.view(np.uint32))
    np.testing.assert_array_equal(back.std.view(np.uint32), meta.std.view(np.uint32))
    assert back.classes == ("cat", "dog", "eel")
    expected = (x.astype(np.float32) - meta.mean) / meta.std  # the definition, in float32
    np.testing.assert_array_equal(back.standardize(x).view(np.uint32), expected.view(np.uint32))
    assert parse_metadata(PyedgeMetadata(classes=(3, 1)).to_json(), 7, 2).classes == (3, 1)


@pytest.mark.parametrize("payload, message", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"mean": [0, 0]}', "no valid version"),
    (b'{"version": 3}', "version 3 is newer than this pyedge reads"),
    (b'{"version": 1, "mean": [0, 0, 0], "std": [1, 1, 1]}', "mean must be a list of 2 numbers"),
    (b'{"version": 1, "mean": [0, 0]}', "std must be a list of 2 numbers"),
    (b'{"version": 1, "mean": [0, 0], "std": [1, 0]}', "std must be > 0"),
    (b'{"version": 1, "mean": [0, NaN], "std": [1, 1]}', "finite numbers"),
    (b'{"version": 1, "mean": [0, 1e39], "std": [1, 1]}', "overflows float32"),
    (b'{"version": 1, "classes": ["a"]}', "classes must be a list of 3 names"),
    (b'{"version": 1, "classes": ["a", 1, "c"]}', "all strings or all integers"),
    (b'{"version": 1, "classes": ["a", "a", "c"]}', "unique"),
    (b'{"version": 1, "classes": [true, false, true]}', "all strings or all integers"),
])
def test_bad_metadata_is_a_value_error(payload, message):
    with pytest.raises(ValueError, match=message):
        parse_metadata(payload, 2, 3)


def test_oversized_metadata_is_refused_before_parsing():
    payload = json.dumps({"version": 1, "pad": "x" * MAX_METADATA_BYTES}).encode()
    with pytest.raises(ValueError, match="more than the"):
        parse_metadata(payload, 2, 3)


def test_importing_pyedge_and_its_cli_does_not_import_tensorflow():
    import subprocess

    code = ("import sys, pyedge, pyedge.cli, pyedge.train; "
            "heavy = [m for m in ('tensorflow', 'keras', 'sklearn', 'matplotlib') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


def test_the_train_command_reports_an_unreadable_csv_in_one_line(tmp_path):
    # As a user runs it: its own process, an exit code of 2, one line naming file and line.
    import subprocess
    from pathlib import Path

    (tmp_path / "export.csv").write_bytes(b"width,height,activity\n1,2,caf\xe9\n")
    script = Path(sys.executable).with_name("pyedge")
    result = subprocess.run([str(script), "train", "export.csv", "--label", "activity"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("pyedge train: error: export.csv, line 2: byte 0xe9 is not UTF-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv"]


@pytest.mark.parametrize("n, name_length", [(2, 1), (3, 30), (10, 12), (30, 30)])
def test_confusion_picture_has_nothing_overlapping(n, name_length):
    # Each panel's tick labels, axis titles and title, drawn, must stay clear of each other and
    # of the other panel; long names (up to 30 characters) and many classes included.
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from pyedge.train.evaluate import confusion_figure

    classes = tuple(f"{i:02d}" + "abcdefghij" * 3 for i in range(n)) if name_length > 1 else \
        tuple(range(n))
    classes = tuple(str(c)[:name_length] if name_length > 1 else c for c in classes)
    matrix = (np.eye(n, dtype=int) * 50 + 3).tolist()
    figure = confusion_figure([("float32 (Keras)", matrix), ("int8 (pyedge)", matrix)], classes,
                              "runs/x/model.tflite on x.csv (validation split)")
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)

    def box(artists):
        boxes = [a.get_window_extent(renderer) for a in artists if a.get_visible() and a.get_text()]
        return boxes

    panels = []
    for ax in figure.axes:
        parts = {"yticks": box(ax.get_yticklabels()), "xticks": box(ax.get_xticklabels()),
                 "ylabel": box([ax.yaxis.label]), "xlabel": box([ax.xaxis.label]),
                 "title": box([ax.title]), "matrix": [ax.get_window_extent(renderer)]}
        for a, b in (("ylabel", "yticks"), ("xlabel", "xticks"), ("title", "matrix"),
                     ("yticks", "matrix"), ("xticks", "matrix")):
            assert not any(p.overlaps(q) for p in parts[a] for q in parts[b]), (n, name_length, a, b)
        panels.append([bb for boxes in parts.values() for bb in boxes])
    assert not any(p.overlaps(q) for p in panels[0] for q in panels[1]), (n, name_length)
    assert "accuracy 1.0000" not in figure.axes[0].get_title()  # 3 off the diagonal per row
    assert figure.axes[1].get_title().startswith("int8 (pyedge)\naccuracy 0.")


def test_a_regression_target_round_trips_and_needs_version_2():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(250.0, 40.0, size=40)
    meta = PyedgeMetadata.from_training_data(x, features=("a", "b", "c"), targets=y)
    assert meta.target == (float(np.float32(y.mean())), float(np.float32(y.std())))
    assert json.loads(meta.to_json())["version"] == 2  # a version-1 reader would skip the mapping
    assert json.loads(PyedgeMetadata.from_training_data(x).to_json())["version"] == 1
    back = parse_metadata(meta.to_json(), 3, 1)
    assert back.target == meta.target
    graph = np.array([[-1.5], [0.0], [2.25]], np.float32)
    mean, std = np.float32(meta.target[0]), np.float32(meta.target[1])
    np.testing.assert_array_equal(back.target_mapper()(graph), graph * std + mean)
    np.testing.assert_array_equal(back.standardize_target(y), (y.astype(np.float32) - mean) / std)
    assert PyedgeMetadata().target_mapper() is None
    constant = PyedgeMetadata.from_training_data(x, targets=np.full(40, 7.0))
    assert constant.target == (7.0, 1.0)  # maps to 0 and back, not a division by 0


@pytest.mark.parametrize("target, outputs, message", [
    ('{"mean": 1, "std": 2}', 3, "one output value; this one has 3"),
    ('{"mean": 1}', 1, "exactly 'mean' and 'std'"),
    ('[1, 2]', 1, "exactly 'mean' and 'std'"),
    ('{"mean": 1, "std": 0}', 1, "std must be > 0"),
    ('{"mean": 1, "std": 1e-50}', 1, "std must be > 0 in float32"),
    ('{"mean": NaN, "std": 1}', 1, "finite float32 numbers"),
    ('{"mean": 1e39, "std": 1}', 1, "finite float32 numbers"),
    ('{"mean": true, "std": 1}', 1, "finite float32 numbers"),
])
def test_a_bad_regression_target_is_a_value_error(target, outputs, message):
    with pytest.raises(ValueError, match=message):
        parse_metadata(f'{{"version": 2, "target": {target}}}'.encode(), 2, outputs)


def test_numeric_labels_for_a_regression():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    data = from_arrays(x, np.linspace(0.5, 9.5, 10), task="regression")
    assert data.task == "regression" and data.classes == () and data.y.dtype == np.float32
    np.testing.assert_array_equal(data.labels(), np.linspace(0.5, 9.5, 10).astype(np.float32))
    assert from_arrays(x, np.arange(10), task="regression").y.dtype == np.float32  # integers too
    with pytest.raises(DataError, match="numeric labels"):
        from_arrays(x, np.array(list("abcdefghij")), task="regression")
    with pytest.raises(DataError, match="nothing to predict"):
        check_trainable(from_arrays(np.zeros((30, 2)), np.full(30, 3.5), task="regression"), 0.2)
    with pytest.raises(DataError, match="task must be one of"):
        from_arrays(x, np.arange(10), task="ranking")
    # Many integer classes of one row each: perhaps a quantity; the error says so.
    many = from_arrays(np.zeros((30, 2)), np.arange(30))
    with pytest.raises(DataError, match="30 distinct integers: if it is a quantity, pass --task regression"):
        check_trainable(many, 0.2)
