"""TensorFlow, imported only when training needs it, and kept quiet.

`import pyedge` on a device never gets here: only pyedge.train's functions that train,
convert or load a Keras model call `tensorflow()`. TensorFlow's C++ side writes start-up and
converter chatter straight to file descriptors 1 and 2; `quiet_native_output` sends it to a
temporary file and shows it only when the wrapped call fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

INSTALL_HINT = 'pip install "pyedge[train]"'


class MissingTrainingDependency(ImportError):
    """TensorFlow, scikit-learn or matplotlib is not installed."""


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        failed = False
        try:
            with warnings.catch_warnings():
                # The converter warns about float inputs it was told to keep float.
                warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
                yield
        except BaseException:
            failed = True
            raise
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            if failed:
                log.seek(0)
                sys.stderr.write(log.read().decode("utf-8", "replace"))


def tensorflow():
    """The tensorflow module (importing it the first time takes a few seconds)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with quiet_native_output():
            import tensorflow as tf
    except ImportError as error:
        raise MissingTrainingDependency(f"training needs TensorFlow ({error}): {INSTALL_HINT}") from None
    return tf


def keras():
    tensorflow()
    import keras as keras_module

    return keras_module


def require(module: str) -> None:
    """Fails with the install hint if a training dependency (sklearn, matplotlib) is missing."""
    try:
        __import__(module)
    except ImportError as error:
        raise MissingTrainingDependency(f"this needs {module} ({error}): {INSTALL_HINT}") from None
