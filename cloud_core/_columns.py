"""Staging rows of the ingest path: one NamedTuple per staging table, the single column spec.

Each field is annotated with its PostgreSQL type (``Annotated[int, "int8"]``); the staging
table's DDL, the binary COPY types and the column lists of the INSERT statements are generated
from the NamedTuple, so adding a column is one edit here (and mypy checks every place that
builds the row). Pure: no I/O.
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple, get_type_hints

__all__ = [
    "AckRow",
    "BatchRow",
    "ConformanceRow",
    "HealthRow",
    "SummaryRow",
    "WindowRow",
    "column_names",
    "copy_types",
    "insert_select",
    "staging_ddl",
]

Text = Annotated[str, "text"]
Bool = Annotated[bool, "bool"]
Int2 = Annotated[int, "int2"]
Int4 = Annotated[int, "int4"]
Int8 = Annotated[int, "int8"]
Float4 = Annotated[float, "float4"]
Float8 = Annotated[float, "float8"]
#: Packed little-endian float32 values (see :mod:`cloud_core._copy`).
Float4Array = Annotated[bytes, "float4[]"]
OptInt2 = Annotated[int | None, "int2"]
OptInt4 = Annotated[int | None, "int4"]
OptFloat4Array = Annotated[bytes | None, "float4[]"]
OptBytea = Annotated[bytes | None, "bytea"]


class BatchRow(NamedTuple):
    tenant: Text
    device_id: Text
    seq: Int8
    sent_ns: Int8
    n_windows: Int4
    n_samples: Int8
    payload_bytes: Int4
    #: windows the batch's summaries stand for
    n_summarized: Int8


class WindowRow(NamedTuple):
    tenant: Text
    device_id: Text
    seq: Int8
    idx: Int4
    sensor: Text
    t0_ns: Int8
    rate_hz: Float8
    channels: Int4
    n_samples: Int4
    offload: Int2
    novelty: Float4
    algo_version: OptInt4
    features: OptFloat4Array
    raw_codec: OptInt2
    raw: OptBytea
    source: OptInt2
    flags: Int8


class SummaryRow(NamedTuple):
    tenant: Text
    device_id: Text
    seq: Int8
    idx: Int4
    sensor: Text
    t0_ns: Int8
    t1_ns: Int8
    windows: Int8
    sent: Int8
    channels: Int4
    rate_hz: Float8
    n_samples: Int4
    novelty_max: Float4
    algo_version: Int4
    mean: Float4Array
    lo: Float4Array
    hi: Float4Array
    #: windows the summary stands for that were novel (the policy engine's flag rate)
    novel: Int8


class HealthRow(NamedTuple):
    tenant: Text
    device_id: Text
    seq: Int8
    sent_ns: Int8
    battery: Float4
    outbox_depth: Int8
    outbox_bytes: Int8
    evicted_batches: Int8
    cpu_us_per_window: Float4
    clock_offset_ns: Int8
    firmware: Text
    algo_version: Int8
    samples_dropped: Int8
    commands_nacked: Int8
    clock_synced: Bool
    raw_cache_bytes: Int8
    commands_ok: Int8
    policy_version: Int8
    uplink: Text


class AckRow(NamedTuple):
    tenant: Text
    device_id: Text
    seq: Int8
    command_id: Text
    ok: Bool
    reason: Text
    device_time_ns: Int8


class ConformanceRow(NamedTuple):
    tenant: Text
    device_id: Text
    seq: Int8
    algo_version: Int4
    checked: Int8
    mismatches: Int8
    skipped: Int8
    last_mismatch: Text


def column_names(row: type[Any]) -> list[str]:
    return list(row._fields)


def copy_types(row: type[Any]) -> list[str]:
    """The PostgreSQL type of every field of ``row`` (a NamedTuple of this module), in order."""
    hints = get_type_hints(row, include_extras=True)
    return [hints[name].__metadata__[0] for name in row._fields]


def staging_ddl(table: str, row: type[Any]) -> str:
    """``CREATE TEMP TABLE`` of the staging table ``table`` holding ``row``s."""
    cols = ", ".join(f"{n} {t}" for n, t in zip(row._fields, copy_types(row), strict=True))
    return f"CREATE TEMP TABLE IF NOT EXISTS {table} ({cols}) ON COMMIT DELETE ROWS;"


def insert_select(
    row: type[Any], alias: str, rename: dict[str, tuple[str, str]]
) -> tuple[str, str]:
    """(target columns, select expressions) that copy ``row``'s fields from staging alias
    ``alias`` into the table of the same column names; ``rename`` maps a field to (target
    column, expression) where the two differ (e.g. ns to timestamptz)."""
    targets, exprs = [], []
    for name in row._fields:
        target, expr = rename.get(name, (name, f"{alias}.{name}"))
        targets.append(target)
        exprs.append(expr)
    return ", ".join(targets), ", ".join(exprs)
