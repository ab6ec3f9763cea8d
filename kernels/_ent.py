"""Entropy-coded integer blocks (the codec's ENT scheme, stream version 2).

A block's values become a sequence of int64 ``v`` — either the ALP/ADC integers of
:mod:`kernels._alp` (values no integer reproduces are exceptions, left out of the sequence), or
the float32 bit patterns mapped to order-preserving integers (*latents*: exact for every value,
NaN payloads, ±inf, -0.0 and denormals included). Each value is predicted from the ones before
it, and the residual is coded:

* transform ``0`` (FOR): ``r = v - base`` with ``base`` the block minimum, ``r >= 0``;
* transforms ``1, 2, 3`` (order-k delta): ``r = v[i] - p`` with ``p`` the polynomial
  extrapolation of order ``min(i, k)`` (``v[i-1]``; ``2 v[i-1] - v[i-2]``;
  ``3 v[i-1] - 3 v[i-2] + v[i-3]``; 0 for the first value), zig-zag mapped;
* transform ``LAG + L`` (``2 <= L <= MAX_LAG``): ``p = v[i-L]`` (``v[i-1]`` for ``i < L``):
  periodic signals such as an appliance's duty cycle.

Each residual ``z`` is written as its *class* ``c`` = bit length of ``z`` (0..64), Huffman-coded
with at most ``MAX_LEN`` bits from the block's own class histogram, followed by the ``c - 1`` bits
of ``z`` below its leading 1 (the class says where that 1 is). That is the JPEG DC coding of
``(size, amplitude)``: within a fraction of a bit of the entropy for the two-sided geometric
residuals of sensor data, with no model state to carry between blocks.

The bit streams are LSB-first; codes are canonical (by length, then class; DEFLATE's
construction) and stored bit-reversed so that the decoder indexes a ``2**MAX_LEN`` table with the
next bits. The residuals go in LANES contiguous lanes, each its own byte-aligned stream behind a
varint byte count: the decoder advances four independent bit positions at once (one Huffman
chain is latency-bound at ~5 ns a value on this machine, four interleaved at ~2 ns).
"""

from __future__ import annotations

import numpy as np

from kernels._backend import njit
from kernels._bitio import bit_length, put_u64
from kernels._config import JIT_EXACT_INLINE, JIT_EXACT_INNER

#: Longest Huffman code (the decoder's table has 2**MAX_LEN entries).
MAX_LEN = 8
TABLE = 1 << MAX_LEN
#: Number of classes: bit lengths 0..64.
NCLASS = 65
#: Transform codes: 0 FOR, 1..3 delta orders, LAG + L for lag L.
MAX_ORDER = 3
LAG = 16
MAX_LAG = 15
#: Lags the encoder tries (the format allows up to MAX_LAG).
LAG_SEARCH = 8
#: Values the lag search looks at.
LAG_PROBE = 64
#: log2(k) for k = 0..MAX_COUNT (0 for k = 0): entropy estimates of class histograms.
MAX_COUNT = 4096
LOG2 = np.log2(np.maximum(np.arange(MAX_COUNT + 1, dtype=np.float64), 1.0))
#: Size of the ``codes`` array of :func:`canonical_codes` (codes, then its scratch).
CODES = NCLASS + 2 * (MAX_LEN + 1) + 4
#: Residuals are split into this many contiguous lanes, each its own bit stream, so that the
#: decoder follows four independent dependency chains (a Huffman decoder is latency-bound).
LANES = 4
#: Scratch (int64 values) that :func:`huffman_lengths` needs.
WORK = 6 * NCLASS
#: Histogram rows: FOR, order 1, order 2, order 3, lag.
NROWS = 5
#: Sources of the integers.
SRC_DECIMAL = 0
SRC_SCALE = 1
SRC_LATENT = 2
#: Stream version 4: integers of an affine grid with fixes (:mod:`kernels._affine`).
SRC_AFFINE = 3
_TOP = np.uint64(1) << np.uint64(63)


