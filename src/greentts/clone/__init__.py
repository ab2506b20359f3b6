"""Voice cloning by style inversion (the ``greentts[clone]`` extra: PyTorch and kokoro's architecture).

Nothing here is imported by synthesis: a cloned voice is a style table used by the normal ONNX path.
Import errors name the package to install.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

from ..errors import ModelError

__all__ = ["require", "INSTALL_HINT"]

INSTALL_HINT = ("voice cloning needs the clone extra: pip install 'greentts[clone]' && "
                "pip install --no-deps kokoro==0.9.4 (or run `make install`)")


def require(module: str) -> ModuleType:
    """Import an optional dependency of cloning, or raise :class:`ModelError` saying what to install."""
    if module == "torch" and "torch" not in sys.modules:
        # Idle OpenMP threads sleep instead of spinning: with spinning, any other busy process (or the
        # engine's own onnxruntime workers) makes torch's parallel regions wait on descheduled threads;
        # measured here: a 2 s forward+backward step went from ~2 s to 15-40 s on 2 busy cores.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(f"{INSTALL_HINT} (missing: {exc.name or module})") from exc
