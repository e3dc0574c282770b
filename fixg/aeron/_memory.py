"""Memoryviews over memory owned by libaeron (term buffers, claimed ranges), without copies.

One ``memoryview`` spans the whole address space (a ctypes ``c_char`` array of ``sys.maxsize``
bytes at address 0: nothing is mapped or touched by creating it); slicing it at an address gives
a view of that memory for the price of a slice, where ``PyMemoryView_FromMemory`` or
``from_address`` cost several times more per fragment. Such a view is exactly as safe as the
memory it points at: fixg hands these views to callbacks only while libaeron guarantees the
memory (during a poll or a claim), and releases them afterwards, so that a view kept by mistake
raises ``ValueError`` instead of reading memory that may have been unmapped.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Final

__all__ = ["view", "writable_view", "address_of"]

_SPACE: Final = memoryview((ctypes.c_char * sys.maxsize).from_address(0)).cast("B")
_READONLY: Final = _SPACE.toreadonly()


def view(address: int, length: int) -> memoryview:
    """A read-only view of ``length`` bytes at ``address``."""
    return _READONLY[address : address + length]


def writable_view(address: int, length: int) -> memoryview:
    """A writable view of ``length`` bytes at ``address``."""
    return _SPACE[address : address + length]


class _PyBuffer(ctypes.Structure):
    # Py_buffer (stable layout in CPython 3.11-3.13): only buf and len are read here.
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_PyObject_GetBuffer = ctypes.pythonapi.PyObject_GetBuffer
_PyObject_GetBuffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_PyObject_GetBuffer.restype = ctypes.c_int
_PyBuffer_Release = ctypes.pythonapi.PyBuffer_Release
_PyBuffer_Release.argtypes = [ctypes.POINTER(_PyBuffer)]
_PyBuffer_Release.restype = None
_PyBUF_SIMPLE: Final = 0


class address_of:  # noqa: N801 - used like a function, as a context manager
    """``with address_of(obj) as (address, length):`` for any C-contiguous buffer, no copy.

    The buffer is held (a bytearray cannot be resized, a memoryview not released) until the
    block ends.
    """

    __slots__ = ("_obj", "_buffer", "_held")

    def __init__(self, obj: object) -> None:
        self._obj = obj
        self._buffer = _PyBuffer()
        self._held = False

    def __enter__(self) -> tuple[int, int]:
        if _PyObject_GetBuffer(self._obj, ctypes.byref(self._buffer), _PyBUF_SIMPLE) != 0:
            raise TypeError(f"{type(self._obj).__name__} does not export a contiguous buffer")
        self._held = True
        return int(self._buffer.buf or 0), int(self._buffer.len)

    def __exit__(self, *exc: object) -> None:
        if self._held:
            self._held = False
            _PyBuffer_Release(ctypes.byref(self._buffer))
