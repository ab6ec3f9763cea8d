"""Window and batch encoding: pure functions from arrays to protobuf bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import kernels
import protos
from device_sdk._outbox import Eviction

#: A window the offload decision chose not to send at all (never on the wire).
SKIP = 0
FEATURES = int(protos.Offload.OFFLOAD_FEATURES)
RAW = int(protos.Offload.OFFLOAD_RAW)
BOTH = int(protos.Offload.OFFLOAD_BOTH)


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """One processed window, ready to be encoded in the mode chosen for it.

    ``t0_ns`` is Unix time, or — when ``sdk_timed`` — the device's monotonic clock, converted to
    wall time with the clock offset when the batch is encoded. ``resent`` marks a window sent
    again from the raw cache (SendRaw). ``raw`` is encoded with ``codec`` (a ``binhai.v1.Codec``).
    """

    sensor: str
    t0_ns: int
    rate_hz: float
    channels: int
    n_samples: int
    features: np.ndarray  # float32, channels * len(FEATURE_NAMES), channel-major
    raw: bytes | None  # kernels.encode_samples of the channel-major samples, when sent
    offload: int
    novelty: float
    sdk_timed: bool = False
    resent: bool = False
    codec: int = kernels.CODEC_BINHAI
    flags: int = 0

    def to_proto(self, *, features_only: bool = False, offset_ns: int = 0) -> protos.Window:
        mode = FEATURES if features_only else self.offload
        w = protos.Window(
            sensor=self.sensor,
            t0_ns=self.t0_ns + offset_ns if self.sdk_timed else self.t0_ns,
            rate_hz=self.rate_hz,
            channels=self.channels,
            n_samples=self.n_samples,
            offload=mode,  # type: ignore[arg-type]
            novelty=self.novelty,
            resent=self.resent,
            flags=self.flags,
        )
        if mode in (FEATURES, BOTH):
            w.features.algo_version = kernels.ALGO_VERSION
            w.features.values.extend(self.features.tolist())
        if mode in (RAW, BOTH):
            assert self.raw is not None
            w.raw.codec = self.codec  # type: ignore[assignment]
            w.raw.data = self.raw
        return w


def encode_raw(data: np.ndarray) -> bytes:
    """Encode a (channels, n) float32 window channel-major with the lossless kernel codec."""
    return kernels.encode_samples(np.ascontiguousarray(data, dtype=np.float32).ravel())


def decode_raw(raw: protos.RawSamples, channels: int, n_samples: int) -> np.ndarray:
    """Inverse of :func:`encode_raw` (and of every other raw codec: ``kernels.decode_window``)."""
    return kernels.decode_window(int(raw.codec), raw.data, channels, n_samples)


def encode_batch(
    *,
    tenant: str,
    device_id: str,
    seq: int,
    sent_at_ns: int,
    windows: Sequence[WindowRecord],
    evictions: Sequence[Eviction],
    features_only: bool = False,
    offset_ns: int = 0,
    clock_synced: bool = False,
    health: protos.Health | None = None,
    acks: Sequence[protos.CommandAck] = (),
) -> bytes:
    """Encode a batch; SDK-timed windows get ``offset_ns`` (wall - monotonic) added."""
    batch = protos.TelemetryBatch(
        tenant=tenant,
        device_id=device_id,
        seq=seq,
        sent_at_ns=sent_at_ns,
        clock_synced=clock_synced,
    )
    batch.windows.extend(
        w.to_proto(features_only=features_only, offset_ns=offset_ns) for w in windows
    )
    for ev in evictions:
        batch.evicted.add(first=ev.first, last=ev.last, reason=ev.reason)
    if health is not None:
        batch.health.CopyFrom(health)
    batch.acks.extend(acks)
    return batch.SerializeToString()
