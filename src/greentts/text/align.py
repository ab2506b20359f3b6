"""Which written word each spoken word says: the bridge from phoneme durations to the input's words.

Normalization changes the words ("$9.99" is one written word and six spoken ones; "March 3, 2024" is
three and five), so spoken words are matched to written ones by alignment: words that
normalization left alone ("Call", "now") are anchors, and the spoken words between two anchors are
shared out among the written words between them in proportion to how many words each of those says
when normalized alone. Han characters are words of their own on both sides.
"""

from __future__ import annotations

import bisect
import re

__all__ = ["written_tokens", "align_spoken"]

_TOKEN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+")


_EDGE = ".,;:!?\"“”()[]{}…。，、；：！？（）「」『』《》—–-*"


def written_tokens(text: str) -> list[tuple[str, int, int]]:
    """Written words of ``text`` with their character offsets: whitespace-separated runs without the
    punctuation at their edges, each Han character on its own; punctuation alone is no word."""
    out = []
    for m in _TOKEN_RE.finditer(text):
        word = m[0].strip(_EDGE)
        if word:
            start = m.start() + m[0].index(word)
            out.append((word, start, start + len(word)))
    return out


def _key(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def _estimate(word: str) -> int:
    """How many spoken words ``word`` becomes when normalized alone (at least 1)."""
    from .normalize import is_han, normalize_en, normalize_zh

    try:
        if any(is_han(c) for c in word) or not word.isascii():
            return max(1, len([c for c in normalize_zh(word) if is_han(c)]))
        return max(1, len(normalize_en(word).split()))
    except Exception:  # noqa: BLE001 - an estimate only; the normalizers are fuzzed elsewhere
        return 1


def align_spoken(written: list[str], spoken: list[str]) -> list[int]:
    """For each spoken word, the index of the written word it belongs to (monotonic).

    Linear in practice: equal words advance both sides; otherwise the nearest next anchor (a spoken
    word equal to a later written word, looked up by key) within ANCHOR_WINDOW spoken words closes
    the gap, which is shared out by :func:`_share`."""
    if not spoken:
        return []
    if not written:
        return [0] * len(spoken)
    wk, sk = [_key(w) for w in written], [_key(x) for x in spoken]
    positions: dict[str, list[int]] = {}
    for i, k in enumerate(wk):
        if k:
            positions.setdefault(k, []).append(i)
    out = [0] * len(spoken)
    i = j = 0
    while j < len(spoken):
        if i < len(written) and sk[j] and wk[i] == sk[j]:
            out[j] = i
            i, j = i + 1, j + 1
            continue
        anchor = _next_anchor(positions, sk, i, j)
        i2, j2 = anchor if anchor is not None else (len(written), len(spoken))
        if i2 > i:
            _share(written, i, i2, j, j2, out)
        else:  # spoken words no written word accounts for: the word before (or the first)
            for jj in range(j, j2):
                out[jj] = max(0, i - 1)
        i, j = i2, j2
    return out


ANCHOR_WINDOW = 64


def _next_anchor(positions: dict[str, list[int]], sk: list[str], i: int, j: int) -> tuple[int, int] | None:
    """The closest (written, spoken) pair of equal words at or after (i, j)."""
    best: tuple[int, int] | None = None
    for jj in range(j, min(len(sk), j + ANCHOR_WINDOW)):
        if best is not None and jj - j >= best[0] - i + best[1] - j:
            break
        plist = positions.get(sk[jj]) if sk[jj] else None
        if not plist:
            continue
        k = bisect.bisect_left(plist, i)
        if k < len(plist) and (best is None or plist[k] - i + jj - j < best[0] - i + best[1] - j):
            best = (plist[k], jj)
    return best


def _share(written: list[str], i1: int, i2: int, j1: int, j2: int, out: list[int]) -> None:
    """Spoken words j1:j2 shared among written words i1:i2 in proportion to their estimates."""
    n_spoken = j2 - j1
    estimates = [_estimate(w) for w in written[i1:i2]]
    total = sum(estimates)
    cuts, acc = [], 0
    for e in estimates:
        acc += e
        cuts.append(round(acc / total * n_spoken))
    start = 0
    for k, cut in enumerate(cuts):
        cut = max(cut, start + (1 if n_spoken - start > len(cuts) - k - 1 else 0))
        cut = min(cut, n_spoken - (len(cuts) - k - 1) if n_spoken >= len(cuts) else n_spoken)
        for j in range(start, cut):
            out[j1 + j] = i1 + k
        start = cut
    for j in range(start, n_spoken):
        out[j1 + j] = i2 - 1
