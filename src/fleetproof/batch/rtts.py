"""The fast path for big RTT files: ``target,landmark,rtt_ms`` with no quoting, parsed in bulk.

Two million rows parse in a few tenths of a second, with no Python object per
row: the file stays one byte array; the positions of its commas and newlines
give every field's span, and fields are read column by column (the j-th byte
of every field at once) with numpy.

- ``rtt_ms`` in plain decimal (digits with at most one point, at most 15
  digits) is converted exactly: the digits as an integer divided by a power of
  ten is the correctly rounded double, which is what ``float`` returns. Any
  other spelling (exponent, sign, spaces, ``inf``) goes through ``float`` itself.
- Landmark ids are packed into 64-bit words and looked up among the known ids.
- Targets are numbered in first-seen order; a row usually names the same target
  as the row above, so only the first row of each run is looked up by name.

Any problem is reported with its line, as the careful reader in
:mod:`fleetproof.batch.csvio` would; anything unusual (quotes, blank lines, a
different header, very long ids, spaces around an id) returns ``None`` so that reader
takes over.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fleetproof.errors import InputError

__all__ = ["parse_fast"]

IntArray = npt.NDArray[np.int64]
Parsed = tuple[list[str], np.ndarray, np.ndarray, np.ndarray]

#: Longest landmark id / target name packed into words (longer ones go to the careful reader).
MAX_ID_BYTES = 32
#: Longest ``rtt_ms`` text converted in bulk; longer texts go through ``float``.
MAX_NUMBER_BYTES = 24
#: Most digits converted in bulk: below 2**53, so the integer is exact in a double.
MAX_DIGITS = 15
#: Lines parsed at a time.
BLOCK = 1 << 16
#: Threads parsing blocks.
THREADS = 2
_POW10 = np.array([10.0**k for k in range(MAX_NUMBER_BYTES + 1)])


def _column(raw: npt.NDArray[np.uint8], start: IntArray, length: IntArray, j: int) -> npt.NDArray[np.uint8]:
    """The j-th byte of every field (0 past a field's end); ``raw`` is padded past its last field."""
    col = raw[start + j]
    col[length <= j] = 0
    return col


def _pack(raw: npt.NDArray[np.uint8], start: IntArray, length: IntArray) -> npt.NDArray[np.uint64]:
    """Fields packed 8 bytes to a word, zero-padded: (n, words). Equal rows + equal lengths = equal text."""
    longest = int(length.max(initial=0))
    out = np.zeros((start.size, max(1, (longest + 7) // 8)), dtype=np.uint64)
    for j in range(longest):
        out[:, j // 8] |= _column(raw, start, length, j).astype(np.uint64) << np.uint64(8 * (j % 8))
    return out


def _numbers(raw: npt.NDArray[np.uint8], start: IntArray, length: IntArray) -> tuple[np.ndarray, IntArray]:
    """Plain decimals converted exactly; returns (values, rows that need ``float``)."""
    n = start.size
    mant = np.zeros(n, dtype=np.int64)
    digits = np.zeros(n, dtype=np.int8)
    frac = np.zeros(n, dtype=np.int8)
    seen_dot = np.zeros(n, dtype=bool)
    other = length > MAX_NUMBER_BYTES
    short = np.minimum(length, MAX_NUMBER_BYTES + 1).astype(np.int8)
    idx = start.copy()
    for j in range(min(int(length.max(initial=0)), MAX_NUMBER_BYTES)):
        ch = raw[idx]
        idx += 1
        inside = short > j
        d = ch - np.uint8(48)  # wraps: anything but a digit is > 9
        is_digit = (d <= 9) & inside
        is_dot = (ch == 46) & inside
        other |= inside & ~is_digit & ~is_dot
        other |= is_dot & seen_dot  # a second point
        np.multiply(mant, 10, out=mant, where=is_digit)
        np.add(mant, d, out=mant, where=is_digit, casting="unsafe")
        digits += is_digit
        frac += is_digit & seen_dot
        seen_dot |= is_dot
    other |= (digits == 0) | (digits > MAX_DIGITS)
    values = mant.astype(np.float64) / _POW10[frac]
    return values, np.flatnonzero(other)


def _landmarks(
    raw: npt.NDArray[np.uint8], start: IntArray, length: IntArray, landmark_ids: Sequence[str]
) -> IntArray:
    """Index of each row's landmark among ``landmark_ids``, -1 when unknown."""
    if not landmark_ids:
        return np.full(start.size, -1, dtype=np.int64)
    known = [lid.encode() for lid in landmark_ids]
    words = _pack(raw, start, length)
    width = 8 * words.shape[1]
    k_len = np.array([len(k) for k in known], dtype=np.int64)
    table = np.zeros((len(known), words.shape[1]), dtype=np.uint64)
    for i, k in enumerate(known):
        if len(k) <= width:  # a longer id cannot match any row
            table[i] = np.frombuffer(k + b"\0" * (width - len(k)), dtype="<u8")
    # Search on one word per id (a mix of its words and length), then compare every word.
    k_mix = _mix(table, k_len)
    order = np.argsort(k_mix, kind="stable")
    pos = np.minimum(np.searchsorted(k_mix[order], _mix(words, length)), len(known) - 1)
    cand = order[pos]
    hit = (k_len[cand] == length) & np.all(table[cand] == words, axis=1)
    idx = np.where(hit, cand, -1).astype(np.int64)
    if np.unique(k_mix).size < len(known):  # two ids share a mix: look the misses up by name
        lookup = {k: i for i, k in enumerate(known)}
        for r in np.flatnonzero(~hit).tolist():
            s = int(start[r])
            idx[r] = lookup.get(raw[s : s + int(length[r])].tobytes(), -1)
    return idx


def _mix(words: npt.NDArray[np.uint64], length: IntArray) -> npt.NDArray[np.uint64]:
    h = length.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for w in range(words.shape[1]):
        h = (h ^ words[:, w]) * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
    return h


def _targets(
    raw: npt.NDArray[np.uint8], start: IntArray, length: IntArray, tmap: dict[bytes, int]
) -> IntArray:
    """Each row's target number; new names are added to ``tmap`` in first-seen order."""
    words = _pack(raw, start, length)
    same = np.zeros(start.size, dtype=bool)
    same[1:] = (length[1:] == length[:-1]) & np.all(words[1:] == words[:-1], axis=1)
    run_start = np.flatnonzero(~same)
    ids = np.empty(run_start.size, dtype=np.int64)
    for k, r in enumerate(run_start.tolist()):
        s = int(start[r])
        ids[k] = tmap.setdefault(raw[s : s + int(length[r])].tobytes(), len(tmap))
    return np.repeat(ids, np.diff(np.append(run_start, start.size)))


def _lines(seps: IntArray, lo: int, hi: int, size: int) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Start, first comma, second comma and end of lines ``lo`` to ``hi`` (``size`` bytes in all)."""
    s = seps[3 * lo : 3 * hi]
    newlines = s[2::3]
    start = np.concatenate([[seps[3 * lo - 1] + 1 if lo else 0], newlines[: hi - lo - 1] + 1])
    end = newlines if newlines.size == hi - lo else np.append(newlines, size)
    return start.astype(np.int64), s[0::3].astype(np.int64), s[1::3].astype(np.int64), end.astype(np.int64)


def _parse_body(body: bytes, first_line: int, landmark_ids: Sequence[str]) -> Parsed | tuple[int, str] | None:
    """Parse lines of ``body`` (no header); line numbers start at ``first_line``. Errors come back as data.

    Lines are taken ``BLOCK`` at a time: small temporaries are reused by the allocator
    instead of being mapped (and faulted in) afresh for every column.
    """
    n_lines = body.count(b"\n") + 1
    if body.count(b",") != 2 * n_lines:
        return None
    raw = np.frombuffer(body + b"\0" * (MAX_NUMBER_BYTES + MAX_ID_BYTES), dtype=np.uint8)
    seps = np.flatnonzero((raw == ord(",")) | (raw == ord("\n")))
    if seps.size != 3 * n_lines - 1:
        return None
    # Two commas, then a newline, on every line.
    if (raw[seps[0::3]] != 44).any() or (raw[seps[1::3]] != 44).any() or (raw[seps[2::3]] != 10).any():
        return None
    values = np.empty(n_lines)
    l_idx = np.empty(n_lines, dtype=np.int64)
    blocks = [(lo, min(lo + BLOCK, n_lines)) for lo in range(0, n_lines, BLOCK)]

    def block(lo: int, hi: int) -> bool:
        start, c1, c2, end = _lines(seps, lo, hi, len(body))
        if int((c1 - start).max()) > MAX_ID_BYTES or int((c2 - c1 - 1).max()) > MAX_ID_BYTES:
            return False
        v, odd = _numbers(raw, c2 + 1, end - c2 - 1)
        for r in odd.tolist():  # anything but a plain decimal: exactly what float() makes of it
            try:
                v[r] = float(body[int(c2[r]) + 1 : int(end[r])])
            except ValueError:
                return False  # the careful reader names the line and the text
        values[lo:hi] = v
        l_idx[lo:hi] = _landmarks(raw, c1 + 1, c2 - c1 - 1, landmark_ids)
        return True

    # numpy lets go of the GIL inside its loops: two threads share the blocks.
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        if not all(pool.map(lambda b: block(*b), blocks)):
            return None
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        _, _, c2, end = _lines(seps, k, k + 1, len(body))
        text = body[int(c2[0]) + 1 : int(end[0])].decode("utf-8", "replace").strip()
        what = "must not be negative" if values[k] < 0 else "must be a finite number"
        return first_line + k, f"rtt_ms {what}, got {text!r}"
    if (l_idx < 0).any():
        k = int(np.flatnonzero(l_idx < 0)[0])
        _, c1, c2, _ = _lines(seps, k, k + 1, len(body))
        name = body[int(c1[0]) + 1 : int(c2[0])].decode("utf-8", "replace")
        if name != name.strip():  # " A" is landmark "A" to the careful reader, which strips fields
            return None
        return first_line + k, f"unknown landmark id {name!r}"
    tmap: dict[bytes, int] = {}
    t_idx = np.empty(n_lines, dtype=np.int64)
    for lo, hi in blocks:
        start, c1, _, _ = _lines(seps, lo, hi, len(body))
        if (c1 == start).any():
            return first_line + lo + int(np.flatnonzero(c1 == start)[0]), "target is empty"
        t_idx[lo:hi] = _targets(raw, start, c1 - start, tmap)
    try:
        targets = [t.decode("utf-8") for t in tmap]
    except UnicodeDecodeError:
        return None
    if any(t != t.strip() for t in targets):  # " t1" and "t1" are one target once stripped
        return None
    return targets, t_idx, l_idx, values


def parse_fast(path: Path, data: bytes, landmark_ids: Sequence[str]) -> Parsed | None:
    """Targets (first-seen order), target index, landmark index and RTT per row; ``None`` if unusual."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    header, _, body = data.partition(b"\n")
    if [h.strip().lower() for h in header.split(b",")] != [b"target", b"landmark", b"rtt_ms"]:
        return None
    body = body.rstrip(b"\n")
    if not body or b'"' in body or b"\r" in body or b"\n\n" in body:
        return None
    parsed = _parse_body(body, 2, landmark_ids)
    if parsed is not None and len(parsed) == 2:
        raise InputError(str(path), int(parsed[0]), str(parsed[1]))
    return parsed
