"""The training commands' outputs: checked before any work starts, written whole or not at all
(pyedge/train/outputs.py), and retraining into a folder leaves nothing of the run before.
The commands run as a user runs them, in their own process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import pyedge_command

from pyedge.train.data import DataError
from pyedge.train.outputs import check_output_file, check_output_folder, staged_folder


def test_a_failed_run_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.tflite").write_bytes(b"the previous run's model")
    with pytest.raises(RuntimeError, match="training diverged"):
        with staged_folder(out, "report.json") as staging:
            (staging / "model.tflite").write_bytes(b"half of a new run")
            raise RuntimeError("training diverged")
    assert (out / "model.tflite").read_bytes() == b"the previous run's model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging folder left


def test_a_new_run_replaces_the_files_and_removes_the_previous_runs_others(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text(json.dumps({"files": {"tflite": "model.tflite",
                                                           "extra": "pruned.keras",
                                                           "outside": "../keep.txt"}}))
    for name in ("model.tflite", "pruned.keras", "notes.txt"):
        (out / name).write_text("old")
    (tmp_path / "keep.txt").write_text("not ours")
    with staged_folder(out, "report.json") as staging:
        (staging / "model.tflite").write_text("new")
        (staging / "report.json").write_text(json.dumps({"files": {"tflite": "model.tflite"}}))
    assert sorted(p.name for p in out.iterdir()) == ["model.tflite", "notes.txt", "report.json"]
    assert (out / "model.tflite").read_text() == "new"
    assert (tmp_path / "keep.txt").exists()  # a report names files in its folder only


def test_outputs_that_cannot_be_written_are_refused_up_front(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(DataError, match="is a file; give a folder"):
        check_output_folder(tmp_path / "a_file")
    with pytest.raises(DataError, match="is a folder; give the file to write"):
        check_output_file(tmp_path)
    assert check_output_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"


@pytest.mark.parametrize("command", [
    ["train", "digits", "--out", "a_file", "--epochs", "1"],
    ["demo", "--out", "a_file"],
])
def test_train_with_out_at_a_file_fails_before_training(command: list[str], tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    (tmp_path / "a_file").write_text("x")
    result = pyedge_command(*command, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "--out 'a_file' is a file; give a folder to write the run's files into")
    assert "Epoch" not in result.stdout + result.stderr  # refused before any training
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_quantize_with_out_at_a_folder_fails_before_converting(tmp_path: Path) -> None:
    result = pyedge_command("quantize", "model.keras", "--calibration", "calib.npz",
                            "--out", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "is a folder; give the file to write" in result.stderr
