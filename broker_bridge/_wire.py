"""Ingest stream messages as bytes: a bundle is its items' serializations joined. Pure, no I/O.

``IngestRequest(bundle=IngestBundle(items=items))`` copies every item (with its batch) into the
new message before serializing it, which costs several times the serialization itself. The wire
format of a bundle is simply its items, each serialized and length-prefixed, inside one
length-prefixed field, so it is written here by joining bytes:

    IngestRequest  = 0xF2 0x01 (field 30 "bundle", length-delimited) varint(len) IngestBundle
    IngestBundle   = { 0x0A (field 1 "items", length-delimited) varint(len) IngestRequest }*

The result parses to exactly the message the copying construction would serialize to.
"""

from __future__ import annotations

from collections.abc import Sequence

import protos

__all__ = ["encode_requests"]

_BUNDLE_TAG = b"\xf2\x01"
_ITEM_TAG = b"\x0a"


def encode_requests(items: Sequence[protos.IngestRequest]) -> bytes:
    """The serialized stream message carrying ``items``: the request itself when there is one,
    else one ``IngestRequest`` whose ``bundle`` holds them in order."""
    if len(items) == 1:
        return items[0].SerializeToString()
    parts: list[bytes] = []
    for req in items:
        data = req.SerializeToString()
        parts += (_ITEM_TAG, protos.varint(len(data)), data)
    body = b"".join(parts)
    return b"".join((_BUNDLE_TAG, protos.varint(len(body)), body))
