"""pyedge.train end to end: train -> model.keras + model.tflite (with standardization and class
names in its metadata) -> pyedge.Model on raw features, natively, equal to LiteRT; quantize,
evaluate, prune, demo, the CLI; reproducibility; int8 accuracy next to float32.

Training is kept tiny (hundreds of rows, a few epochs) except in the accuracy test, which
trains the default 10 epochs on the digits and synthetic sets (~20 s of this file's ~1-2 min).
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from conftest import pyedge_command

tf = pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("ai_edge_litert")

from litert_reference import litert_output  # noqa: E402

import pyedge  # noqa: E402
from pyedge.cli import main  # noqa: E402
from pyedge.quantization import quantize  # noqa: E402
from pyedge.train import fit  # noqa: E402
from pyedge.train.tflite_metadata import with_metadata_entry  # noqa: E402

CLASSES = ("run", "sit", "walk")
# Column scales from 1e-2 to 1e2 (a factor of 1e4): one int8 input scale could not serve the
# raw columns; standardized, each spans the same range.
SCALES = np.array([1e-2, 1e2, 1.0, 30.0])
OFFSETS = np.array([0.0, 1000.0, -5.0, 0.0])


def sensor_rows(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, rows)
    centers = np.array([[0, 0, 0, 0], [3.5, -3, 1.5, 0], [-3, 3.5, -1.5, 0]])
    x = (centers[label] + rng.normal(size=(rows, 4))) * SCALES + OFFSETS
    return x.astype(np.float32), label


def write_csv(path, x: np.ndarray, label: np.ndarray, names: list[str] | None = None) -> None:
    # The label column sits in the middle of the table.
    names = names or [CLASSES[k] for k in label]
    lines = ["accel_small,pressure,activity,tilt,noise"]
    lines += [f"{r[0]!r},{r[1]!r},{name},{r[2]!r},{r[3]!r}" for r, name in zip(x.tolist(), names)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    x, label = sensor_rows(600, seed=1)
    write_csv(folder / "sensors.csv", x, label)
    result = fit(folder / "sensors.csv", label="activity", out=folder / "run", epochs=5, verbose=0)
    return result


def test_output_folder_report_and_summary(trained):
    files = trained.files
    assert sorted(p.name for p in trained.out.iterdir()) == ["confusion.png", "model.keras", "model.tflite",
                                                             "report.json"]
    assert files["confusion"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(files["report"].read_text())
    assert report["data"]["classes"] == list(CLASSES)
    assert report["data"]["features"] == 4 and report["data"]["rows"] == 600
    assert report["data"]["train_rows"] + report["data"]["validation_rows"] == 600
    assert report["training"]["hidden"] == [64, 32] and report["training"]["epochs_run"] == 5
    assert report["model"]["architecture"] == "4-64-32-3"
    assert report["model"]["macs_per_row"] == 4 * 64 + 64 * 32 + 32 * 3
    assert report["model"]["tflite_bytes"] == files["tflite"].stat().st_size
    validation = report["validation"]
    for model in ("float", "int8"):
        metrics = validation[model]
        assert set(metrics) >= {"accuracy", "precision_macro", "recall_macro", "f1_macro", "per_class"}
        assert [c["class"] for c in metrics["per_class"]] == list(CLASSES)
        assert sum(c["support"] for c in metrics["per_class"]) == validation["rows"]
    assert validation["float"]["accuracy"] > 0.9 and validation["int8"]["accuracy"] > 0.9
    assert validation["agreement"] >= 0.97
    assert validation["litert"]["identical"] is True
    assert validation["pyedge_backend"].startswith("native")
    summary = trained.summary()
    for name in ("model.keras", "model.tflite", "report.json", "confusion.png", "float32 (Keras)",
                 "int8 (pyedge)", "agreement", "bit for bit"):
        assert name in summary


def test_raw_features_round_trip_natively_equal_to_litert(trained):
    model = pyedge.Model(trained.files["tflite"])
    assert model.backend.startswith("native (kernel ")
    assert tuple(model.classes) == CLASSES and model.classes.dtype.kind == "U"
    x, label = sensor_rows(2000, seed=7)  # raw features, never seen in training
    probabilities = model.predict(x)
    assert (model.classes[probabilities.argmax(axis=1)] == np.array(CLASSES)[label]).mean() > 0.9
    content = trained.files["tflite"].read_bytes()
    standardized = model.standardize(x)
    mean, std = model.standardization
    np.testing.assert_array_equal(standardized, (x - mean) / std)  # float32 throughout
    # Bit for bit with LiteRT's reference kernels (pyedge's exactness target); the same classes
    # as LiteRT's default kernels, whose optimized int8 softmax differs by 1 LSB on a few outputs.
    np.testing.assert_array_equal(probabilities, litert_output(content, standardized, "BUILTIN_REF"))
    default = litert_output(content, standardized, "AUTO")
    np.testing.assert_array_equal(probabilities.argmax(axis=1), default.argmax(axis=1))
    assert np.abs(probabilities - default).max() <= model.output_quantization[0]
    # The raw columns fed straight to the graph (no standardization) are nonsense to it.
    unstandardized = litert_output(content, x, "BUILTIN_REF").argmax(axis=1)
    assert (unstandardized == label).mean() < 0.7
    np.testing.assert_array_equal(model.predict(x[3]), probabilities[3])
    np.testing.assert_array_equal(model.predict(x.astype(np.float64)), probabilities)
    trace = model.trace(x[:5])
    assert np.array_equal(trace[model.plan.input_name], quantize(standardized[:5], *model.input_quantization))


def test_every_backend_standardizes_the_same_way(trained):
    native = pyedge.Model(trained.files["tflite"])
    x, _ = sensor_rows(300, seed=8)
    expected = native.predict(x)
    reference = pyedge.Model(trained.files["tflite"], backend="reference")
    np.testing.assert_array_equal(reference.predict(x), expected)
    np.testing.assert_array_equal(reference.predict(x[0]), expected[0])
    interpreter = pyedge.Model(trained.files["tflite"], backend="interpreter")
    assert interpreter.backend.startswith("interpreter")
    content = trained.files["tflite"].read_bytes()
    np.testing.assert_array_equal(interpreter.predict(x),
                                  litert_output(content, native.standardize(x), "AUTO"))
    assert tuple(interpreter.classes) == CLASSES


@pytest.mark.filterwarnings("ignore:overflow encountered in divide:RuntimeWarning")
def test_bad_input_to_a_standardizing_model_gets_the_usual_errors(trained):
    for backend in ("native", "reference"):
        model = pyedge.Model(trained.files["tflite"], backend=backend)
        with pytest.raises(ValueError, match=r"expected input of shape \(rows, 4\) or \(4,\)"):
            model.predict(np.zeros((3, 5)))
        with pytest.raises(ValueError, match=r"expected input of shape"):
            model.predict(np.zeros((3, 1)))  # would broadcast against the statistics: refused
        with pytest.raises(TypeError, match="needs numbers"):
            model.predict(np.array([["a"] * 4]))
        rows = np.ones((4, 4), np.float32)
        rows[2, 1] = np.nan
        with pytest.raises(ValueError, match="input row 2 contains NaN or Inf"):
            model.predict(rows)
        rows[2, 1] = 3e38  # finite, but (x - mean) / std overflows float32
        rows[2, 0] = -3e38
        with pytest.raises(ValueError, match="input row 2 overflows float32 when standardized"):
            model.predict(rows)
        assert model.predict(np.zeros((0, 4))).shape == (0, 3)


def test_pickle_keeps_classes_and_standardization(trained):
    model = pyedge.Model(trained.files["tflite"])
    copy = pickle.loads(pickle.dumps(model))
    assert tuple(copy.classes) == CLASSES
    for a, b in zip(copy.standardization, model.standardization):
        np.testing.assert_array_equal(a, b)
    x, _ = sensor_rows(50, seed=9)
    np.testing.assert_array_equal(copy.predict(x), model.predict(x))
    assert "classes: run, sit, walk" in repr(copy) and "(x - mean) / std on 4 raw features" in repr(copy)


def test_metadata_survives_litert_and_bad_metadata_is_a_value_error(trained, tmp_path):
    content = trained.files["tflite"].read_bytes()
    model = pyedge.Model(content)
    assert set(model.metadata) >= {"pyedge", "min_runtime_version"}
    entry = json.loads(model.metadata["pyedge"])
    assert entry["version"] == 1 and entry["classes"] == list(CLASSES) and len(entry["mean"]) == 4
    for payload, message in ((b"{broken", "not valid JSON"),
                             (b'{"version": 1, "mean": [0], "std": [1]}', "mean must be a list of 4"),
                             (b'{"version": 7}', "version 7 is newer")):
        bad = tmp_path / "bad.tflite"
        bad.write_bytes(with_metadata_entry(content, "pyedge", payload))
        litert_output(bad.read_bytes(), np.zeros((1, 4), np.float32), "BUILTIN_REF")  # still loads
        with pytest.raises(ValueError, match=f"bad.tflite: 'pyedge' metadata.*{message}"):
            pyedge.Model(bad)
        assert main(["info", str(bad)]) == 2


def test_evaluate_command_on_a_holdout_csv(trained, tmp_path, capsys):
    x, label = sensor_rows(200, seed=11)
    write_csv(tmp_path / "holdout.csv", x, label)
    assert main(["evaluate", str(trained.files["tflite"]), str(tmp_path / "holdout.csv"), "--label",
                 "activity", "--out", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr().out
    for text in ("evaluation (200 rows)", "float32 (Keras)", "int8 (pyedge)", "agreement", "walk",
                 "ai_edge_litert BUILTIN_REF: yes, bit for bit"):
        assert text in out
    report = json.loads((tmp_path / "eval" / "evaluation-holdout.json").read_text())
    accuracy = report["evaluation"]["int8"]["accuracy"]
    predicted = pyedge.Model(trained.files["tflite"]).predict(x).argmax(axis=1)
    assert accuracy == pytest.approx((predicted == label).mean())
    assert (tmp_path / "eval" / "evaluation-holdout-confusion.png").is_file()
    write_csv(tmp_path / "odd.csv", x, label, ["eel" if i == 3 else CLASSES[k] for i, k in enumerate(label)])
    assert main(["evaluate", str(trained.files["tflite"]), str(tmp_path / "odd.csv"),
                 "--label", "activity"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "label 'eel' (line 5) is not one of the model's classes" in err


def test_quantize_command_for_a_users_keras_model(trained, tmp_path, capsys):
    x, label = sensor_rows(300, seed=12)
    model = pyedge.Model(trained.files["tflite"])
    mean, std = model.standardization
    np.savez(tmp_path / "calib.npz", X=x, mean=mean, std=std, classes=np.array(CLASSES), y=label)
    out = tmp_path / "mine.tflite"
    assert main(["quantize", str(trained.files["keras"]), "--calibration", str(tmp_path / "calib.npz"),
                 "--out", str(out), "--calibration-rows", "200", "--int8-io"]) == 0
    printed = capsys.readouterr().out
    assert "full-integer int8, per-channel weights, int8 input and output, calibrated on 200 rows" in printed
    assert "calibration rows (not held out)" in printed
    mine = pyedge.Model(out)
    assert mine.backend.startswith("native") and tuple(mine.classes) == CLASSES
    assert mine.input_quantization is not None and not mine.plan.float_input
    y = mine.predict(x)  # raw float rows: standardized, then quantized to the int8 input
    np.testing.assert_array_equal(y, litert_output(out.read_bytes(), mine.standardize(x), "BUILTIN_REF"))
    assert (y.argmax(1) == label).mean() > 0.9
    np.savez(tmp_path / "x_only.npz", X=x)
    assert main(["quantize", str(trained.files["keras"]), "--calibration", str(tmp_path / "x_only.npz"),
                 "--out", str(out), "--prune", "0.5"]) == 2
    assert "--prune fine-tunes the model" in capsys.readouterr().err
    assert main(["quantize", str(tmp_path / "none.keras"), "--calibration", str(tmp_path / "x_only.npz"),
                 "--out", str(out)]) == 2
    assert "no Keras model file" in capsys.readouterr().err


def test_options_shape_the_network_and_the_quantization(tmp_path):
    x, label = sensor_rows(300, seed=2)
    result = fit(x, label, out=tmp_path / "a", hidden=(16,), activation="tanh", epochs=3, batch_size=16,
                 decay="cosine", calibration_rows=50, per_channel=False, int8_io=True, verbose=0)
    model = pyedge.Model(result.files["tflite"])
    assert result.report["model"]["architecture"] == "4-16-3"
    assert model.backend.startswith("native") and not model.plan.float_input
    assert [layer.kind for layer in model.plan.layers] == ["fully_connected", "lookup_table",
                                                           "fully_connected", "softmax"]
    assert not any(layer.per_channel for layer in model.plan.layers if layer.kind == "fully_connected")
    assert result.report["quantization"]["calibration_rows_used"] == 50
    assert tuple(model.classes) == (0, 1, 2)
    content = result.files["tflite"].read_bytes()
    np.testing.assert_array_equal(model.predict(x),
                                  litert_output(content, model.standardize(x), "BUILTIN_REF"))
    stopped = fit(x, label, out=tmp_path / "b", hidden=(8,), epochs=30, early_stopping=1,
                  learning_rate=0.05, decay="exponential", decay_rate=0.5, verbose=0)
    assert stopped.report["training"]["epochs_run"] < 30
    assert 1 <= stopped.report["training"]["best_epoch"] <= stopped.report["training"]["epochs_run"]
    with pytest.raises(ValueError, match="activation must be one of relu, relu6, tanh, sigmoid, got 'elu'"):
        fit(x, label, out=tmp_path / "c", activation="elu")
    with pytest.raises(TypeError, match="unknown option: epoch"):
        fit(x, label, out=tmp_path / "c", epoch=3)


def test_pruning_reports_sparsity_and_compressed_sizes(tmp_path):
    x, label = sensor_rows(400, seed=3)
    result = fit(x, label, out=tmp_path / "p", epochs=5, prune=0.6, prune_epochs=3, verbose=0)
    pruning = result.report["pruning"]
    assert pruning["sparsity_before"] < 0.05 and pruning["sparsity_after"] >= 0.6
    assert pruning["tflite_gzip_bytes_after"] < pruning["tflite_gzip_bytes_before"]
    model = pyedge.Model(result.files["tflite"])
    weights = np.concatenate([layer.weights.ravel() for layer in model.plan.layers
                              if layer.kind == "fully_connected"])
    assert np.mean(weights == 0) >= 0.6  # pruned float zeros are int8 zeros
    assert result.int8_accuracy >= pruning["float_accuracy_before"] - 0.05
    assert "sparsity" in result.summary() and "gzip" in result.summary()


def test_same_seed_same_tflite_bytes(tmp_path):
    """Same seed, data and options: identical weights, so identical .tflite bytes (the converter
    and the calibration sample are deterministic too); another seed: another model."""
    x, label = sensor_rows(200, seed=4)
    runs = [fit(x, label, out=tmp_path / f"s{i}", epochs=2, seed=seed, verbose=0)
            for i, seed in enumerate((5, 5, 6))]
    contents = [run.files["tflite"].read_bytes() for run in runs]
    assert contents[0] == contents[1]
    assert contents[0] != contents[2]


def test_train_command_prints_the_summary_and_usage_errors_are_one_line(tmp_path, capsys):
    x, label = sensor_rows(150, seed=5)
    write_csv(tmp_path / "s.csv", x, label)
    assert main(["train", str(tmp_path / "s.csv"), "--label", "activity", "--out", str(tmp_path / "run"),
                 "--epochs", "1", "--hidden", "8"]) == 0
    out = capsys.readouterr().out
    assert "150 rows x 4 features, 3 classes" in out and str(tmp_path / "run" / "model.tflite") in out
    for argv, message in (
            (["train", str(tmp_path / "s.csv"), "--label", "nope"], "no column named 'nope'"),
            (["train", str(tmp_path / "s.csv")], "name the label column"),
            (["train", str(tmp_path / "missing.csv"), "--label", "a"], "no data file"),
            (["train", str(tmp_path / "s.csv"), "--label", "activity", "--epochs", "0"], "epochs must be"),
            (["evaluate", str(tmp_path / "none.tflite"), str(tmp_path / "s.csv")], "no model file")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


def test_int8_accuracy_within_two_points_of_float_on_digits_and_synthetic(tmp_path):
    """The default MLP with every default (10 epochs): the slowest test here (~20 s)."""
    for name in ("digits", "synthetic"):
        result = fit(name, out=tmp_path / name, verbose=0)
        assert result.float_accuracy > 0.85, name
        assert abs(result.int8_accuracy - result.float_accuracy) <= 0.02, (name, result.report["validation"])
        assert result.report["validation"]["litert"]["identical"]


def test_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    for text in ("1/4 training", "float32 (Keras)", "int8 (pyedge)", "backend: native",
                 "first 8 validation images: predicted", "4/4 speed", "LiteRT XNNPACK",
                 "pyedge outputs == ai_edge_litert BUILTIN_REF: yes, bit for bit", "model.tflite"):
        assert text in out, text
    assert (tmp_path / "demo" / "confusion.png").is_file()


def test_feature_names_travel_and_evaluate_matches_csv_columns_by_name(trained, tmp_path):
    names = ("accel_small", "pressure", "tilt", "noise")
    assert pyedge.Model(trained.files["tflite"]).feature_names == names
    assert trained.report["data"]["feature_names"] == list(names)
    x, label = sensor_rows(200, seed=13)
    write_csv(tmp_path / "holdout.csv", x, label)
    # The same rows with the columns in another order, and a column the model never saw.
    lines = ["notes,noise,tilt,activity,pressure,accel_small"]
    lines += [f"n{i},{r[3]!r},{r[2]!r},{CLASSES[k]},{r[1]!r},{r[0]!r}"
              for i, (r, k) in enumerate(zip(x.tolist(), label))]
    (tmp_path / "shuffled.csv").write_text("\n".join(lines) + "\n")
    accuracies = []
    for name in ("holdout", "shuffled"):
        result = pyedge_command("evaluate", str(trained.files["tflite"]), str(tmp_path / f"{name}.csv"),
                                "--label", "activity", "--out", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        assert "columns matched by name to the model's features: accel_small, pressure, tilt, noise" \
            in result.stdout
        report = json.loads((tmp_path / name / f"evaluation-{name}.json").read_text())
        accuracies.append(report["evaluation"]["int8"]["accuracy"])
    assert "columns ignored (not features of the model): notes" in result.stdout
    assert report["evaluation"]["ignored_columns"] == ["notes"]
    assert accuracies[0] == accuracies[1] > 0.9
    (tmp_path / "no_tilt.csv").write_text("\n".join(
        ",".join(c for j, c in enumerate(line.split(",")) if j != 2) for line in lines) + "\n")
    result = pyedge_command("evaluate", str(trained.files["tflite"]), str(tmp_path / "no_tilt.csv"),
                            "--label", "activity")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert f"{tmp_path / 'no_tilt.csv'}: no column for the model's feature 'tilt'" in result.stderr


def test_quantize_refuses_calibration_rows_standardized_twice(trained, tmp_path):
    x, label = sensor_rows(300, seed=14)
    model = pyedge.Model(trained.files["tflite"])
    mean, std = model.standardization
    standardized = model.standardize(x)
    np.savez(tmp_path / "twice.npz", X=standardized, mean=mean, std=std, y=label)
    result = pyedge_command("quantize", str(trained.files["keras"]), "--calibration",
                            str(tmp_path / "twice.npz"), "--out", str(tmp_path / "bad.tflite"))
    assert result.returncode == 2
    assert "X looks already standardized" in result.stderr and "X must be the raw features" in result.stderr
    assert not (tmp_path / "bad.tflite").exists()
    # Raw rows with their names: the names travel, and the written model's accuracy is reported.
    np.savez(tmp_path / "raw.npz", X=x, mean=mean, std=std, y=label, classes=np.array(CLASSES),
             features=np.array(["accel_small", "pressure", "tilt", "noise"]))
    result = pyedge_command("quantize", str(trained.files["keras"]), "--calibration",
                            str(tmp_path / "raw.npz"), "--out", str(tmp_path / "good.tflite"))
    assert result.returncode == 0, result.stderr
    assert "calibration rows (not held out)" in result.stdout and "int8 (pyedge)" in result.stdout
    names = ("accel_small", "pressure", "tilt", "noise")
    assert pyedge.Model(tmp_path / "good.tflite").feature_names == names


def test_train_output_has_a_header_no_ansi_codes_and_quiet_is_silent(tmp_path):
    x, label = sensor_rows(200, seed=15)
    write_csv(tmp_path / "sensors.csv", x, label)
    args = ("train", str(tmp_path / "sensors.csv"), "--label", "activity", "--epochs", "2")
    result = pyedge_command(*args, "--out", str(tmp_path / "loud"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("training data: ") and "training a 4-64-32-3 MLP (relu) for 2 epochs" in out
    assert out.index("training a 4-64-32-3") < out.index("Epoch 1/2") < out.index("validation (")
    assert "\x1b" not in out + result.stderr  # not a terminal: plain lines, no ANSI codes
    result = pyedge_command(*args, "--out", str(tmp_path / "quiet"), "--quiet")
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
    assert (tmp_path / "quiet" / "report.json").is_file()
