"""PostgreSQL binary COPY encoding of staged rows: pure functions, no I/O.

``encode_copy(types, rows)`` returns the whole ``COPY .. FROM STDIN (FORMAT BINARY)`` payload
(signature, header, tuples, trailer) for ``copy.write()``, byte-identical to what psycopg's
``write_row`` with ``set_types(types)`` sends. It exists because psycopg dumps ``float4[]`` values
element by element in Python; here the array cells of a whole column are encoded in one NumPy
pass and every other field with one ``struct`` call.

Binary COPY, per tuple: int16 field count, then per field int32 byte length (-1 = NULL) and the
value in network byte order. A ``float4[]`` value is: int32 ndim (1), int32 has-nulls flag (0),
int32 element oid (700), int32 length and int32 lower bound (1) of the dimension, then per
element int32 length (4) and the big-endian float32.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np

__all__ = ["SUPPORTED_TYPES", "EncodeError", "encode_copy", "float4_arrays"]

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_FLOAT4_OID = 700
_ARRAY_HEADER = struct.Struct(">iiiiii")  # field length, ndim, flags, elem oid, dim, lbound
_EMPTY_ARRAY = struct.pack(">iiii", 12, 0, 0, _FLOAT4_OID)
_CELL = np.dtype([("len", ">i4"), ("value", ">f4")])
_TRUE = struct.pack(">ib", 1, 1)
_FALSE = struct.pack(">ib", 1, 0)
_LEN = struct.Struct(">i").pack


class EncodeError(ValueError):
    """A value that the column's type cannot hold (out of range, not encodable)."""


def _fixed(fmt: str, size: int) -> Callable[[Any], bytes]:
    return partial(struct.Struct(">i" + fmt).pack, size)


def _text(v: str) -> bytes:
    b = v.encode()
    return _LEN(len(b)) + b


def _bytea(v: bytes) -> bytes:
    return _LEN(len(v)) + v


def _bool(v: bool) -> bytes:
    return _TRUE if v else _FALSE


_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "int2": _fixed("h", 2),
    "int4": _fixed("i", 4),
    "int8": _fixed("q", 8),
    "float4": _fixed("f", 4),
    "float8": _fixed("d", 8),
    "bool": _bool,
    "text": _text,
    "bytea": _bytea,
}
SUPPORTED_TYPES = frozenset([*_ENCODERS, "float4[]"])


def float4_arrays(values: Sequence[np.ndarray]) -> list[bytes]:
    """Binary ``float4[]`` fields (length prefix included) of 1-D float32 arrays, in one pass.

    An empty array is encoded as PostgreSQL's empty (zero-dimensional) array.
    """
    if not values:
        return []
    flat = np.concatenate([np.asarray(v, dtype=np.float32).reshape(-1) for v in values])
    cells = np.empty(flat.shape[0], dtype=_CELL)
    cells["len"] = 4
    cells["value"] = flat
    body = cells.tobytes()
    out: list[bytes] = []
    at = 0
    for v in values:
        n = len(v)
        if n == 0:
            out.append(_EMPTY_ARRAY)
            continue
        end = at + 8 * n
        out.append(_ARRAY_HEADER.pack(20 + 8 * n, 1, 0, _FLOAT4_OID, n, 1) + body[at:end])
        at = end
    return out


def encode_copy(types: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """The binary COPY payload of ``rows``, whose fields have the PostgreSQL ``types``.

    ``float4[]`` values are 1-D float32 arrays (or sequences of floats); ``None`` is NULL in
    every column.

    Raises
    ------
    EncodeError
        A value out of its type's range, or text that is not encodable as UTF-8.
    """
    encoders = []
    for i, t in enumerate(types):
        if t == "float4[]":
            # The column's cells, encoded together; taken in row order for the non-NULL values.
            cells = iter(float4_arrays([row[i] for row in rows if row[i] is not None]))
            encoders.append(partial(_next_cell, cells))
        else:
            encoders.append(_ENCODERS[t])
    count = struct.pack(">h", len(types))
    parts = [_SIGNATURE]
    try:
        for row in rows:
            parts.append(count)
            parts.extend(
                [_NULL if v is None else enc(v) for enc, v in zip(encoders, row, strict=True)]
            )
    except (struct.error, OverflowError, UnicodeEncodeError) as exc:
        raise EncodeError(f"cannot encode row for COPY: {exc}") from exc
    parts.append(_TRAILER)
    return b"".join(parts)


def _next_cell(cells: Iterator[bytes], _value: object) -> bytes:
    return next(cells)