@njit(**JIT_EXACT_INLINE)
def to_latent(b):  # pragma: no cover - compiled
    """float32 bit pattern (uint32) -> order-preserving int64 (-0.0 -> -1, +0.0 -> 0)."""
    v = np.int64(b)
    if v >= 0x80000000:
        return -(v - 0x80000000) - 1
    return v


@njit(**JIT_EXACT_INLINE)
def from_latent(v):  # pragma: no cover - compiled
    """Inverse of :func:`to_latent`; the caller checks ``-2**31 <= v < 2**31``."""
    sign = v >> 63  # all ones for negative values
    return np.uint32((v ^ sign) | (sign & 0x80000000))


@njit(**JIT_EXACT_INLINE)
def zigzag(r):  # pragma: no cover - compiled
    return np.uint64(r << 1) ^ np.uint64(r >> 63)


@njit(**JIT_EXACT_INLINE)
def unzigzag(z):  # pragma: no cover - compiled
    return np.int64(z >> np.uint64(1)) ^ -np.int64(z & np.uint64(1))


@njit(**JIT_EXACT_INLINE)
def predict(v, i, tr, base):  # pragma: no cover - compiled
    """The prediction of ``v[i]`` from ``v[:i]`` under transform ``tr`` (see the module doc)."""
    if tr == 0:
        return base
    if tr >= LAG:
        lag = tr - LAG
        if i >= lag:
            return v[i - lag]
        if i >= 1:
            return v[i - 1]
        return np.int64(0)
    k = min(i, tr)
    if k == 0:
        return np.int64(0)
    if k == 1:
        return v[i - 1]
    if k == 2:
        return 2 * v[i - 1] - v[i - 2]
    return 3 * v[i - 1] - 3 * v[i - 2] + v[i - 3]


@njit(**JIT_EXACT_INLINE)
def residual(v, i, tr, base):  # pragma: no cover - compiled
    """The coded residual of ``v[i]`` (uint64): offset for FOR, zig-zag otherwise."""
    r = v[i] - predict(v, i, tr, base)
    if tr == 0:
        return np.uint64(r)
    return zigzag(r)


@njit(**JIT_EXACT_INLINE)
def choose_lag(v, m):  # pragma: no cover - compiled
    """The lag 2..LAG_SEARCH whose differences over ``v[:m]`` are narrowest (summed bit
    lengths), if narrower than the first differences; else 0. Near-periodic signals (an
    appliance's current over a mains cycle sampled a few times per period) need not repeat
    exactly. The test runs on a contiguous stretch (a strided sample would alias with the
    period)."""
    stop = min(m, LAG_SEARCH + LAG_PROBE)
    first = 0
    for i in range(LAG_SEARCH, stop):
        first += bit_length(zigzag(v[i] - v[i - 1]))
    best = 0
    best_bits = first
    for lag in range(2, min(LAG_SEARCH, m - 1) + 1):
        total = 0
        for i in range(LAG_SEARCH, stop):
            total += bit_length(zigzag(v[i] - v[i - lag]))
        if total < best_bits:
            best_bits = total
            best = lag
    return best


