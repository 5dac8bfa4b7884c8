"""The `pyedge` command, in-process and (for what a user meets first) in its own process, and
the NumPy float32 peer of the benchmark.

Output content is checked, never timings: the benchmark here runs with tiny settings.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import fixture_path, pyedge_command

import pyedge
from pyedge import bench
from pyedge.cli import main
from pyedge.interpreter import litert_module

SEED = str(fixture_path("seed_mlp"))


def test_info_prints_layers_and_kernel(capsys):
    assert main(["info", SEED]) == 0
    out = capsys.readouterr().out
    assert "FullyConnected" in out and "Softmax" in out
    assert "8,768 MACs" in out
    selected = [k["name"] for k in pyedge.kernels() if k["selected"]]
    assert selected and f"kernel {selected[0]}" in out
    assert "kernel" in out and "selected" in out  # the kernels table


def test_kernels_lists_every_kernel(capsys):
    assert main(["kernels"]) == 0
    out = capsys.readouterr().out
    for kernel in pyedge.kernels():
        assert kernel["name"] in out


def test_bench_prints_ratios(capsys):
    code = main(["bench", SEED, "--batch", "1", "16", "--threads", "2", "--rounds", "1",
                 "--target-ms", "1"])
    assert code == 0
    out = capsys.readouterr().out
    assert "100-64-32-10" in out and "minimum time per call" in out
    assert "batch 1\n" in out and "batch 16\n" in out
    assert "pyedge (1 thread)" in out and "pyedge (2 threads)" in out
    assert "2-thread scaling at batch 16" in out
    assert "NumPy float32" in out
    if litert_module() is not None:
        assert "LiteRT XNNPACK (1 thread)" in out and "LiteRT no delegates (1 thread)" in out
        assert "1.00x" in out  # each LiteRT runner against itself
        assert "LiteRT BUILTIN_REF on the 16-row benchmark batch: yes" in out
        assert re.search(r"load \+ first predict \(best of 20\): pyedge [\d.]+ [mu]?s, "
                         r"LiteRT XNNPACK [\d.]+ [mu]?s: [\d.]+x", out), out
    else:
        assert "LiteRT skipped" in out


def test_bench_markdown(capsys):
    assert main(["bench", SEED, "--batch", "4", "--threads", "1", "--rounds", "1",
                 "--target-ms", "1", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| runner | time/call | rows/s |" in out
    assert "| pyedge (1 thread) |" in out
    assert "threads) |" not in out  # --threads 1: no multi-threaded runner


@pytest.mark.parametrize("command", ["info", "bench"])
def test_missing_model_is_one_line_and_exit_code_2(command, capsys, tmp_path):
    missing = tmp_path / "nope.tflite"
    assert main([command, str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "nope.tflite" in lines[0] and "Traceback" not in lines[0]


def test_invalid_model_is_one_line_and_exit_code_2(capsys, tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"this is not a model")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a TFLite model" in err


@pytest.mark.parametrize("option", [["--threads", "0"], ["--target-ms", "nan"],
                                    ["--rounds", "0"], ["--batch", "0"]])
def test_bad_bench_options_are_one_line_and_exit_code_2(option, capsys):
    assert main(["bench", SEED, *option]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be positive" in err


@pytest.mark.parametrize("command", [["info", SEED], ["train", "digits", "--epochs", "1"],
                                     ["evaluate", SEED, "digits"], ["demo"]])
def test_bad_kernel_variable_is_one_line_and_exit_code_2(command):
    result = pyedge_command(*command, PYEDGE_KERNEL="bogus")
    assert result.returncode == 2 and result.stdout == ""  # before any work: nothing trained
    assert result.stderr.count("\n") == 1 and "unknown kernel 'bogus'" in result.stderr


def test_kernels_lists_the_valid_names_when_the_kernel_variable_is_bad():
    # The command that lists the names must work when PYEDGE_KERNEL holds a bad one.
    result = pyedge_command("kernels", PYEDGE_KERNEL="bogus")
    assert result.returncode == 0
    assert "selected without PYEDGE_KERNEL" in result.stdout
    assert all(k in result.stdout for k in ("scalar", "avx2", "neon"))
    assert "PYEDGE_KERNEL='bogus' is not usable here: unknown kernel 'bogus'" in result.stderr


def test_fallback_bench_compares_with_the_kernels_it_runs():
    if litert_module() is None:
        pytest.skip("LiteRT is not installed: no fallback to compare")
    result = pyedge_command("bench", str(fixture_path("unsupported_abs")), "--batch", "8",
                            "--threads", "1", "--rounds", "1", "--target-ms", "1")
    assert result.returncode == 0, result.stderr
    assert ("(pyedge runs this model on ai_edge_litert's reference kernels): yes, bit for bit"
            in result.stdout)


def test_no_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


def test_numpy_peer_agrees_with_pyedge_on_argmax():
    # A float model against the int8 one: a sanity check of the peer, not exactness.
    model = pyedge.Model(SEED, num_threads=1)
    x = bench.bench_inputs(model, 1000, seed=1)
    float_y = bench.NumpyMLP(model).predict(x)
    assert float_y.shape == (1000, 10) and float_y.dtype == np.float32
    np.testing.assert_allclose(float_y.sum(axis=1), 1.0, rtol=1e-5)  # softmax in float
    agreement = np.mean(float_y.argmax(axis=1) == model.predict(x).argmax(axis=1))
    assert agreement >= 0.9, agreement
