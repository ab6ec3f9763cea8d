"""Measurement code behind ``binhai bench`` (the CLI commands only format and print).

It lives in the CLI layer, outside every package a device embeds: it uses only the public APIs of
:mod:`kernels` and :mod:`device_sdk`, and its baselines (NumPy/SciPy features, a plain Gorilla
coder, the peer codecs) are written here, never in :mod:`kernels`.
"""
