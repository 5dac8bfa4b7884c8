#!/usr/bin/env python3
"""The main job, end to end: train the product card's MLP, quantize it to int8, run it.

    python tools/quickstart.py [--out runs/quickstart]

Trains Dense(64, relu) -> Dense(32, relu) -> Dense(10, softmax) on a synthetic 100-feature,
10-class problem (scikit-learn's make_classification), converts it with the TFLite converter to
a full-integer int8 .tflite, loads it with pyedge.Model, and prints its summary, the float vs
int8 accuracy, whether pyedge matches LiteRT's reference kernels bit for bit, and a short speed
comparison with LiteRT. (The training toolkit issue turns this into `pyedge demo`.)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import convert  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"))
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import keras
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    import pyedge

    print("1/4 data: synthetic, 100 features, 10 classes, 20,000 rows")
    x, y = make_classification(n_samples=20_000, n_features=100, n_informative=40,
                               n_classes=10, n_clusters_per_class=2, random_state=0)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)

    print(f"2/4 training Dense(64, relu) -> Dense(32, relu) -> Dense(10, softmax), "
          f"{args.epochs} epochs")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((100,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, validation_split=0.1,
              verbose=2)
    float_accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))

    print("3/4 quantizing to int8 with the TFLite converter (500 calibration rows)")
    path = args.out / "model.tflite"
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its whole graph
        path.write_bytes(convert(model, x_train[:500]))

    print("4/4 running with pyedge")
    edge = pyedge.Model(path)
    print(edge)
    int8_accuracy = float(np.mean(edge.predict(x_test).argmax(1) == y_test))
    print(f"accuracy on {len(y_test)} test rows: float {float_accuracy:.4f}, "
          f"int8 (pyedge) {int8_accuracy:.4f}")
    compare_with_litert(path, edge, x_test)
    print(f"model written to {path}")


def compare_with_litert(path: Path, edge, x: np.ndarray) -> None:
    import pyedge

    try:
        from ai_edge_litert import interpreter as litert
    except ImportError:
        print("LiteRT is not installed: no comparison (pip install 'pyedge[litert]')")
        return
    reference = litert.Interpreter(model_path=str(path),
                                   experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    reference.resize_tensor_input(0, list(x.shape))
    reference.allocate_tensors()
    reference.set_tensor(reference.get_input_details()[0]["index"], x)
    reference.invoke()
    expected = reference.get_tensor(reference.get_output_details()[0]["index"])
    same = np.array_equal(edge.predict(x), expected)
    print(f"pyedge vs LiteRT BUILTIN_REF on {len(x)} rows: "
          f"{'bit-identical' if same else 'DIFFERENT'}")

    fast = litert.Interpreter(model_path=str(path), num_threads=1)
    fast.allocate_tensors()
    row = x[:1]
    inp, out = fast.get_input_details()[0]["index"], fast.get_output_details()[0]["index"]

    def litert_predict() -> None:
        fast.set_tensor(inp, row)
        fast.invoke()
        fast.get_tensor(out)

    single = pyedge.Model(path, num_threads=1)
    t_litert = best_time(litert_predict)
    t_edge = best_time(lambda: single.predict(row))
    print(f"batch-1 latency: pyedge {t_edge * 1e6:.2f} us, LiteRT {t_litert * 1e6:.2f} us "
          f"(ratio {t_edge / t_litert:.2f}); full comparison: pyedge bench {path}")
    if not same:
        sys.exit(1)


def best_time(fn, repeat: int = 5, number: int = 2000) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


if __name__ == "__main__":
    import pyedge  # noqa: F401  (fail early, before training, if pyedge is not installed)

    main()
