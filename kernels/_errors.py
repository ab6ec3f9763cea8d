"""Exceptions raised by :mod:`kernels`.

One root, so that callers (the CLI, the device SDK, the cloud core) can catch everything the kernels
raise with a single ``except KernelError``. It derives from :class:`ValueError` because every kernel
error is a problem with the values handed in::

    ValueError
     └── KernelError              root of everything raised by kernels
          ├── KernelInputError    wrong dtype / ndim / shape / length, fs not finite and > 0
          ├── CodecError          bytes that are not a valid encoded window (truncated, corrupt)
          └── StateError          a persisted detector state that does not fit (size, version)

The compiled kernels themselves never raise: they take arrays and scalars that the typed wrappers
have already checked, and return a status code where the input can still be bad (the decoder).
"""

from __future__ import annotations


class KernelError(ValueError):
    """Root of every exception raised by :mod:`kernels`."""


class KernelInputError(KernelError):
    """An argument has the wrong dtype, number of dimensions, shape or value.

    Attributes
    ----------
    argument : str
        Name of the offending argument.
    """

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument
        self.message = message

    def __reduce__(self) -> tuple[type[KernelInputError], tuple[str, str]]:
        return (type(self), (self.argument, self.message))  # picklable across processes


class CodecError(KernelError):
    """A byte stream given to :func:`kernels.decode_samples` is not a valid encoded window.

    Attributes
    ----------
    offset : int
        Byte offset at which decoding stopped (-1 when unknown).
    """

    def __init__(self, message: str, *, offset: int = -1) -> None:
        super().__init__(message if offset < 0 else f"{message} (at byte {offset})")
        self.message = message
        self.offset = offset

    def __reduce__(self) -> tuple[object, ...]:
        return (_codec_error, (self.message, self.offset))


def _codec_error(message: str, offset: int) -> CodecError:
    return CodecError(message, offset=offset)


class StateError(KernelError):
    """A persisted detector state cannot be restored (wrong size, version or values)."""
