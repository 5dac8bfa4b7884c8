"""The model pyedge train builds, and how it is trained.

Dense(64, relu) -> Dense(32, relu) -> Dense(n_classes, softmax), adam, sparse categorical
cross-entropy, 10 epochs; the input width comes from the data. A regression ends in Dense(1)
(linear) on the standardized label instead, trained on the mean squared error (or MAE, Huber).
Every option keeps the graph a Dense stack with activations pyedge's native backend runs.

Reproducibility: `seed` seeds Python, NumPy and TensorFlow (keras.utils.set_random_seed) and
turns on TensorFlow's deterministic ops, so the same seed, data, options and software give the
same weights, bit for bit, and so the same .tflite bytes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .tensorflow_import import keras, tensorflow

ACTIVATIONS = ("relu", "relu6", "tanh", "sigmoid")  # those the native backend runs fused or tabled
DECAYS = ("none", "exponential", "cosine")
LOSSES = ("mse", "mae", "huber")  # a regression's; Keras' names


@dataclass
class TrainingOptions:
    hidden: tuple[int, ...] = (64, 32)  # units of each hidden Dense layer
    activation: str = "relu"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3  # adam's default
    decay: str = "none"  # "exponential" (x decay_rate per epoch) or "cosine" (to 0 at the end)
    decay_rate: float = 0.9
    early_stopping: int | None = None  # patience in epochs on the validation loss; None: off
    validation_fraction: float = 0.2
    seed: int = 0
    task: str = "auto"  # "classification", "regression", or from the data's labels
    loss: str | None = None  # a regression's (default "mse"); classification: cross-entropy

    def check(self) -> None:
        self.hidden = tuple(int(u) for u in self.hidden)
        problems = []
        if not self.hidden or any(u < 1 for u in self.hidden):
            problems.append(f"hidden layers need at least 1 unit each, got {list(self.hidden)}")
        if self.activation not in ACTIVATIONS:
            problems.append(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.decay not in DECAYS:
            problems.append(f"decay must be one of {', '.join(DECAYS)}, got {self.decay!r}")
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            problems.append(f"epochs must be a whole number >= 1, got {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            problems.append(f"batch size must be a whole number >= 1, got {self.batch_size!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            problems.append(f"learning rate must be > 0, got {self.learning_rate}")
        if not 0 < self.decay_rate <= 1:
            problems.append(f"decay rate must be in (0, 1], got {self.decay_rate}")
        if self.early_stopping is not None and self.early_stopping < 1:
            problems.append(f"early stopping patience must be >= 1 epoch, got {self.early_stopping}")
        if self.task not in ("auto", "classification", "regression"):
            problems.append(f"task must be auto, classification or regression, got {self.task!r}")
        if self.loss is not None and self.loss not in LOSSES:
            problems.append(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.loss is not None and self.task == "classification":
            problems.append("a loss is chosen for a regression only (a classifier trains on "
                            "cross-entropy)")
        if not 0 < self.validation_fraction < 1:
            problems.append(f"validation fraction must be in (0, 1), got {self.validation_fraction}")
        if problems:
            raise ValueError("; ".join(problems))

    def as_dict(self) -> dict:
        return dict(asdict(self), hidden=list(self.hidden))


def seed_everything(seed: int) -> None:
    tf = tensorflow()
    keras().utils.set_random_seed(seed)
    # Without it, some kernels may pick their reduction order per run; training an MLP on the
    # CPU with it costs nothing measurable.
    tf.config.experimental.enable_op_determinism()


def build_mlp(input_width: int, n_classes: int, options: TrainingOptions):
    """The MLP: n_classes softmax outputs, or one linear output for a regression."""
    k = keras()
    layers = [k.Input((input_width,), name="features")]
    layers += [k.layers.Dense(units, activation=options.activation, name=f"hidden_{i + 1}")
               for i, units in enumerate(options.hidden)]
    if options.task == "regression":
        layers.append(k.layers.Dense(1, name="value"))
    else:
        layers.append(k.layers.Dense(n_classes, activation="softmax", name="probabilities"))
    return k.Sequential(layers, name="pyedge_mlp")


def learning_rate(options: TrainingOptions, steps_per_epoch: int):
    schedules = keras().optimizers.schedules
    if options.decay == "exponential":
        return schedules.ExponentialDecay(options.learning_rate, decay_steps=steps_per_epoch,
                                          decay_rate=options.decay_rate)
    if options.decay == "cosine":
        return schedules.CosineDecay(options.learning_rate, decay_steps=steps_per_epoch * options.epochs)
    return options.learning_rate


def compile_for_training(model, options: TrainingOptions, rows: int, epochs: int | None = None) -> None:
    steps = math.ceil(rows / options.batch_size)
    if epochs is not None:
        options = TrainingOptions(**dict(asdict(options), epochs=epochs))
    optimizer = keras().optimizers.Adam(learning_rate(options, steps))
    if options.task == "regression":
        model.compile(optimizer=optimizer, loss=options.loss or "mse", metrics=["mae"])
    else:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])


def train(model, x_train: np.ndarray, y_train: np.ndarray, x_validation: np.ndarray,
          y_validation: np.ndarray, options: TrainingOptions, verbose: int | str = 0) -> dict:
    """Fits the model on standardized features (and, for a regression, standardized labels);
    returns the epochs run, Keras' history per epoch (loss, accuracy or mae, val_loss,
    val_accuracy or val_mae) and, when it stopped early, the epoch whose weights it kept."""
    compile_for_training(model, options, len(x_train))
    callbacks = []
    if options.early_stopping:
        callbacks.append(keras().callbacks.EarlyStopping(
            monitor="val_loss", patience=options.early_stopping, restore_best_weights=True))
    history = model.fit(x_train, y_train, validation_data=(x_validation, y_validation),
                        epochs=options.epochs, batch_size=options.batch_size, shuffle=True,
                        callbacks=callbacks, verbose=verbose)
    per_epoch = {key: [float(v) for v in values] for key, values in history.history.items()}
    result: dict = {"epochs_run": len(history.epoch), "history": per_epoch}
    if callbacks and callbacks[0].stopped_epoch:
        result["best_epoch"] = int(np.argmin(per_epoch["val_loss"])) + 1
    return result


def keras_predict(keras_model, x: np.ndarray, batch: int = 4096) -> np.ndarray:
    """The float model's outputs. Calling the model (not Model.predict, which traces a new
    tf.function for every model and warns about retracing) in slices bounds the memory."""
    if len(x) == 0:
        return np.zeros((0, int(keras_model.outputs[0].shape[-1])), np.float32)
    return np.concatenate([keras_model(x[i:i + batch], training=False).numpy()
                           for i in range(0, len(x), batch)])
