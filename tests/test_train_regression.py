"""pyedge.train for a regression: a CSV with a numeric label -> a linear head on the
standardized label -> model.tflite whose metadata carries the label's mean and std, so
pyedge.Model.predict returns the label's units on every backend, bit for bit the LiteRT
reference's output mapped the same way; MAE / RMSE / R², the scatter and residual pictures,
`pyedge evaluate` on a regression model, and the errors that steer a user to --task regression.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("ai_edge_litert")

from litert_reference import litert_output  # noqa: E402
from sklearn.metrics import mean_absolute_error, r2_score  # noqa: E402

import pyedge  # noqa: E402
from pyedge.cli import main  # noqa: E402
from pyedge.train import fit  # noqa: E402
from pyedge.train.data import DataError, from_arrays  # noqa: E402
from pyedge.train.datasets import load_data  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
HEADER = "temperature,pressure,kwh,humidity"  # the label (kWh used) in the middle of the table


def energy_rows(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw features on scales 1e-2 to 1e2 and a label around 250 kWh: mostly linear, one
    squared term, a little noise (R² of the best possible model ~0.98)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, 3))
    y = 250 + 40 * z[:, 0] - 25 * z[:, 1] + 10 * z[:, 2] ** 2 + rng.normal(scale=5, size=rows)
    x = z * np.array([1e-2, 1e2, 3.0]) + np.array([0.0, 1000.0, -5.0])
    return x.astype(np.float32), np.round(y, 2).astype(np.float32)


def write_csv(path, x: np.ndarray, y: np.ndarray) -> None:
    lines = [HEADER] + [f"{r[0]!r},{r[1]!r},{v:.2f},{r[2]!r}" for r, v in zip(x.tolist(), y.tolist())]
    path.write_text("\n".join(lines) + "\n")


def in_label_units(model: pyedge.Model, graph_output: np.ndarray) -> np.ndarray:
    """What predict promises: the graph's output * std + mean, two float32 operations."""
    mean, std = (np.float32(v) for v in model.target_standardization)
    return graph_output.astype(np.float32) * std + mean


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("regression")
    x, y = energy_rows(600, seed=1)
    write_csv(folder / "energy.csv", x, y)
    return fit(folder / "energy.csv", label="kwh", task="regression", out=folder / "run", epochs=20,
               verbose=0)


def test_output_folder_report_and_summary(trained):
    assert sorted(p.name for p in trained.out.iterdir()) == [
        "model.keras", "model.tflite", "report.json", "residuals.png", "scatter.png"]
    assert trained.files["scatter"].read_bytes()[:8] == PNG
    assert trained.files["residuals"].read_bytes()[:8] == PNG
    report = json.loads(trained.files["report"].read_text())
    data = report["data"]
    assert data["task"] == "regression" and data["classes"] == []
    assert data["feature_names"] == ["temperature", "pressure", "humidity"]
    assert report["model"]["architecture"] == "3-64-32-1"
    model = pyedge.Model(trained.files["tflite"])
    assert tuple(data["target"].values()) == model.target_standardization
    assert 200 < data["target"]["mean"] < 300 and 30 < data["target"]["std"] < 70
    validation = report["validation"]
    assert validation["task"] == "regression"
    for key in ("float", "int8"):
        assert set(validation[key]) == {"mae", "rmse", "r2", "max_abs_error"}
        assert validation[key]["r2"] > 0.9, validation[key]
    # int8 costs little: its predictions stay within a few kWh of the float model's.
    assert validation["int8_vs_float"]["mae"] < 3.0
    assert abs(validation["int8"]["mae"] - validation["float"]["mae"]) < 2.0
    assert validation["litert"]["identical"] is True
    # The report's metrics are scikit-learn's on what pyedge predicts for the validation rows.
    predicted = model.predict(trained.validation.x).reshape(-1)
    assert validation["int8"]["mae"] == pytest.approx(mean_absolute_error(trained.validation.y, predicted))
    assert validation["int8"]["r2"] == pytest.approx(r2_score(trained.validation.y, predicted))
    summary = trained.summary()
    for text in ("a value to predict", "mse loss", "MAE", "RMSE", "R²", "scatter.png", "residuals.png",
                 "int8 vs float32 predictions", "bit for bit", "random"):
        assert text in summary, text
    assert "confusion" not in summary
    assert "graph output x" in model.summary()


