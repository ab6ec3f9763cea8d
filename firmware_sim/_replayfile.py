"""Reading a recorded signal for a ``replay`` device: CSV or NPY, as (n, channels) float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_ROWS = 50_000_000


def read_replay(path: Path, columns: tuple[str | int, ...] | None) -> np.ndarray:
    """The samples of ``path`` as a C-contiguous (n, channels) float32 array.

    ``.npy``: an (n,) or (n, channels) numeric array. Anything else is read as CSV: comma
    separated numeric columns, optionally a header line of column names (detected: a first line
    that does not parse as numbers). ``columns`` picks columns by header name or 0-based index.
    Raises ``ValueError`` (or ``OSError``) with a reason.
    """
    if path.suffix.lower() == ".npy":
        data = np.load(path, allow_pickle=False)
        names: list[str] = []
        if data.ndim == 1:
            data = data.reshape(-1, 1)
        if data.ndim != 2 or not np.issubdtype(data.dtype, np.number):
            raise ValueError(f"{path.name}: need a numeric (n,) or (n, channels) array")
    else:
        data, names = _read_csv(path)
    if columns is not None:
        idx = []
        for c in columns:
            if isinstance(c, str):
                if c not in names:
                    raise ValueError(f"{path.name}: no column {c!r} (header: {names or 'none'})")
                idx.append(names.index(c))
            elif c >= data.shape[1]:
                raise ValueError(f"{path.name}: column {c} out of range ({data.shape[1]} columns)")
            else:
                idx.append(c)
        data = data[:, idx]
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"{path.name}: no samples")
    if data.shape[0] > MAX_ROWS:
        raise ValueError(f"{path.name}: more than {MAX_ROWS} rows")
    return np.ascontiguousarray(data, dtype=np.float32)


def _read_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    with path.open(encoding="utf-8") as fh:
        first = fh.readline()
    names: list[str] = []
    fields = [f.strip() for f in first.split(",")]
    try:
        [float(f) for f in fields]
        skip = 0
    except ValueError:
        names, skip = fields, 1
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path.name}: not numeric CSV ({exc})") from exc
    return data, names
