"""pyedge: bit-exact int8 inference for small TFLite MLPs on edge devices.

    import pyedge
    model = pyedge.Model("model.tflite")
    probabilities = model.predict(features)
"""

from importlib.metadata import PackageNotFoundError, version

from .model import Model, kernels
from .plan import UnsupportedModel

try:
    __version__ = version("pyedge")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["Model", "UnsupportedModel", "kernels", "__version__"]
