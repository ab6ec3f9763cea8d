"""Ingest items -> staging rows: pure functions, no I/O.

Validation here is the core's own: the bridge checks topics, sizes and decoding; the core checks
what the data means (identifiers, ranges, which parts a window must carry, raw samples that
decode to the declared shape) before it is stored. Raw windows are decoded once here so that
:func:`finish_cloud` can compute their features in one batched kernel call per flush.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import kernels
import protos
from cloud_core._cloud_features import (
    CLOUD,
    DEVICE,
    RawWindow,
    compute_features,
    conforms,
    decode_raw,
)
from cloud_core._errors import RejectedItem

__all__ = [
    "Staged",
    "check_batch",
    "finish_cloud",
    "stage_batch",
    "stage_dead_letter",
    "stage_presence",
]

MAX_CHANNELS = 64
MAX_SAMPLES = 1 << 20
_INT64_MAX = (1 << 63) - 1
_KNOWN_CODECS = {protos.Codec.CODEC_F32LE, protos.Codec.CODEC_BINHAI}

BatchRow = tuple[str, str, int, int, int, int, int]
WindowRow = tuple[Any, ...]
EvictionRow = tuple[str, str, int, int, str]
DeadLetterRow = tuple[str, str | None, str | None, str, bytes, int, int]
PresenceRow = tuple[str, str, bool, int]
HealthRow = tuple[Any, ...]
AckRow = tuple[str, str, int, str, bool, str, int]
ConformanceRow = tuple[str, str, int, int, int, int, int, str]

_RAW_MODES = (protos.Offload.OFFLOAD_RAW, protos.Offload.OFFLOAD_BOTH)


def _clamp(v: int) -> int:
    return min(int(v), _INT64_MAX)


def _text(v: str, limit: int) -> str:
    return v.replace("\x00", "\\0")[:limit]


def _check_name(value: str, what: str, device_id: str, seq: int) -> None:
    if not value or len(value) > 64 or not value.isprintable():
        raise RejectedItem(f"bad {what} {value[:40]!r}", device_id=device_id, seq=seq)


def check_batch(batch: protos.TelemetryBatch) -> None:
    """Raise :class:`RejectedItem` if ``batch`` is not storable as data."""
    dev, seq = batch.device_id, batch.seq
    try:
        protos.check_id(batch.tenant, "tenant")
        protos.check_id(dev, "device id")
    except protos.TopicError as exc:
        raise RejectedItem(str(exc), device_id=dev, seq=seq) from exc
    if not 1 <= seq <= _INT64_MAX:
        raise RejectedItem(f"seq {seq} out of range", device_id=dev, seq=seq)
    for rng in batch.evicted:
        if not 1 <= rng.first <= rng.last <= _INT64_MAX:
            raise RejectedItem(f"bad evicted range {rng.first}..{rng.last}", device_id=dev, seq=seq)
    for i, w in enumerate(batch.windows):
        where = f"window {i}"
        _check_name(w.sensor, f"sensor name in {where}", dev, seq)
        if not (math.isfinite(w.rate_hz) and w.rate_hz > 0):
            raise RejectedItem(f"{where}: bad rate_hz {w.rate_hz}", device_id=dev, seq=seq)
        if not 1 <= w.channels <= MAX_CHANNELS or not 1 <= w.n_samples <= MAX_SAMPLES:
            raise RejectedItem(
                f"{where}: bad shape {w.channels}x{w.n_samples}", device_id=dev, seq=seq
            )
        wants_features = w.offload in (protos.Offload.OFFLOAD_FEATURES, protos.Offload.OFFLOAD_BOTH)
        wants_raw = w.offload in (protos.Offload.OFFLOAD_RAW, protos.Offload.OFFLOAD_BOTH)
        if not (wants_features or wants_raw):
            raise RejectedItem(f"{where}: offload mode unset", device_id=dev, seq=seq)
        if wants_features and (not w.HasField("features") or not w.features.values):
            raise RejectedItem(f"{where}: features missing", device_id=dev, seq=seq)
        if wants_raw and (not w.HasField("raw") or w.raw.codec not in _KNOWN_CODECS):
            raise RejectedItem(
                f"{where}: raw samples missing or unknown codec", device_id=dev, seq=seq
            )


@dataclass(frozen=True, slots=True)
class _CloudWork:
    """A staged RAW/BOTH window waiting for its cloud features."""

    row: int
    raw: RawWindow
    offload: int


@dataclass
class Staged:
    """Rows for one database transaction, deduplicated within the transaction."""

    batches: list[BatchRow] = field(default_factory=list)
    windows: list[WindowRow] = field(default_factory=list)
    evictions: list[EvictionRow] = field(default_factory=list)
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    presence: list[PresenceRow] = field(default_factory=list)
    health: list[HealthRow] = field(default_factory=list)
    acks: list[AckRow] = field(default_factory=list)
    conformance: list[ConformanceRow] = field(default_factory=list)
    cloud: list[_CloudWork] = field(default_factory=list)


def _decode_windows(batch: protos.TelemetryBatch) -> dict[int, RawWindow]:
    out: dict[int, RawWindow] = {}
    for idx, w in enumerate(batch.windows):
        if w.offload in _RAW_MODES:
            try:
                x = decode_raw(w.raw.codec, w.raw.data, w.channels, w.n_samples)
            except ValueError as exc:
                raise RejectedItem(
                    f"window {idx}: {exc}", device_id=batch.device_id, seq=batch.seq
                ) from exc
            out[idx] = RawWindow(x, w.rate_hz)
    return out


def stage_batch(staged: Staged, batch: protos.TelemetryBatch, payload_bytes: int) -> None:
    """Append the rows of a checked ``batch`` to ``staged``.

    Raises :class:`RejectedItem` (staging nothing) when a raw window does not decode to its
    declared shape.
    """
    key = (batch.tenant, batch.device_id, batch.seq)
    decoded = _decode_windows(batch)
    samples = 0
    for idx, w in enumerate(batch.windows):
        samples += w.channels * w.n_samples
        has_f = w.HasField("features")
        has_r = w.HasField("raw")
        if idx in decoded:
            staged.cloud.append(_CloudWork(len(staged.windows), decoded[idx], int(w.offload)))
        staged.windows.append(
            (
                *key,
                idx,
                w.sensor,
                w.t0_ns,
                w.rate_hz,
                w.channels,
                w.n_samples,
                int(w.offload),
                w.novelty if math.isfinite(w.novelty) else 0.0,
                w.features.algo_version if has_f else None,
                list(w.features.values) if has_f else None,
                int(w.raw.codec) if has_r else None,
                w.raw.data if has_r else None,
                DEVICE if has_f else None,
            )
        )
    staged.batches.append((*key, batch.sent_at_ns, len(batch.windows), samples, payload_bytes))
    for rng in batch.evicted:
        staged.evictions.append((*key[:2], rng.first, rng.last, rng.reason[:200] or "unspecified"))
    if batch.HasField("health"):
        staged.health.append(_health_row(batch))
    for ack in batch.acks:
        if ack.id:
            staged.acks.append(
                (*key, _text(ack.id, 128), ack.ok, _text(ack.reason, 500), ack.device_time_ns)
            )


def _health_row(batch: protos.TelemetryBatch) -> HealthRow:
    h = batch.health
    return (
        batch.tenant,
        batch.device_id,
        batch.seq,
        batch.sent_at_ns,
        h.battery,
        h.outbox_depth,
        _clamp(h.outbox_bytes),
        _clamp(h.evicted_batches),
        h.cpu_us_per_window,
        h.clock_offset_ns,
        _text(h.firmware, 64),
        h.algo_version,
        _clamp(h.samples_dropped),
        _clamp(h.commands_nacked),
        h.clock_synced,
        _clamp(h.raw_cache_bytes),
        _clamp(h.commands_ok),
    )


def finish_cloud(staged: Staged) -> None:
    """Compute the cloud features of every staged RAW/BOTH window (one batched kernel call per
    (n_samples, rate) group), store them on RAW windows (``source`` = cloud) and record the
    device-conformance result of BOTH windows in ``staged.conformance``.
    """
    if not staged.cloud:
        return
    feats = compute_features([c.raw for c in staged.cloud])
    per_batch: dict[tuple[str, str, int, int], list[Any]] = {}
    for work, cloud in zip(staged.cloud, feats, strict=True):
        row = staged.windows[work.row]
        if work.offload == protos.Offload.OFFLOAD_RAW:
            staged.windows[work.row] = (
                *row[:11],
                kernels.ALGO_VERSION,
                cloud.tolist(),
                *row[13:15],
                CLOUD,
            )
            continue
        device_algo = row[11]
        acc = per_batch.setdefault((row[0], row[1], row[2], device_algo), [0, 0, 0, ""])
        if device_algo != kernels.ALGO_VERSION:
            acc[2] += 1
            continue
        acc[0] += 1
        why = conforms(np.asarray(row[12], dtype=np.float32), cloud)
        if why:
            acc[1] += 1
            acc[3] = f"window {row[3]}: {why}"
    for (tenant, device, seq, algo), (checked, bad, skipped, last) in per_batch.items():
        staged.conformance.append((tenant, device, seq, algo, checked, bad, skipped, last))
    staged.cloud.clear()


def stage_dead_letter(staged: Staged, dl: protos.DeadLetter) -> None:
    tenant, device = _lenient_identity(dl.topic)
    staged.dead_letters.append(
        (
            dl.topic.replace("\x00", "\\0")[:512],
            tenant,
            device,
            dl.reason.replace("\x00", "\\0")[:500] or "unspecified",
            dl.payload,
            dl.payload_size or len(dl.payload),
            dl.received_at_ns,
        )
    )


def _lenient_identity(topic: str) -> tuple[str | None, str | None]:
    """Tenant and device of a possibly malformed topic, each where it is a valid id."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != protos.PREFIX:
        return None, None
    out: list[str | None] = []
    for value, what in ((parts[2], "tenant"), (parts[3], "device id")):
        try:
            out.append(protos.check_id(value, what))
        except protos.TopicError:
            out.append(None)
    return out[0], out[1]


def stage_presence(staged: Staged, p: protos.Presence) -> None:
    protos.check_id(p.tenant, "tenant")
    protos.check_id(p.device_id, "device id")
    staged.presence.append((p.tenant, p.device_id, p.online, p.at_ns))