@njit(**JIT_EXACT_INNER)
def histograms(v, m, hist):  # pragma: no cover - compiled
    """Class histograms of ``v[:m]`` for FOR, orders 1-3 and the lag :func:`choose_lag` finds.

    ``hist`` is int64 (NROWS, NCLASS), cleared here. Returns ``(base, lag)``: the block minimum
    (FOR base) and the lag of the last row (0: none, row empty).
    """
    lag = choose_lag(v, m)
    hist[:, :] = 0
    flat = hist.ravel()  # one row after the other; unsigned indices skip wraparound checks
    r1o = np.uint64(NCLASS)
    r2o = np.uint64(2 * NCLASS)
    r3o = np.uint64(3 * NCLASS)
    r4o = np.uint64(4 * NCLASS)
    base = v[0]
    for i in range(1, m):
        base = min(base, v[i])
    flat[np.uint64(bit_length(np.uint64(v[0] - base)))] += 1
    z0 = np.uint64(bit_length(zigzag(v[0])))
    flat[r1o + z0] += 1
    flat[r2o + z0] += 1
    flat[r3o + z0] += 1
    p1 = v[0]
    p2 = v[0]
    for i in range(1, m):
        flat[np.uint64(bit_length(np.uint64(v[i] - base)))] += 1
        r1 = v[i] - v[i - 1]
        r2 = r1 - p1 if i >= 2 else r1
        r3 = r2 - p2 if i >= 3 else r2
        p1 = r1
        p2 = r2
        flat[r1o + np.uint64(bit_length(zigzag(r1)))] += 1
        flat[r2o + np.uint64(bit_length(zigzag(r2)))] += 1
        flat[r3o + np.uint64(bit_length(zigzag(r3)))] += 1
    if lag >= 2:
        flat[r4o + z0] += 1
        for i in range(1, min(lag, m)):
            flat[r4o + np.uint64(bit_length(zigzag(v[i] - v[i - 1])))] += 1
        for i in range(lag, m):
            flat[r4o + np.uint64(bit_length(zigzag(v[i] - v[i - lag])))] += 1
    return base, lag


@njit(**JIT_EXACT_INNER)
def huffman_lengths(cnt, lens, work):  # pragma: no cover - compiled
    """Code lengths (<= MAX_LEN) of a Huffman code for the class counts ``cnt``, into ``lens``.

    A single present class gets length 0 (it costs no bits). When the Huffman code is deeper than
    MAX_LEN the counts are flattened (halved, kept >= 1) and the code rebuilt. ``work`` is int64
    scratch of at least WORK values.
    """
    lens[:] = 0
    nsym = 0
    sym = work[:NCLASS]
    w = work[NCLASS : 2 * NCLASS]
    for c in range(NCLASS):
        if cnt[c] > 0:
            sym[nsym] = c
            w[nsym] = cnt[c]
            nsym += 1
    if nsym <= 1:
        return
    weight = work[2 * NCLASS : 4 * NCLASS]
    parent = work[4 * NCLASS : 6 * NCLASS]
    while True:
        # leaves sorted by weight (insertion sort: a few dozen classes at most)
        for j in range(1, nsym):
            ws = w[j]
            ss = sym[j]
            k = j - 1
            while k >= 0 and w[k] > ws:
                w[k + 1] = w[k]
                sym[k + 1] = sym[k]
                k -= 1
            w[k + 1] = ws
            sym[k + 1] = ss
        for j in range(nsym):
            weight[j] = w[j]
        # two queues: leaves 0..nsym-1 in order, internal nodes nsym.. in creation order
        leaf = 0
        node = nsym
        nodes = nsym
        for _ in range(nsym - 1):
            if leaf < nsym and (node >= nodes or weight[leaf] <= weight[node]):
                a = leaf
                leaf += 1
            else:
                a = node
                node += 1
            if leaf < nsym and (node >= nodes or weight[leaf] <= weight[node]):
                b = leaf
                leaf += 1
            else:
                b = node
                node += 1
            weight[nodes] = weight[a] + weight[b]
            parent[a] = nodes
            parent[b] = nodes
            nodes += 1
        root = nodes - 1
        # depths: parents come after their children, so walk the nodes from the root down
        deepest = 0
        depth = weight  # reuse: weights are no longer needed
        depth[root] = 0
        for j in range(root - 1, -1, -1):
            depth[j] = depth[parent[j]] + 1
        for j in range(nsym):
            lens[sym[j]] = depth[j]
            deepest = max(deepest, depth[j])
        if deepest <= MAX_LEN:
            return
        for j in range(nsym):
            w[j] = (w[j] + 1) // 2


