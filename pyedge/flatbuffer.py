"""A bounds-checked reader of flatbuffer tables, by field slot, for the fields pyedge reads.

The `flatbuffers` package's generated accessors cost a few microseconds per field (each goes
through several Python layers), which made reading a small model take milliseconds, ten times
LiteRT's whole load. This reads the same wire format (flatbuffers.dev, "Internals") with
`struct.unpack_from` at offsets that are checked against the file first: every read that would
leave the file raises ValueError, so a forged file cannot make it read elsewhere, and no vector
it returns is longer than the file (tflite_reader.py bounds how often one is read). Field slots
are the fields' order in the schema (TFLite's schema.fbs).
"""

from __future__ import annotations

import struct

import numpy as np

_U8, _I8, _U16 = struct.Struct("<B"), struct.Struct("<b"), struct.Struct("<H")
_I32, _U32 = struct.Struct("<i"), struct.Struct("<I")
_SCALARS = {"u8": _U8, "i8": _I8, "i32": _I32, "u32": _U32, "bool": _U8,
            "u64": struct.Struct("<Q"), "f32": struct.Struct("<f")}


def _check(data: bytes, position: int, size: int, what: str) -> None:
    if position < 0 or position + size > len(data):
        raise ValueError(f"{what} at byte {position} ({size} bytes) lies outside the "
                         f"{len(data)}-byte file")


class Table:
    """The table at byte `position` of `data`."""

    __slots__ = ("data", "position", "_vtable", "_vtable_size")

    def __init__(self, data: bytes, position: int) -> None:
        _check(data, position, 4, "a table")
        vtable = position - _I32.unpack_from(data, position)[0]
        _check(data, vtable, 4, "a table's field list")
        size = _U16.unpack_from(data, vtable)[0]
        _check(data, vtable, size, "a table's field list")
        self.data, self.position, self._vtable, self._vtable_size = data, position, vtable, size

    @classmethod
    def root(cls, data: bytes) -> Table:
        _check(data, 0, 4, "the root offset")
        return cls(data, _U32.unpack_from(data, 0)[0])

    def _field(self, slot: int) -> int:
        """The field's byte position, 0 when it is absent (then it has its default)."""
        entry = 4 + 2 * slot
        if entry + 2 > self._vtable_size:
            return 0
        offset = _U16.unpack_from(self.data, self._vtable + entry)[0]
        return self.position + offset if offset else 0

    def has(self, slot: int) -> bool:
        return self._field(slot) != 0

    def scalar(self, slot: int, kind: str, default: int | float = 0) -> int | float:
        position = self._field(slot)
        if not position:
            return default
        reader = _SCALARS[kind]
        _check(self.data, position, reader.size, "a field")
        return reader.unpack_from(self.data, position)[0]

    def _target(self, slot: int) -> int:
        """Where the table, vector or string a field points at starts, 0 when absent."""
        position = self._field(slot)
        if not position:
            return 0
        _check(self.data, position, 4, "a field")
        return position + _U32.unpack_from(self.data, position)[0]

    def table(self, slot: int) -> Table | None:
        target = self._target(slot)
        return Table(self.data, target) if target else None

    def _vector(self, slot: int, item_size: int) -> tuple[int, int]:
        """(first item's position, count); (0, 0) when absent."""
        target = self._target(slot)
        if not target:
            return 0, 0
        _check(self.data, target, 4, "a vector's length")
        count = _U32.unpack_from(self.data, target)[0]
        _check(self.data, target + 4, count * item_size, f"a vector of {count} items")
        return target + 4, count

    def length(self, slot: int) -> int:
        return self._vector(slot, 1)[1]

    def tables(self, slot: int) -> list[Table]:
        start, count = self._vector(slot, 4)
        return [Table(self.data, start + 4 * i + _U32.unpack_from(self.data, start + 4 * i)[0])
                for i in range(count)]

    def ints(self, slot: int) -> tuple[int, ...]:
        """A vector of int32 (shapes, tensor indices), () when absent."""
        start, count = self._vector(slot, 4)
        return struct.unpack_from(f"<{count}i", self.data, start) if count else ()

    def numbers(self, slot: int, dtype: str) -> np.ndarray:
        """A vector of numbers ('<i4', '<f4', '<i8', 'u1'), a copy (empty when absent)."""
        dtype_ = np.dtype(dtype)
        start, count = self._vector(slot, dtype_.itemsize)
        return np.frombuffer(self.data, dtype_, count, start).copy() if count else np.zeros(0, dtype_)

    def bytes(self, slot: int) -> bytes:
        """A string or a vector of bytes (b"" when absent)."""
        start, count = self._vector(slot, 1)
        return bytes(self.data[start:start + count])
