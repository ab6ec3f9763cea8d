"""Registers ``np.fft`` for Numba (rocket-fft) without paying for ``scipy.fft``.

rocket-fft also registers ``scipy.fft`` overloads when SciPy is installed; importing ``scipy.fft``
for that costs 0.15-0.3 s (a sizeable part of the device's 1.5 s cold-start budget) for functions
the kernels never call. While rocket-fft is imported here, ``scipy.fft`` is made to look absent
(only if nobody imported it yet); the marker is removed right after, so a later ``import
scipy.fft`` elsewhere works as usual (inside Numba, only ``np.fft`` is then registered).
"""

from __future__ import annotations

import sys


def _import_rocket_fft() -> None:
    if "rocket_fft" in sys.modules:
        return
    hide = "scipy.fft" not in sys.modules
    if hide:
        sys.modules["scipy.fft"] = None  # type: ignore[assignment]  # `import scipy.fft` fails
    try:
        import rocket_fft  # noqa: F401  (registers np.fft for Numba)
    finally:
        if hide and sys.modules.get("scipy.fft", 0) is None:
            del sys.modules["scipy.fft"]


_import_rocket_fft()
