"""A Keras stack converted to a full-int8 .tflite by the TFLite converter, as users make them
(the tests that compare Keras-made models with LiteRT share it)."""

from __future__ import annotations

import numpy as np


def int8_model(layers: list, input_shape: tuple[int, ...], calibration: np.ndarray,
               per_channel: bool = True, int8_io: bool = False) -> bytes:
    """`layers` applied in order to an input of `input_shape` (seeded weights), calibrated on
    `calibration` rows; float32 I/O unless int8_io."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(5)
    inputs = tf.keras.Input(input_shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    converter = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inputs, x))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: ([row[None]] for row in calibration)
    converter._experimental_disable_per_channel = not per_channel
    if int8_io:
        converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()