@njit(**JIT_EXACT_INLINE)
def cost_bits(cnt, lens):  # pragma: no cover - compiled
    """Bits of the coded residuals: Huffman codes plus the bits below each leading 1."""
    total = 0
    for c in range(NCLASS):
        if cnt[c] > 0:
            total += cnt[c] * (lens[c] + max(c - 1, 0))
    return total


@njit(**JIT_EXACT_INLINE)
def estimate_bits(cnt, m):  # pragma: no cover - compiled
    """Entropy estimate of :func:`cost_bits` for a histogram of ``m`` (<= MAX_COUNT) values
    (Huffman codes cost at most a fraction of a bit a value more, never less than 1 bit unless
    one class is alone): ranks the transforms without building a code for each."""
    codes = 0.0
    extra = 0
    present = 0
    for c in range(NCLASS):
        k = cnt[c]
        if k > 0:
            present += 1
            codes += k * (LOG2[m] - LOG2[k])
            extra += k * max(c - 1, 0)
    if present > 1:
        codes = max(codes, float(m))
    return codes + extra


@njit(**JIT_EXACT_INLINE)
def table_bytes(cnt):  # pragma: no cover - compiled
    """Size of the code-length table: cmin u8, cmax u8, then 4 bits per class in between."""
    lo = -1
    hi = -1
    for c in range(NCLASS):
        if cnt[c] > 0:
            if lo < 0:
                lo = c
            hi = c
    return 2 + (hi - lo + 2) // 2


@njit(**JIT_EXACT_INNER)
def canonical_codes(lens, codes):  # pragma: no cover - compiled
    """Canonical codes for ``lens`` (by length, then class), bit-reversed for LSB-first I/O.

    The DEFLATE construction (RFC 1951, 3.2.2): count the codes of each length, the first code
    of each length, then hand them out in class order. ``codes`` is int64 (CODES,): the codes,
    then scratch.
    """
    count = codes[NCLASS : NCLASS + MAX_LEN + 1]
    nxt = codes[NCLASS + MAX_LEN + 1 : NCLASS + 2 * (MAX_LEN + 1)]
    count[:] = 0
    for c in range(NCLASS):
        count[lens[c]] += 1
    count[0] = 0
    code = 0
    for length in range(1, MAX_LEN + 1):
        code = (code + count[length - 1]) << 1
        nxt[length] = code
    for c in range(NCLASS):
        n = lens[c]
        if n > 0:
            code = nxt[n]
            nxt[n] += 1
            r = 0
            for _ in range(n):
                r = (r << 1) | (code & 1)
                code >>= 1
            codes[c] = r


@njit(**JIT_EXACT_INLINE)
def put_varint(buf, pos, v):  # pragma: no cover - compiled
    """LEB128 of a uint64."""
    v = np.uint64(v)
    while v >= np.uint64(0x80):
        buf[pos] = np.uint8((v & np.uint64(0x7F)) | np.uint64(0x80))
        v >>= np.uint64(7)
        pos += 1
    buf[pos] = np.uint8(v)
    return pos + 1


@njit(**JIT_EXACT_INLINE)
def get_varint(buf, pos, end):  # pragma: no cover - compiled
    """(value uint64, new pos); pos = -1 when truncated or longer than 10 bytes."""
    v = np.uint64(0)
    shift = 0
    while pos < end and shift < 64:
        b = np.uint64(buf[pos])
        pos += 1
        v |= (b & np.uint64(0x7F)) << np.uint64(shift)
        if b < np.uint64(0x80):
            return v, pos
        shift += 7
    return np.uint64(0), -1


@njit(**JIT_EXACT_INNER)
def write_table(cnt, lens, buf, pos):  # pragma: no cover - compiled
    """The code-length table: cmin u8, cmax u8 (classes present), 4-bit lengths in between."""
    lo = -1
    hi = -1
    for c in range(NCLASS):
        if cnt[c] > 0:
            if lo < 0:
                lo = c
            hi = c
    buf[pos] = lo
    buf[pos + 1] = hi
    pos += 2
    for j in range(0, hi - lo + 1, 2):
        lo_n = lens[lo + j]
        hi_n = lens[lo + j + 1] if lo + j + 1 <= hi else 0
        buf[pos] = np.uint8(lo_n | (hi_n << 4))
        pos += 1
    return pos


