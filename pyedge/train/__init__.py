"""pyedge.train: from a table of data to a validated int8 .tflite (needs `pyedge[train]`).

    from pyedge import train
    result = train.fit("sensors.csv", label="activity", out="runs/act")   # or fit(X, y, ...)
    print(result.summary())          # metrics float32 vs int8, sizes, the files written
    train.quantize_keras_file("my_model.keras", "calib.npz", "my_model.tflite")
    train.evaluate_file("runs/act/model.tflite", "holdout.csv", label="activity")
    train.run_demo()                 # what `pyedge demo` runs

The command line does the same: `pyedge train | quantize | evaluate | demo`. Importing this
package does not import TensorFlow; the functions that need it import it when called.
"""

from .data import DataError, Dataset, from_arrays, load_csv, load_npz
from .datasets import BUILTIN, digits, load_data, synthetic
from .demo import run_demo
from .evaluate import evaluate_file
from .network import TrainingOptions
from .pipeline import TrainResult, fit
from .quantize import QuantizationOptions
from .tensorflow_import import MissingTrainingDependency
from .user_model import quantize_keras_file

__all__ = ["BUILTIN", "DataError", "Dataset", "MissingTrainingDependency", "QuantizationOptions",
           "TrainResult", "TrainingOptions", "digits", "evaluate_file", "fit", "from_arrays",
           "load_csv", "load_data", "load_npz", "quantize_keras_file", "run_demo", "synthetic"]
