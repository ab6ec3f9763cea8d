"""The hand-written binary COPY encoder against psycopg's own dumping, through the real database.

The same rows go into two tables: once by psycopg (``write_row`` with ``set_types``), once as
the payload of :func:`cloud_core._copy.encode_copy`; both tables must then read back
byte-identically (``COPY .. TO STDOUT (FORMAT BINARY)``).
"""

from __future__ import annotations

import math
import secrets
import struct
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from cloud_core._columns import WindowRow, copy_types
from cloud_core._copy import SUPPORTED_TYPES, EncodeError, encode_copy, float4_arrays
from cloud_core._store import _STAGING

pytestmark = pytest.mark.db

_EDGE: dict[str, list[Any]] = {
    "int2": [0, 1, -1, 32767, -32768],
    "int4": [0, 7, -(2**31), 2**31 - 1, 123_456],
    "int8": [0, 1, -(2**63), 2**63 - 1, 1_700_000_000_123_456_789],
    "float4": [0.0, -0.0, 1.5, math.nan, math.inf, -math.inf, 1e-45, 3.4e38, 0.1],
    "float8": [0.0, -0.0, 50.0, math.nan, math.inf, -math.inf, 5e-324, 1.7e308, 0.1],
    "bool": [True, False],
    "text": ["", "accel", "bench-00001", "ünï©ødé ✓", "x" * 600, "a\\0b"],
    "bytea": [b"", b"\x00\x01\xff", bytes(range(256)) * 3],
    "float4[]": [
        [1.0],
        [],
        [math.nan, math.inf, -math.inf, -0.0, 1e-45],
        list(np.random.default_rng(3).standard_normal(93)),
        [0.1, 2.5, -3.25],
    ],
}


def _rows(types: list[str], n: int, seed: int, nulls: float = 0.1) -> list[tuple[Any, ...]]:
    """``n`` rows cycling through each type's edge values, with some NULLs in every column
    (a share ``nulls`` of the values)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n):
        row = []
        for c, t in enumerate(types):
            values = _EDGE[t]
            row.append(None if rng.random() < nulls else values[(r + c) % len(values)])
        rows.append(tuple(row))
    return rows


def _ours(row: tuple[Any, ...], types: list[str]) -> tuple[Any, ...]:
    """The row as the core stages it: float4[] values as packed little-endian float32."""
    return tuple(
        np.asarray(v, dtype="<f4").tobytes() if t == "float4[]" and v is not None else v
        for v, t in zip(row, types, strict=True)
    )


def _roundtrip(conn: psycopg.Connection, types: list[str], rows: list[tuple[Any, ...]]) -> None:
    cols = [sql.SQL("c{} {}").format(sql.Literal(i), sql.SQL(t)) for i, t in enumerate(types)]
    names = {k: f"copy_{k}_{secrets.token_hex(3)}" for k in ("psycopg", "ours")}
    for name in names.values():
        conn.execute(
            sql.SQL("CREATE TEMP TABLE {} (id serial, {})").format(
                sql.Identifier(name), sql.SQL(", ").join(cols)
            )
        )
    fields = sql.SQL(", ").join(sql.Identifier(f"c{i}") for i in range(len(types)))
    target = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)")
    with conn.cursor() as cur:
        with cur.copy(target.format(sql.Identifier(names["psycopg"]), fields)) as cp:
            cp.set_types(types)
            for row in rows:
                cp.write_row(row)
        with cur.copy(target.format(sql.Identifier(names["ours"]), fields)) as cp:
            cp.write(encode_copy(types, [_ours(row, types) for row in rows]))
    out = {}
    for k, name in names.items():
        query = sql.SQL("COPY (SELECT {} FROM {} ORDER BY id) TO STDOUT (FORMAT BINARY)")
        with conn.cursor() as cur, cur.copy(query.format(fields, sql.Identifier(name))) as cp:
            out[k] = b"".join(bytes(block) for block in cp)
    count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(names["ours"])))
    assert count.fetchone() == (len(rows),)
    assert out["ours"] == out["psycopg"]


@pytest.mark.parametrize("t", sorted(SUPPORTED_TYPES))
def test_each_type_matches_psycopg(pg_dsn: str, t: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        _roundtrip(conn, [t, "int4", t], _rows([t, "int4", t], 40, seed=1))


@pytest.mark.parametrize(
    "types",
    [copy_types(row) for _, row in _STAGING],
    ids=[table.removeprefix("stage_") for table, _ in _STAGING],
)
def test_staging_tables_match_psycopg(pg_dsn: str, types: list[str]) -> None:
    with psycopg.connect(pg_dsn) as conn:
        _roundtrip(conn, types, _rows(types, 300, seed=len(types)))


@pytest.mark.parametrize(
    "types",
    [copy_types(row) for _, row in _STAGING] + [["int8", "float4", "int2", "float8", "int4"]],
    ids=[table.removeprefix("stage_") for table, _ in _STAGING] + ["fixed"],
)
def test_columns_without_nulls_match_psycopg(pg_dsn: str, types: list[str]) -> None:
    """Runs of fixed-width columns without a NULL are packed a row at a time."""
    with psycopg.connect(pg_dsn) as conn:
        _roundtrip(conn, types, _rows(types, 300, seed=len(types), nulls=0.0))


def test_all_null_and_no_rows(pg_dsn: str) -> None:
    types = copy_types(WindowRow)
    with psycopg.connect(pg_dsn) as conn:
        _roundtrip(conn, types, [tuple([None] * len(types))])
        _roundtrip(conn, types, [])


def test_float4_array_cells_are_postgres_format() -> None:
    cell = float4_arrays([np.array([1.0, -2.0], dtype="<f4").tobytes()])[0]
    want = struct.pack(">iiiiii", 36, 1, 0, 700, 2, 1) + struct.pack(">ifif", 4, 1.0, 4, -2.0)
    assert cell == want


def test_values_out_of_range_are_refused() -> None:
    with pytest.raises(EncodeError):
        encode_copy(["int4"], [(2**31,)])
    with pytest.raises(EncodeError):
        encode_copy(["int8"], [(2**63,)])
    for fixed in (["int4", "int8"], ["int8", "int4"], ["int4", "float4"]):  # a packed run
        with pytest.raises(EncodeError):
            encode_copy(fixed, [(1, 1), (2**40, 2**63) if fixed[0] == "int4" else (1, 2**40)])
    with pytest.raises(EncodeError):
        encode_copy(["int8", "float4"], [(1, 1e39)])
    with pytest.raises(EncodeError):
        encode_copy(["text"], [("\ud800",)])
    with pytest.raises(EncodeError):
        encode_copy(["float4[]"], [(b"\x00\x00\x80",)])
