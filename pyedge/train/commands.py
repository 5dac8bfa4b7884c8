"""The training subcommands of `pyedge` (listed in pyedge/cli.py's COMMANDS):

    pyedge train DATA [--label COLUMN] [--out DIR] [options]
    pyedge evaluate MODEL.tflite DATA [--label COLUMN] [--keras MODEL.keras]
    pyedge quantize MODEL.keras --calibration CALIB.npz --out MODEL.tflite
    pyedge demo

Declaring them imports nothing heavy; TensorFlow is imported when one of them runs. A missing
training dependency is a usage error that says what to install.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Callable

from ..usage import UsageError, model_path
from .tensorflow_import import MissingTrainingDependency


def _usage_errors(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    @functools.wraps(run)
    def wrapped(args: argparse.Namespace) -> int:
        from ..model import kernel_variable_problem

        problem = kernel_variable_problem()  # found now, not after minutes of training
        if problem is not None:
            raise UsageError(f"PYEDGE_KERNEL: {problem} (pyedge kernels lists the valid names)")
        try:
            return run(args)
        except (MissingTrainingDependency, FileNotFoundError) as error:
            raise UsageError(str(error)) from None

    return wrapped


def _progress() -> int:
    # A progress bar in a terminal; in a log or a pipe, one plain line per epoch (no ANSI codes).
    return 1 if sys.stdout.isatty() else 2


def _add_quantization_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("quantization")
    group.add_argument("--calibration-rows", type=int, default=500, metavar="N",
                       help="representative rows for int8 calibration (default: %(default)s)")
    group.add_argument("--int8-io", action="store_true",
                       help="int8 input and output tensors (default: float32, quantized inside the model)")
    group.add_argument("--per-tensor", action="store_true",
                       help="one weight scale per layer instead of one per output channel")
    group.add_argument("--prune", type=float, default=None, metavar="FRACTION",
                       help="zero this fraction of each Dense layer's smallest weights, then fine-tune")
    group.add_argument("--prune-epochs", type=int, default=2, metavar="N",
                       help="fine-tuning epochs after --prune (default: %(default)s)")


def _quantization_options(args: argparse.Namespace):
    from .quantize import QuantizationOptions

    return QuantizationOptions(calibration_rows=args.calibration_rows, per_channel=not args.per_tensor,
                               int8_io=args.int8_io, prune=args.prune, prune_epochs=args.prune_epochs)


# -- train ------------------------------------------------------------------------------------

def add_train(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train an MLP on a table of data, quantize it to int8 and evaluate it",
        description="Trains Dense(64, relu) -> Dense(32, relu) -> Dense(classes, softmax) (or the "
                    "layers you give) on DATA, quantizes it to a full-integer int8 .tflite that "
                    "carries the feature standardization and class names, and evaluates float32 vs "
                    "int8 on a validation split. Writes model.keras, model.tflite, report.json and "
                    "confusion.png into --out. With --task regression: a linear head on the "
                    "standardized label (predict returns the label's units), MAE / RMSE / R², and "
                    "scatter.png and residuals.png.")
    parser.add_argument("data", help="a CSV file with a header row (name the label column with "
                        "--label), an .npz file with arrays X and y, or a built-in dataset: "
                        "digits, synthetic, diabetes (a regression)")
    parser.add_argument("--label", metavar="COLUMN", help="the CSV column holding the labels")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: runs/<data name>)")
    parser.add_argument("--drop-missing", action="store_true",
                        help="leave out rows with missing values (listed in the report) instead of stopping")
    parser.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                        help="classification (integer or text labels) or regression (a number to "
                             "predict); auto: classification, or the built-in dataset's task")
    group = parser.add_argument_group("model and training")
    group.add_argument("--loss", choices=("mse", "mae", "huber"), default=None,
                       help="a regression's loss (default: mse)")
    group.add_argument("--hidden", type=int, nargs="+", default=[64, 32], metavar="UNITS",
                       help="units of each hidden layer (default: %(default)s)")
    group.add_argument("--activation", default="relu", choices=("relu", "relu6", "tanh", "sigmoid"),
                       help="hidden layers' activation (default: %(default)s)")
    group.add_argument("--epochs", type=int, default=10, help="(default: %(default)s)")
    group.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    group.add_argument("--learning-rate", type=float, default=1e-3, help="adam's (default: %(default)s)")
    group.add_argument("--decay", choices=("none", "exponential", "cosine"), default="none",
                       help="learning-rate decay: x DECAY_RATE per epoch, or cosine to 0 (default: none)")
    group.add_argument("--decay-rate", type=float, default=0.9,
                       help="for exponential decay (default: %(default)s)")
    group.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                       help="stop when the validation loss has not improved for PATIENCE epochs, "
                            "keeping the best weights")
    group.add_argument("--validation", type=float, default=0.2, metavar="FRACTION",
                       help="rows held out (stratified) to validate and evaluate on (default: %(default)s)")
    group.add_argument("--seed", type=int, default=0,
                       help="the split, initialization, shuffling and calibration sample; the same seed "
                            "reproduces a run (default: %(default)s)")
    _add_quantization_options(parser)
    parser.add_argument("--quiet", action="store_true",
                        help="print nothing but errors (the results are in report.json)")
    parser.set_defaults(run=run_train)


@_usage_errors
def run_train(args: argparse.Namespace) -> int:
    from .network import TrainingOptions
    from .pipeline import fit

    training = TrainingOptions(hidden=tuple(args.hidden), activation=args.activation, epochs=args.epochs,
                               batch_size=args.batch_size, learning_rate=args.learning_rate,
                               decay=args.decay, decay_rate=args.decay_rate,
                               early_stopping=args.early_stopping, validation_fraction=args.validation,
                               seed=args.seed, task=args.task, loss=args.loss)
    result = fit(args.data, label=args.label, out=args.out, drop_missing=args.drop_missing,
                 verbose=0 if args.quiet else _progress(), training=training,
                 quantization=_quantization_options(args))
    if not args.quiet:
        print()
        print(result.summary())
    return 0


# -- evaluate ---------------------------------------------------------------------------------

def add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="metrics of an int8 model (and its float32 Keras model) on a data file",
        description="Runs MODEL with pyedge on DATA's raw features and prints accuracy, precision, "
                    "recall and F1 (macro and per class); with the Keras model (model.keras beside "
                    "MODEL, or --keras) also float32 vs int8 and their agreement. Writes "
                    "evaluation-<data>.json and evaluation-<data>-confusion.png beside MODEL (or --out).")
    parser.add_argument("model", help="a .tflite file")
    parser.add_argument("data", help="a CSV file (with --label), an .npz file (X, y) or a built-in dataset")
    parser.add_argument("--label", metavar="COLUMN", help="the CSV column holding the labels")
    parser.add_argument("--keras", metavar="MODEL.keras", help="the float32 model to compare with")
    parser.add_argument("--out", metavar="DIR",
                        help="where to write the report (default: the model's folder)")
    parser.add_argument("--drop-missing", action="store_true", help="leave out rows with missing values")
    parser.set_defaults(run=run_evaluate)


@_usage_errors
def run_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_file
    from .report import evaluation_summary

    evaluation, facts, files = evaluate_file(model_path(args.model), args.data, label=args.label,
                                             keras_path=args.keras, out=args.out,
                                             drop_missing=args.drop_missing)
    print(evaluation_summary(evaluation, facts, files))
    return 0


# -- quantize ---------------------------------------------------------------------------------

def add_quantize(subparsers) -> None:
    parser = subparsers.add_parser(
        "quantize", help="convert your own Keras model to a full-integer int8 .tflite",
        description="Quantizes MODEL.keras with the TFLite converter, calibrated on the rows X of "
                    "CALIB.npz. X holds raw features, as predict() will get them (not standardized). "
                    "Optional arrays in CALIB.npz: mean and std (the standardization the Keras model "
                    "was trained with: applied to X here and stored in the .tflite, so predict takes "
                    "raw features; X that is already standardized is refused), features (the "
                    "column names: Model.feature_names), classes (Model.classes), y (labels: "
                    "needed by --prune; the accuracy of the written model on them is reported).")
    parser.add_argument("model", help="a .keras file")
    parser.add_argument("--calibration", required=True, metavar="CALIB.npz",
                        help="calibration rows X (+ optional arrays)")
    parser.add_argument("--out", required=True, metavar="MODEL.tflite", help="the .tflite to write")
    parser.add_argument("--seed", type=int, default=0,
                        help="calibration sample and fine-tuning (default: %(default)s)")
    _add_quantization_options(parser)
    parser.set_defaults(run=run_quantize)


@_usage_errors
def run_quantize(args: argparse.Namespace) -> int:
    from .report import evaluation_lines, model_lines
    from .user_model import quantize_keras_file

    report = quantize_keras_file(args.model, args.calibration, args.out, _quantization_options(args),
                                 seed=args.seed, verbose=_progress())
    options = report["options"]
    print(f"wrote {args.out}: full-integer int8, {'per-channel' if options['per_channel'] else 'per-tensor'} "
          f"weights, {'int8' if options['int8_io'] else 'float32'} input and output, calibrated on "
          f"{report['calibration_rows_used']:,} rows")
    for line in model_lines(report["model"]):
        print(line)
    pruning = report.get("pruning")
    if pruning:
        print(f"pruned: sparsity {100 * pruning['sparsity_before']:.1f} % -> "
              f"{100 * pruning['sparsity_after']:.1f} %, "
              f"gzip {pruning['tflite_gzip_bytes_before']:,} B -> {pruning['tflite_gzip_bytes_after']:,} B; "
              f"pruned Keras model: {report['pruned_keras']}")
    if "calibration_rows" in report:
        print()
        for line in evaluation_lines(report["calibration_rows"], "calibration rows (not held out)"):
            print(line)
    return 0


# -- demo -------------------------------------------------------------------------------------

def add_demo(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="train, quantize, evaluate and run an MLP on real data, in about a minute",
        description="The whole pipeline on scikit-learn's handwritten digits: trains a "
                    "64-32 MLP, quantizes it to int8, compares float32 with int8, runs it with "
                    "pyedge.Model natively, checks it against LiteRT bit for bit and times both.")
    parser.add_argument("--out", default="runs/demo", metavar="DIR", help="(default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10, help="(default: %(default)s)")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed comparison")
    parser.set_defaults(run=run_demo)


@_usage_errors
def run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo as demo

    return demo(args.out, epochs=args.epochs, speed=not args.no_speed, verbose=_progress())


TRAINING_COMMANDS = [add_train, add_evaluate, add_quantize, add_demo]
