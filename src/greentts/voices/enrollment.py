"""The enrollment job handle (the jobs themselves: :mod:`greentts.serving.enrollment`).

An :class:`Enrollment` is the handle: ``status`` goes ``preview`` -> ``done`` (or ``error`` /
``cancelled``), ``meta`` is the voice's current metadata, ``wait()`` blocks until the end. The preview
is saved under the voice's name as soon as it exists, so the voice can be used while it is refined; the
refined table replaces it atomically.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Enrollment", "ProgressFn"]

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total): stages analyse, preview, refine, save


class Enrollment:
    """A running or finished enrollment. ``wait()`` returns the final metadata or raises its error."""

    def __init__(self, name: str, meta: dict[str, Any] | None = None, cached: bool = False) -> None:
        self.name = name
        self.cached = cached
        self.meta: dict[str, Any] = dict(meta or {})
        self.status: str = str(self.meta.get("status", "running"))
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._cancel = threading.Event()
        if cached:
            self._done.set()

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        if not self._done.wait(timeout):
            raise TimeoutError(f"enrollment of {self.name!r} still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.meta

    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """Stop refining: the preview (or the last good table) stays the saved voice."""
        self._cancel.set()

    def __repr__(self) -> str:
        sim = self.meta.get("similarity", {}).get("reached")
        return f"Enrollment({self.name!r}, status={self.status!r}, cached={self.cached}, similarity={sim})"