def test_predict_returns_the_labels_units_on_every_backend_equal_to_litert_mapped(trained):
    content = trained.files["tflite"].read_bytes()
    x, y = energy_rows(500, seed=7)  # rows never seen in training
    native = pyedge.Model(trained.files["tflite"])
    assert native.backend.startswith("native (kernel ") and native.classes is None
    predicted = native.predict(x)
    assert predicted.shape == (500, 1) and predicted.dtype == np.float32
    standardized = native.standardize(x)
    expected = in_label_units(native, litert_output(content, standardized, "BUILTIN_REF"))
    np.testing.assert_array_equal(predicted.view(np.uint32), expected.view(np.uint32))
    assert r2_score(y, predicted.reshape(-1)) > 0.9  # in kWh, not standardized units
    np.testing.assert_array_equal(native.predict(x[3]), predicted[3])
    reference = pyedge.Model(trained.files["tflite"], backend="reference")
    np.testing.assert_array_equal(reference.predict(x).view(np.uint32), expected.view(np.uint32))
    interpreter = pyedge.Model(trained.files["tflite"], backend="interpreter")
    np.testing.assert_array_equal(interpreter.predict(x),
                                  in_label_units(native, litert_output(content, standardized, "AUTO")))


def test_evaluate_command_on_a_regression_model_draws_scatter_and_residuals(trained, tmp_path, capsys):
    x, y = energy_rows(200, seed=11)
    write_csv(tmp_path / "holdout.csv", x, y)
    assert main(["evaluate", str(trained.files["tflite"]), str(tmp_path / "holdout.csv"), "--label", "kwh",
                 "--out", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr().out
    for text in ("evaluation (200 rows)", "float32 (Keras)", "int8 (pyedge)", "MAE", "R²",
                 "ai_edge_litert BUILTIN_REF: yes, bit for bit"):
        assert text in out, text
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == [
        "evaluation-holdout-residuals.png", "evaluation-holdout-scatter.png", "evaluation-holdout.json"]
    report = json.loads((tmp_path / "eval" / "evaluation-holdout.json").read_text())
    predicted = pyedge.Model(trained.files["tflite"]).predict(x).reshape(-1)
    assert report["evaluation"]["int8"]["mae"] == pytest.approx(mean_absolute_error(y, predicted))
    # A label that is not a number names its line (an empty one or "n/a" is a missing value).
    lines = (tmp_path / "holdout.csv").read_text().splitlines()
    lines[4] = lines[4].replace(lines[4].split(",")[2], "12kWh")
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    assert main(["evaluate", str(trained.files["tflite"]), str(tmp_path / "bad.csv"), "--label", "kwh"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "line 5: column 'kwh' '12kWh' is not a finite number" in err, err


def test_decimal_labels_without_a_task_point_to_task_regression(trained, tmp_path, capsys):
    csv = trained.out.parent / "energy.csv"
    with pytest.raises(DataError, match=r"column 'kwh' holds decimal numbers .* pass --task regression"):
        fit(csv, label="kwh", out=tmp_path / "run", verbose=0)
    assert main(["train", str(csv), "--label", "kwh", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--task regression" in err
    assert not (tmp_path / "run").exists()  # refused before anything was written
    x, y = energy_rows(50, seed=2)
    with pytest.raises(DataError, match="non-integral floats; to predict the value, pass --task regression"):
        from_arrays(x, y)
    with pytest.raises(DataError, match="is a regression dataset, not a classification one"):
        load_data("diabetes", task="classification")
    with pytest.raises(ValueError, match="pruning .* not a regression"):
        fit(csv, label="kwh", task="regression", prune=0.5, out=tmp_path / "run", verbose=0)
    with pytest.raises(ValueError, match="a loss is chosen for a regression only"):
        fit("digits", task="classification", loss="mae", out=tmp_path / "run", verbose=0)


def test_train_command_on_the_builtin_diabetes_set_with_huber_loss(tmp_path, capsys):
    out = tmp_path / "diabetes"
    assert main(["train", "diabetes", "--loss", "huber", "--epochs", "10", "--hidden", "16",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for text in ("442 rows x 10 features, a value to predict", "huber loss", "R²", "scatter.png"):
        assert text in printed, text
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["loss"] == "huber" and report["training"]["task"] == "regression"
    assert report["model"]["architecture"] == "10-16-1"
    assert report["data"]["feature_names"][:3] == ["age", "sex", "bmi"]
    model = pyedge.Model(out / "model.tflite")
    diabetes = load_data("diabetes")
    predicted = model.predict(diabetes.x).reshape(-1)
    # Ten epochs learn something real, in the label's units (disease progression, 25 to 346):
    # R² 0.25 on the validation rows here, with seed 0.
    assert 100 < predicted.mean() < 200 and r2_score(diabetes.y, predicted) > 0.15
