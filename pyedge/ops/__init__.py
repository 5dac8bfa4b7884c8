"""The ops the native plan runs: one module per op, and this registry of them.

An op's module holds everything about it: OPCODES (the TFLite operators it runs), build()
(TFLite's Prepare: checks, multipliers, tables; None with the reason when the op cannot run
natively, InvalidModel where TFLite refuses the model) and its layer class, whose methods are
the op everywhere else: reference() (the NumPy backend, the tests' oracle), native() (the
fields cpp/python/core_module.cc reads for the layer's `kind`), describe() (print(model))
and float_step() (bench's float32 NumPy peer). To add an op: write its module, list it in
MODULES, and add its C++ layer (cpp/src/plan.cc, and its kind in cpp/python/core_module.cc).
docs/native-ops.md says what each op accepts.
"""

from __future__ import annotations

from . import (
    conv_2d,
    depthwise_conv_2d,
    fully_connected,
    lookup_table,
    mean,
    pad,
    pool_2d,
    requantize,
    softmax,
)

MODULES = (fully_connected, conv_2d, depthwise_conv_2d, pool_2d, mean, pad, softmax, lookup_table,
           requantize)
OPS = {opcode: module for module in MODULES for opcode in module.OPCODES}
