"""pyedge: bit-exact int8 inference for small TFLite MLPs on edge devices.

    import pyedge
    model = pyedge.Model("model.tflite")
    probabilities = model.predict(features)
"""

from ._version import __version__
from .model import Model, kernels
from .plan import UnsupportedModel

__all__ = ["Model", "UnsupportedModel", "kernels", "__version__"]
