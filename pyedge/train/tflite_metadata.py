"""Writes pyedge's metadata entry (pyedge/metadata.py defines it) into a .tflite flatbuffer.

TensorFlow's flatbuffer_utils reads the model into the schema's object API; a new buffer with
the JSON and a `metadata` entry naming it are appended, and the model is written back. The file
stays an ordinary TFLite model: interpreters ignore metadata they do not know.
"""

from __future__ import annotations

import numpy as np

from ..metadata import METADATA_NAME, PyedgeMetadata
from .tensorflow_import import tensorflow


def with_metadata(content: bytes, metadata: PyedgeMetadata) -> bytes:
    """The model `content` with its "pyedge" metadata entry set to `metadata`."""
    return with_metadata_entry(content, METADATA_NAME, metadata.to_json())


def with_metadata_entry(content: bytes, name: str, payload: bytes) -> bytes:
    """The model `content` with a metadata entry `name` holding `payload` (replacing an entry
    of that name; its old buffer stays, unreferenced)."""
    tensorflow()
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    entries = [m for m in (model.metadata or []) if _name(m) != name]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)  # packed as one vector
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*entries, entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _name(entry) -> str:
    name = entry.name
    return name.decode() if isinstance(name, bytes) else str(name)