@njit(**JIT_EXACT_INNER)
def residuals_into(v, m, tr, base, z):  # pragma: no cover - compiled
    """The coded residuals of ``v[:m]`` under ``tr`` into uint64 ``z`` (see :func:`residual`);
    one tight loop per transform."""
    if m == 0:
        return
    if tr == 0:
        for i in range(m):
            z[i] = np.uint64(v[i] - base)
        return
    z[0] = zigzag(v[0])
    if tr >= LAG:
        lag = tr - LAG
        for i in range(1, min(lag, m)):
            z[i] = zigzag(v[i] - v[i - 1])
        for i in range(lag, m):
            z[i] = zigzag(v[i] - v[i - lag])
        return
    for i in range(1, min(tr, m)):
        z[i] = residual(v, i, tr, base)
    if tr == 1:
        for i in range(1, m):
            z[i] = zigzag(v[i] - v[i - 1])
    elif tr == 2:
        for i in range(2, m):
            z[i] = zigzag(v[i] - 2 * v[i - 1] + v[i - 2])
    else:
        for i in range(3, m):
            z[i] = zigzag(v[i] - 3 * v[i - 1] + 3 * v[i - 2] - v[i - 3])


@njit(**JIT_EXACT_INNER)
def restore(z, m, tr, base, v):  # pragma: no cover - compiled
    """Inverse of :func:`residuals_into`: the values ``v[:m]`` from their residuals."""
    if m == 0:
        return
    if tr == 0:
        for i in range(m):
            v[i] = base + np.int64(z[i])
        return
    v[0] = unzigzag(z[0])
    if tr >= LAG:
        lag = tr - LAG
        for i in range(1, min(lag, m)):
            v[i] = v[i - 1] + unzigzag(z[i])
        for i in range(lag, m):
            v[i] = v[i - lag] + unzigzag(z[i])
        return
    for i in range(1, min(tr, m)):
        v[i] = predict(v, i, tr, base) + unzigzag(z[i])
    if tr == 1:
        for i in range(1, m):
            v[i] = v[i - 1] + unzigzag(z[i])
    elif tr == 2:
        for i in range(2, m):
            v[i] = 2 * v[i - 1] - v[i - 2] + unzigzag(z[i])
    else:
        for i in range(3, m):
            v[i] = 3 * v[i - 1] - 3 * v[i - 2] + v[i - 3] + unzigzag(z[i])


@njit(**JIT_EXACT_INLINE)
def _put(buf, pos, acc, nacc, val, nbits):  # pragma: no cover - compiled
    """Append ``nbits`` (<= 56) bits of ``val``; (pos, acc, nacc) with nacc < 8 after.

    Branch-free: the accumulator's 8 bytes are stored every time (``buf`` has 8 bytes of room
    after the stream's end) and the position moves by the whole bytes it held.
    """
    acc |= val << np.uint64(nacc)
    nacc += nbits
    put_u64(buf, pos, acc)
    whole = nacc >> 3
    pos += whole
    acc >>= np.uint64(whole << 3)
    nacc &= 7
    return pos, acc, nacc


@njit(**JIT_EXACT_INNER)
def _put_wide(buf, pos, acc, nacc, code, nb, low, extra):  # pragma: no cover - compiled
    """A wide residual (code + low bits > 56): the code and 32 low bits, then the rest.

    Out of line on purpose: inlined, this rare branch made the whole loop 3x slower."""
    val = code | ((low & np.uint64(0xFFFFFFFF)) << np.uint64(nb))
    pos, acc, nacc = _put(buf, pos, acc, nacc, val, nb + 32)
    return _put(buf, pos, acc, nacc, low >> np.uint64(32), extra - 32)


