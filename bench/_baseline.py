"""An earlier commit beside this checkout, for the before/after benchmarks (before_after.py, startup.py):
a temporary git worktree, and rounds that alternate the two trees so that drift hits both alike."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


@contextmanager
def baseline_tree(commit: str) -> Iterator[Path]:
    """``commit`` checked out in a temporary worktree (removed afterwards); yields its root."""
    tree = Path(tempfile.mkdtemp(prefix="greentts-baseline-"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
                   check=True, capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)


def alternate(srcs: dict[str, Path], reps: int, run: Callable[[Path], T]) -> dict[str, list[T]]:
    """``run(src)`` for each tree, ``reps`` rounds, the order reversed every other round."""
    order = list(srcs.items())
    rounds: dict[str, list[T]] = {name: [] for name in srcs}
    for i in range(reps):
        for name, src in order[:: 1 if i % 2 == 0 else -1]:
            rounds[name].append(run(src))
            print(name, rounds[name][-1], flush=True)
    return rounds


def report(result: dict[str, object], commit: str, path: Path | None) -> None:
    """Print ``result`` (with the baseline commit) as JSON, and write it to ``path`` if given."""
    text = json.dumps({**result, "baseline_commit": commit}, indent=1)
    print(text)
    if path is not None:
        path.write_text(text)
