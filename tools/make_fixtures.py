#!/usr/bin/env python3
"""Builds the test fixture models with TensorFlow and records LiteRT's reference outputs.

    python tools/make_fixtures.py            # writes tests/fixtures/*.tflite and expected.json

Each fixture is a Keras Dense stack converted by the TFLite converter to a full-integer int8
model, covering what the native backend must run bit-exactly: sizes that are no multiple of
any vector width, every fused and standalone activation, per-tensor and per-channel weights,
int8 and float I/O, deep and wide stacks, folded BatchNormalization and dropped Dropout.
`expected.json` holds, per fixture, SHA-256 digests of every int8 tensor LiteRT's BUILTIN_REF
kernels compute on the deterministic inputs of tests/inputs.py, so the bit-exactness tests
also run where neither TensorFlow nor LiteRT installs (armv7l, qemu).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from inputs import make_inputs  # noqa: E402
from litert_reference import reference_tensors  # noqa: E402

# name: (input width, layers, options). A layer is (units, activation) or a keras layer name.
FIXTURES: dict[str, dict] = {
    "seed_mlp": dict(width=100, layers=[(64, "relu"), (32, "relu"), (10, "softmax")]),
    "seed_mlp_int8_io": dict(width=100, layers=[(64, "relu"), (32, "relu"), (10, "softmax")],
                             int8_io=True),
    "seed_mlp_per_tensor": dict(width=100, layers=[(64, "relu"), (32, "relu"), (10, "softmax")],
                                per_tensor=True),
    "odd_sizes_activations": dict(width=17, layers=[(3, "relu6"), (257, "tanh"), (100, "relu"),
                                                    (1, "sigmoid")]),
    "relu_n1_to_1_no_bias": dict(width=257, layers=[(33, "clip_n1_1"), (17, None, False),
                                                    (5, "softmax")], per_tensor=True),
    "tiny_width_1": dict(width=1, layers=[(1, "relu"), (3, None)], int8_io=True),
    "deep_stack": dict(width=31, layers=[(47, "relu")] * 12 + [(7, "tanh")]),
    "wide_stack": dict(width=1000, layers=[(257, "relu"), (100, "relu6"), (10, "softmax")]),
    "flatten_2d_input": dict(width=(4, 25), layers=["flatten", (16, "relu"), (3, "softmax")]),
    "mlp_784": dict(width=784, layers=[(256, "relu"), (128, "relu"), (10, "softmax")]),
    "batchnorm_dropout": dict(width=20, layers=[(40, None), "batchnorm", "relu", "dropout",
                                                (30, "relu"), "dropout", (4, "sigmoid")]),
    # For the fallback backend: an op the native plan does not run, and a float model.
    "unsupported_abs": dict(width=12, layers=[(8, None), "abs", (3, "softmax")]),
    "unsupported_abs_int8_io": dict(width=12, layers=[(8, None), "abs", (3, "softmax")],
                                    int8_io=True),
    "float_model": dict(width=12, layers=[(8, "relu"), (3, "softmax")], quantize=False),
    # Dynamic-range: the converter keeps weights under 1024 values in float, so 40 x 64.
    "dynamic_range": dict(width=40, layers=[(64, "relu"), (3, "softmax")], quantize="dynamic"),
}
CALIBRATION_ROWS = 300
TEST_ROWS = 10_000


def build_keras(spec: dict, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    width = spec["width"] if isinstance(spec["width"], tuple) else (spec["width"],)
    inputs = keras.Input(width)
    x = inputs
    for layer in spec["layers"]:
        if layer == "batchnorm":
            x = keras.layers.BatchNormalization()(x)
        elif layer == "relu":
            x = keras.layers.ReLU()(x)
        elif layer == "flatten":
            x = keras.layers.Flatten()(x)
        elif layer == "abs":
            x = keras.layers.Lambda(lambda t: keras.ops.abs(t))(x)
        elif layer == "dropout":
            x = keras.layers.Dropout(0.3)(x)
        else:
            units, activation, *bias = layer
            use_bias = bias[0] if bias else True
            if activation == "clip_n1_1":
                x = keras.layers.Dense(units, use_bias=use_bias)(x)
                x = keras.layers.Lambda(lambda t: keras.ops.clip(t, -1.0, 1.0))(x)
            else:
                x = keras.layers.Dense(units, activation=activation, use_bias=use_bias)(x)
    model = keras.Model(inputs, x)
    # A short fit on random data gives trained-looking weights and BatchNorm statistics.
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(512, *width)).astype(np.float32)
    targets = rng.normal(size=(512, model.output_shape[-1])).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    model.fit(features, targets, epochs=2, batch_size=64, verbose=0)
    return model


def convert(model, calibration: np.ndarray, int8_io: bool = False, per_tensor: bool = False,
            quantize: bool | str = True):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if not quantize:
        return converter.convert()
    if quantize == "dynamic":  # int8 weights, float activations: no representative data
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([row[None]] for row in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if per_tensor:
        converter._experimental_disable_per_channel = True
    return converter.convert()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures")
    parser.add_argument("--only", nargs="*", help="fixture names to rebuild")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    expected_path = args.out / "expected.json"
    expected = json.loads(expected_path.read_text()) if expected_path.exists() else {}
    for seed, (name, spec) in enumerate(FIXTURES.items()):
        if args.only and name not in args.only:
            continue
        model = build_keras(spec, seed)
        shape = spec["width"] if isinstance(spec["width"], tuple) else (spec["width"],)
        features = int(np.prod(shape))
        calibration = make_inputs(CALIBRATION_ROWS, features, seed=seed, far_fraction=0.0)
        calibration = calibration.reshape(-1, *shape)
        content = convert(model, calibration, spec.get("int8_io", False),
                          spec.get("per_tensor", False), spec.get("quantize", True))
        (args.out / f"{name}.tflite").write_bytes(content)
        if spec.get("quantize", True) is not True or "abs" in spec["layers"]:
            print(f"{name}: {len(content)} bytes (fallback fixture, no reference recorded)")
            continue
        x = make_inputs(TEST_ROWS, features, seed=1000 + seed).reshape(-1, *shape)
        tensors = reference_tensors(content, x)
        expected[name] = {"input_seed": 1000 + seed, "rows": TEST_ROWS,
                          "tensors": {k: v["sha256"] for k, v in tensors.items()}}
        print(f"{name}: {len(content)} bytes, {len(tensors)} int8 tensors recorded")
    expected_path.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
