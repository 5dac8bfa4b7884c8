"""Magnitude pruning with fine-tuning: zero the smallest weights of every Dense kernel, then
train a little more with those weights held at zero.

Written here rather than with tensorflow-model-optimization because its pruning API works on
tf_keras (Keras 2) models only, and TensorFlow >= 2.16 trains with Keras 3
(tensorflow/model-optimization#1119). The mask is a variable constraint, which Keras 3's
optimizers apply after every update, so pruned weights stay exactly 0. Zeros cost the same
time in a dense int8 kernel; what pruning buys is a smaller compressed download (and int8
zeros stay exactly zero: weights are symmetric, zero point 0).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import numpy as np

from .network import TrainingOptions, compile_for_training, keras_predict
from .tensorflow_import import keras


@dataclass
class PruningResult:
    fraction: float
    sparsity_before: float  # zero weights / all weights, over the Dense kernels
    sparsity_after: float
    float_accuracy_before: float  # on the validation rows, before pruning
    float_accuracy_after: float  # after pruning and fine-tuning
    fine_tune_epochs: int
    history: dict  # Keras' history of the fine-tuning


def dense_kernels(model) -> list:
    dense = keras().layers.Dense
    return [layer.kernel for layer in model.layers if isinstance(layer, dense)]


def sparsity(model) -> float:
    kernels = [np.asarray(k.numpy()) for k in dense_kernels(model)]
    total = sum(k.size for k in kernels)
    return float(sum(np.count_nonzero(k == 0) for k in kernels) / total) if total else 0.0


def magnitude_mask(weights: np.ndarray, fraction: float) -> np.ndarray:
    """1 for the weights kept, 0 for the round(fraction * size) smallest in magnitude."""
    flat = np.abs(weights).reshape(-1)
    mask = np.ones(flat.size, np.float32)
    mask[np.argsort(flat, kind="stable")[:round(fraction * flat.size)]] = 0.0
    return mask.reshape(weights.shape)


class _KeepMask:
    """A Keras variable constraint: multiplies the variable by a fixed 0/1 mask."""

    def __init__(self, mask: np.ndarray):
        self.mask = mask

    def __call__(self, variable):
        return variable * self.mask


def prune(model, fraction: float, x_train: np.ndarray, y_train: np.ndarray,
          x_validation: np.ndarray, y_validation: np.ndarray, options: TrainingOptions,
          epochs: int, verbose: int | str = 0) -> PruningResult:
    """Prunes `model` in place and fine-tunes it for `epochs` on the training rows."""
    before = sparsity(model)
    accuracy_before = accuracy(model, x_validation, y_validation)
    kernels = dense_kernels(model)
    if not kernels:
        raise ValueError("the model has no Dense layer to prune")
    for kernel in kernels:
        mask = magnitude_mask(kernel.numpy(), fraction)
        kernel.assign(kernel.numpy() * mask)
        kernel.constraint = _KeepMask(mask)
    try:
        compile_for_training(model, options, len(x_train), epochs=epochs)
        history = model.fit(x_train, y_train, validation_data=(x_validation, y_validation),
                            epochs=epochs, batch_size=options.batch_size, shuffle=True, verbose=verbose)
    finally:
        for kernel in kernels:
            kernel.constraint = None  # the saved model must not need this class to load
    return PruningResult(fraction, before, sparsity(model), accuracy_before,
                         accuracy(model, x_validation, y_validation), epochs,
                         {k: [float(v) for v in values] for k, values in history.history.items()})


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(keras_predict(model, x).argmax(axis=1) == y))


def gzip_size(content: bytes) -> int:
    return len(gzip.compress(content, compresslevel=9, mtime=0))
