"""Ingest items -> staging rows: pure functions, no I/O.

Validation here is the core's own: the bridge checks topics, sizes and decoding; the core checks
what the data means (identifiers, ranges, which parts a window must carry, raw samples that
decode to the declared shape) before it is stored, against :class:`IngestLimits`. Every value is
checked against its column's type here, so the database never refuses a flush for its data.
Sizes are checked before anything is allocated: the declared shapes first, then the codec's
header against the declared shape. Raw windows are decoded once here so that
:func:`finish_cloud` can compute their features in one batched kernel call per flush.

COMPACT windows must carry flags and a feature subset (positions below ``len(FEATURE_NAMES)``,
``channels x len(index)`` float16 values) and no samples; a Summary must have a sane sensor,
shape, count (at least one window, at most one per sample period of its span) and times, and
``channels x len(index)`` float16 values in each of mean, min and max. Both are stored with their
subset expanded to the full feature layout (:mod:`cloud_core._compact`). Neither says which
``algo_version`` computed it: the batch's health report tells, else a full feature set of the
same batch, else the core's own ``kernels.ALGO_VERSION`` is assumed.

Every window also becomes a :class:`JudgeItem` for the alerting (the Judge sees the cloud's
features of decoded samples where the window brought samples).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import kernels
import protos
from cloud_core._alerting import JudgeItem
from cloud_core._cloud_features import (
    ATOL,
    CLOUD,
    DEVICE,
    RTOL,
    RawWindow,
    compute_features,
    conforms,
    decode_raw,
)
from cloud_core._columns import (
    AckRow,
    BatchRow,
    ConformanceRow,
    HealthRow,
    SummaryRow,
    WindowRow,
)
from cloud_core._compact import batch_algo, subset, summary_row
from cloud_core._errors import RejectedItem
from cloud_core._limits import INT32_MAX, INT64_MAX, MAX_SEQ, IngestLimits, check_stream

BatchKey = tuple[str, str, int]

__all__ = [
    "Staged",
    "check_batch",
    "declared_decoded_bytes",
    "finish_cloud",
    "stage_batch",
    "stage_dead_letter",
    "stage_presence",
    "warm_up",
]

_KNOWN_CODECS = frozenset(int(c) for c in protos.Codec.values() if c)

EvictionRow = tuple[str, str, int, int, str]
DeadLetterRow = tuple[str, str | None, str | None, str, bytes, int, int]
PresenceRow = tuple[str, str, bool, int]

# Plain ints: attribute access on the protobuf enum wrappers costs about a microsecond.
_FEATURES = int(protos.Offload.OFFLOAD_FEATURES)
_RAW = int(protos.Offload.OFFLOAD_RAW)
_BOTH = int(protos.Offload.OFFLOAD_BOTH)
_COMPACT = int(protos.Offload.OFFLOAD_COMPACT)
_OFFLOADS = frozenset((_FEATURES, _RAW, _BOTH, _COMPACT))
_SAMPLES = frozenset((_RAW, _BOTH))


def _clamp(v: int) -> int:
    return min(int(v), INT64_MAX)


def _text(v: str, limit: int) -> str:
    return v.replace("\x00", "\\0")[:limit]


def check_batch(batch: protos.TelemetryBatch, limits: IngestLimits) -> None:
    """Raise :class:`RejectedItem` if the identity, seq, evicted ranges or declared sizes of
    ``batch`` are not storable; its windows are checked by :func:`stage_batch`."""
    dev, seq = batch.device_id, batch.seq
    try:
        protos.check_id(batch.tenant, "tenant")
        protos.check_id(dev, "device id")
    except protos.TopicError as exc:
        raise RejectedItem(str(exc), device_id=dev, seq=seq) from exc
    if not 1 <= seq <= MAX_SEQ:
        raise RejectedItem(f"seq {seq} out of range 1..{MAX_SEQ}", device_id=dev, seq=seq)
    for rng in batch.evicted:
        if not 1 <= rng.first <= rng.last < seq:
            raise RejectedItem(
                f"bad evicted range {rng.first}..{rng.last} (must lie below seq {seq})",
                device_id=dev,
                seq=seq,
            )
    for what, n in (("windows", len(batch.windows)), ("summaries", len(batch.summaries))):
        if n > limits.max_batch_windows:
            raise RejectedItem(
                f"{n} {what}, limit {limits.max_batch_windows}", device_id=dev, seq=seq
            )


def declared_decoded_bytes(req: protos.IngestRequest) -> int:
    """float32 bytes the raw windows of ``req`` (a batch) say they decode to; 0 otherwise.

    Read from the declared shapes only (nothing is decoded); the writer budgets flushes by it.
    """
    if req.WhichOneof("item") != "batch":
        return 0
    return sum(4 * w.channels * w.n_samples for w in req.batch.windows if w.HasField("raw"))


def _window_row(
    key: BatchKey, idx: int, w: protos.Window, limits: IngestLimits, latest_ns: int, algo: int
) -> WindowRow:
    """The staging row of window ``idx``; raises :class:`RejectedItem` if it is not storable.
    ``latest_ns`` bounds its t0; ``algo`` is the algo_version assumed for a COMPACT window."""
    dev, seq = key[1], key[2]
    what = f"window {idx}"
    sensor, rate, channels, n_samples, offload = (
        w.sensor,
        w.rate_hz,
        w.channels,
        w.n_samples,
        w.offload,
    )
    check_stream(key, what, sensor, rate, channels, n_samples, w.t0_ns, limits, latest_ns)
    if offload not in _OFFLOADS:
        raise RejectedItem(f"{what}: offload mode unset", device_id=dev, seq=seq)
    algo_version = features = codec = raw = source = None
    if offload == _COMPACT:
        if not w.flags or not w.HasField("compact"):
            raise RejectedItem(
                f"{what}: COMPACT without flags or compact features", device_id=dev, seq=seq
            )
        if w.HasField("raw"):
            raise RejectedItem(f"{what}: COMPACT window with raw samples", device_id=dev, seq=seq)
        (features,) = subset(key, what, w.compact.index, {"compact": w.compact.half}, channels)
        algo_version, source = algo, DEVICE
    elif w.HasField("features"):
        f = w.features
        algo_version, features, source = f.algo_version, _float_values(f), DEVICE
        if algo_version > INT32_MAX:
            raise RejectedItem(
                f"{what}: algo_version {algo_version} too large", device_id=dev, seq=seq
            )
    if offload != _RAW and (features is None or not len(features)):
        raise RejectedItem(f"{what}: features missing", device_id=dev, seq=seq)
    if w.HasField("raw"):
        codec, raw = w.raw.codec, w.raw.data
        if codec not in _KNOWN_CODECS:
            raise RejectedItem(f"{what}: unknown raw codec {codec}", device_id=dev, seq=seq)
    elif offload in _SAMPLES:
        raise RejectedItem(f"{what}: raw samples missing", device_id=dev, seq=seq)
    novelty = w.novelty
    return WindowRow(
        *key,
        idx,
        sensor,
        w.t0_ns,
        rate,
        channels,
        n_samples,
        offload,
        novelty if math.isfinite(novelty) else 0.0,
        algo_version,
        features,
        codec,
        raw,
        source,
        w.flags,
    )


@functools.lru_cache(maxsize=64)  # a few (algo_version, count) pairs; devices choose them
def _features_head(algo_version: int, n: int) -> bytes:
    """The bytes of a serialized ``Features`` before its ``n`` packed values (proto3 leaves a
    zero ``algo_version`` out)."""
    algo = b"\x08" + protos.varint(algo_version) if algo_version else b""
    return algo + b"\x12" + protos.varint(4 * n)


def _float_values(f: protos.Features) -> bytes:
    """``f.values`` as packed little-endian float32 bytes.

    Iterating the repeated field costs about 30 ns a value; serializing the message writes them
    as one packed little-endian float32 run after its expected head, so they are sliced from
    there; from ``f.values`` only when the message is not just that (no values, or fields this
    core does not know).
    """
    n = len(f.values)
    if n:
        data = f.SerializeToString()
        head = _features_head(f.algo_version, n)
        if len(data) == len(head) + 4 * n and data.startswith(head):
            return data[len(head) :]
    return np.array(f.values, dtype="<f4").tobytes()


@dataclass(frozen=True, slots=True)
class _CloudWork:
    """A staged RAW/BOTH window waiting for its cloud features."""

    row: int
    raw: RawWindow
    offload: int
    item: JudgeItem


@dataclass
class Staged:
    """Rows for one database transaction, deduplicated within the transaction.

    Rows are the staging tables' NamedTuples (:mod:`cloud_core._columns`); feature arrays are
    packed little-endian float32 ``bytes``, which the COPY encoder (:mod:`cloud_core._copy`)
    turns into ``float4[]`` in bulk. ``judge`` holds every staged window for the alerting.
    """

    batches: list[BatchRow] = field(default_factory=list)
    windows: list[WindowRow] = field(default_factory=list)
    summaries: list[SummaryRow] = field(default_factory=list)
    evictions: list[EvictionRow] = field(default_factory=list)
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    presence: list[PresenceRow] = field(default_factory=list)
    health: list[HealthRow] = field(default_factory=list)
    acks: list[AckRow] = field(default_factory=list)
    conformance: list[ConformanceRow] = field(default_factory=list)
    cloud: list[_CloudWork] = field(default_factory=list)
    judge: list[JudgeItem] = field(default_factory=list)


def stage_batch(
    staged: Staged,
    batch: protos.TelemetryBatch,
    payload_bytes: int,
    limits: IngestLimits,
    now_ns: int,
) -> None:
    """Check the windows and summaries of ``batch`` (which passed :func:`check_batch`) and
    append its rows to ``staged``.

    Raises :class:`RejectedItem`, staging nothing, when a window or summary is not storable: a
    bad sensor name, rate, shape or time, a value beyond its column's type, parts its offload
    mode needs missing, a malformed feature subset, raw windows declaring more than
    ``limits.max_batch_decoded_bytes`` together, or raw samples that do not decode to the
    declared shape (checked before decoding allocates).
    """
    key = (batch.tenant, batch.device_id, batch.seq)
    windows = list(batch.windows)  # one wrapper per window, for both passes
    algo = batch_algo(batch)
    latest = now_ns + limits.max_future_ns
    rows = [_window_row(key, idx, w, limits, latest, algo) for idx, w in enumerate(windows)]
    summaries = [
        summary_row(key, idx, s, limits, latest, algo) for idx, s in enumerate(batch.summaries)
    ]
    decoded = sum(4 * r.channels * r.n_samples for r in rows if r.raw is not None)
    if decoded > limits.max_batch_decoded_bytes:
        raise RejectedItem(
            f"raw windows decode to {decoded} bytes, limit {limits.max_batch_decoded_bytes}",
            device_id=key[1],
            seq=key[2],
        )
    cloud = []
    items = []
    samples = 0
    for row, w in zip(rows, windows, strict=True):
        n, rate = row.n_samples, row.rate_hz
        samples += row.channels * n
        # the window's fields as the row read them; novelty as received (the row's is sanitised)
        item = JudgeItem(
            key, row.sensor, row.t0_ns, rate, n, round(n * 1e9 / rate), w.novelty, row.flags
        )
        items.append(item)
        if row.raw is not None:
            try:
                x = decode_raw(
                    row.raw_codec or 0,
                    row.raw,
                    row.channels,
                    row.n_samples,
                    max_samples=limits.max_window_samples,
                )
            except ValueError as exc:
                raise RejectedItem(
                    f"window {row.idx}: {exc}", device_id=key[1], seq=key[2]
                ) from exc
            if row.offload != _FEATURES:
                at = len(staged.windows) + row.idx
                cloud.append(_CloudWork(at, RawWindow(x, row.rate_hz), row.offload, item))
                item.samples = x
        if item.samples is None:
            if row.offload != _COMPACT:
                item.device_features = row.features
            elif w.HasField("features") and len(w.features.values):
                # as window_evidence judges it: a COMPACT window's full features, if it has them
                item.device_features = _float_values(w.features)
    summarized = sum(r.windows for r in summaries)
    samples += sum(r.windows * r.channels * r.n_samples for r in summaries)
    staged.windows.extend(rows)
    staged.summaries.extend(summaries)
    staged.cloud.extend(cloud)
    staged.judge.extend(items)
    staged.batches.append(
        BatchRow(*key, batch.sent_at_ns, len(windows), _clamp(samples), payload_bytes, summarized)
    )
    for rng in batch.evicted:
        reason = _text(rng.reason, 200) or "unspecified"
        staged.evictions.append((*key[:2], rng.first, rng.last, reason))
    if batch.HasField("health"):
        staged.health.append(_health_row(batch))
    for ack in batch.acks:
        if ack.id:
            staged.acks.append(
                AckRow(*key, _text(ack.id, 128), ack.ok, _text(ack.reason, 500), ack.device_time_ns)
            )


def _health_row(batch: protos.TelemetryBatch) -> HealthRow:
    h = batch.health
    return HealthRow(
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
        _clamp(h.policy_version),
        _text(h.uplink, 16),
    )


def finish_cloud(staged: Staged) -> None:
    """Compute the cloud features of every staged RAW/BOTH window (one batched kernel call per
    (n_samples, rate) group), store them on RAW windows (``source`` = cloud), hand them to the
    windows' judge items, and record the device-conformance result of BOTH windows in
    ``staged.conformance``.
    """
    if not staged.cloud:
        return
    feats = compute_features([c.raw for c in staged.cloud])
    compared: list[tuple[WindowRow, np.ndarray, np.ndarray]] = []
    per_batch: dict[tuple[str, str, int, int], list[Any]] = {}
    for work, cloud in zip(staged.cloud, feats, strict=True):
        work.item.features = cloud
        row = staged.windows[work.row]
        if work.offload == _RAW:
            staged.windows[work.row] = row._replace(
                algo_version=kernels.ALGO_VERSION,
                features=cloud.astype("<f4").tobytes(),
                source=CLOUD,
            )
            continue
        device_algo = row.algo_version or 0
        acc = per_batch.setdefault((row.tenant, row.device_id, row.seq, device_algo), [0, 0, 0, ""])
        if device_algo != kernels.ALGO_VERSION:
            acc[2] += 1
            continue
        acc[0] += 1
        assert row.features is not None  # BOTH windows have them (checked at staging)
        compared.append((row, np.frombuffer(row.features, dtype="<f4"), cloud))
    for row, why in _mismatches(compared):
        acc = per_batch[(row.tenant, row.device_id, row.seq, row.algo_version or 0)]
        acc[1] += 1
        acc[3] = f"window {row.idx}: {why}"
    for (tenant, device, seq, algo), (checked, bad, skipped, last) in per_batch.items():
        staged.conformance.append(
            ConformanceRow(tenant, device, seq, algo, checked, bad, skipped, last)
        )
    staged.cloud.clear()


def _mismatches(
    compared: list[tuple[WindowRow, np.ndarray, np.ndarray]],
) -> list[tuple[WindowRow, str]]:
    """(row, what differs) of the compared windows whose device features do not conform, in
    order; windows of equal shape are compared in one :func:`numpy.isclose` pass first."""
    same = [c for c in compared if c[1].shape == c[2].shape and c[1].size]
    ok: set[int] = set()
    if same:
        device = np.concatenate([d for _, d, _ in same]).astype(np.float64)
        cloud = np.concatenate([c for _, _, c in same]).astype(np.float64)
        close = np.isclose(device, cloud, rtol=RTOL, atol=ATOL, equal_nan=True)
        starts = np.cumsum([0] + [d.shape[0] for _, d, _ in same[:-1]])
        all_close = np.logical_and.reduceat(close, starts)
        ok = {id(c) for c, good in zip(same, all_close, strict=True) if good}
    out = []
    for c in compared:
        if id(c) not in ok and (why := conforms(c[1], c[2])):
            out.append((c[0], why))
    return out


def warm_up() -> None:
    """Load the kernels that staging runs (raw decoding, cloud features) from the Numba cache,
    or compile them, so that the first flush with a RAW window does not stall for seconds."""
    x = np.linspace(-1.0, 1.0, 128, dtype=np.float32).reshape(1, -1)
    data = kernels.encode_samples(x.ravel())
    raw = decode_raw(protos.Codec.CODEC_BINHAI, data, 1, 128)
    compute_features([RawWindow(raw, 50.0)])


def stage_dead_letter(staged: Staged, dl: protos.DeadLetter) -> None:
    tenant, device = _lenient_identity(dl.topic)
    staged.dead_letters.append(
        (
            dl.topic.replace("\x00", "\\0")[:512],
            tenant,
            device,
            dl.reason.replace("\x00", "\\0")[:500] or "unspecified",
            dl.payload,
            min(dl.payload_size or len(dl.payload), INT32_MAX),
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