@njit(**JIT_EXACT_INNER)
def write_bits(z, m, lens, codes, buf, pos):  # pragma: no cover - compiled
    """The residuals ``z[:m]`` as class codes plus low bits; return the new position.

    ``codes`` holds the canonical codes; ``buf`` needs 8 bytes of room past the bits."""
    acc = np.uint64(0)
    nacc = 0
    for i in range(m):
        zi = z[i]
        c = bit_length(zi)
        nb = lens[c]
        extra = max(c - 1, 0)
        low = zi & ((np.uint64(1) << np.uint64(extra)) - np.uint64(1))
        if nb + extra <= 56:
            val = np.uint64(codes[c]) | (low << np.uint64(nb))
            pos, acc, nacc = _put(buf, pos, acc, nacc, val, nb + extra)
        else:
            pos, acc, nacc = _put_wide(buf, pos, acc, nacc, np.uint64(codes[c]), nb, low, extra)
    if nacc > 0:
        buf[pos] = np.uint8(acc & np.uint64(0xFF))
        pos += 1
    return pos


@njit(**JIT_EXACT_INNER)
def write_lanes(z, m, lens, codes, buf, pos):  # pragma: no cover - compiled
    """The residuals ``z[:m]`` as LANES bit streams: their byte counts (varints), then the
    streams; return the new position. ``codes`` is int64 (CODES,) scratch; ``buf`` needs 8
    bytes of room past the streams."""
    canonical_codes(lens, codes)
    sizes = codes[CODES - LANES :]
    q = (m + LANES - 1) // LANES
    data = pos + 3 * LANES  # room for the varints (each lane < 2**21 bytes)
    p = data
    for k in range(LANES):
        lo = min(m, k * q)
        hi = min(m, lo + q)
        end = write_bits(z[lo:hi], hi - lo, lens, codes, buf, p)
        sizes[k] = end - p
        p = end
    for k in range(LANES):
        pos = put_varint(buf, pos, sizes[k])
    for i in range(p - data):  # move the streams down, behind the varints
        buf[pos + i] = buf[data + i]
    return pos + p - data


@njit(**JIT_EXACT_INNER)
def read_table(buf, pos, end, table, lens, codes):  # pragma: no cover - compiled
    """Read the code-length table and fill the decode ``table`` (int16 (TABLE,), entries
    ``class << 4 | length``, -1 for no code); return the new pos, or -1 (truncated) / -3 (invalid).
    ``lens`` and ``codes`` are int64 scratch of NCLASS values.
    """
    if pos + 2 > end:
        return -1
    lo = int(buf[pos])
    hi = int(buf[pos + 1])
    pos += 2
    if hi >= NCLASS or lo > hi:
        return -3
    nbytes = (hi - lo + 2) // 2
    if pos + nbytes > end:
        return -1
    lens[:] = 0
    kraft = 0
    for j in range(hi - lo + 1):
        nib = np.int64(buf[pos + j // 2])
        if j & 1:
            nib >>= 4
        nib &= 15
        if nib > MAX_LEN:
            return -3
        lens[lo + j] = nib
        if nib > 0:
            kraft += np.int64(1) << (MAX_LEN - nib)
    pos += nbytes
    if kraft == 0:
        if lo != hi:
            return -3
        for t in range(TABLE):
            table[t] = lo << 4
        return pos
    if kraft > TABLE:
        return -3
    if kraft < TABLE:  # an incomplete code: bit patterns without a code are errors
        for t in range(TABLE):
            table[t] = -1
    canonical_codes(lens, codes)
    for c in range(lo, hi + 1):
        n = lens[c]
        if n > 0:
            for hi_bits in range(1 << (MAX_LEN - n)):
                table[np.uint64(codes[c] | (hi_bits << n))] = (c << 4) | n
    return pos


@njit(**JIT_EXACT_INLINE)
def _peek(words, bitpos):  # pragma: no cover - compiled
    """The 64 bits of the stream from ``bitpos`` on (``words`` padded with a zero word)."""
    w = np.uint64(bitpos) >> np.uint64(6)  # unsigned indices: no wraparound checks
    off = np.uint64(bitpos) & np.uint64(63)
    if off == np.uint64(0):
        return words[w]
    return (words[w] >> off) | (words[w + np.uint64(1)] << (np.uint64(64) - off))


@njit(**JIT_EXACT_INNER)
def _low_wide(words, bitpos, extra):  # pragma: no cover - compiled
    """The ``extra`` low bits of a wide residual, read past its code (out of line: rare)."""
    low = _peek(words, bitpos)
    if extra < 64:
        low &= (np.uint64(1) << np.uint64(extra)) - np.uint64(1)
    return low


@njit(**JIT_EXACT_INLINE)
def _read_one(words, table, bitpos):  # pragma: no cover - compiled
    """One residual at ``bitpos``: (value, new bitpos); bitpos -1 for a pattern with no code."""
    bits = _peek(words, bitpos)
    entry = np.int64(table[bits & np.uint64(0xFF)])
    if entry < 0:
        return np.uint64(0), -1
    n = entry & 15
    c = entry >> 4
    extra = max(c - 1, 0)
    if n + extra < 64:
        low = (bits >> np.uint64(n)) & ((np.uint64(1) << np.uint64(extra)) - np.uint64(1))
    else:
        low = _low_wide(words, bitpos + n, extra)
    # class 0 is the value 0; a class c >= 1 puts the leading 1 back at bit c - 1
    return low | (np.uint64(c > 0) << np.uint64(extra)), bitpos + n + extra


@njit(**JIT_EXACT_INNER)
def read_lanes(buf, words, pos, end, table, z, m):  # pragma: no cover - compiled
    """Decode ``m`` residuals written by :func:`write_lanes` from ``buf[pos:end]`` into uint64
    ``z``; ``words`` is the whole stream as little-endian uint64 words with at least two zero
    words after its end. Return the position after the lanes, or -1 when they are truncated or
    need more bits than they hold, -5 for a bit pattern with no code."""
    m = np.int64(m)
    q = (m + LANES - 1) // LANES
    n0, pos = get_varint(buf, pos, end)
    if pos < 0:
        return -1
    n1, pos = get_varint(buf, pos, end)
    if pos < 0:
        return -1
    n2, pos = get_varint(buf, pos, end)
    if pos < 0:
        return -1
    n3, pos = get_varint(buf, pos, end)
    if pos < 0:
        return -1
    room = np.uint64(end - pos)
    if n0 > room or n1 > room or n2 > room or n3 > room or n0 + n1 + n2 + n3 > room:
        return -1
    b0 = 8 * pos
    b1 = b0 + 8 * int(n0)
    b2 = b1 + 8 * int(n1)
    b3 = b2 + 8 * int(n2)
    lim3 = b3 + 8 * int(n3)
    lim0, lim1, lim2 = b1, b2, b3
    c1 = np.int64(min(m, q))
    c2 = np.int64(min(m, 2 * q))
    c3 = np.int64(min(m, 3 * q))
    for i in range(q):
        if b0 > lim0 or b1 > lim1 or b2 > lim2 or b3 > lim3:
            return -1
        z[i], b0 = _read_one(words, table, b0)
        if c1 + i < c2:
            z[c1 + i], b1 = _read_one(words, table, b1)
        if c2 + i < c3:
            z[c2 + i], b2 = _read_one(words, table, b2)
        if c3 + i < m:
            z[c3 + i], b3 = _read_one(words, table, b3)
        if b0 < 0 or b1 < 0 or b2 < 0 or b3 < 0:
            return -5
    if b0 > lim0 or b1 > lim1 or b2 > lim2 or b3 > lim3:
        return -1
    return lim3 // 8
