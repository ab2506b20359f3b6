"""Jobs built on the engine: resumable JSONL batches (local or on Ray) and long-form narration.

Public entry points: :func:`load_tasks` + :func:`run_batch` with a :class:`LocalRenderer` (or
``greentts.cluster.ray_batch.RayRenderer``), and :func:`read_book` + :func:`narrate`.
"""

from .batch import BatchSummary, LocalRenderer, Manifest, run_batch
from .longform import Chapter, Narration, narrate, read_book
from .tasks import BadLine, Task, TaskDefaults, load_tasks, safe_output_name

__all__ = ["load_tasks", "Task", "TaskDefaults", "BadLine", "safe_output_name", "run_batch", "LocalRenderer",
           "Manifest", "BatchSummary", "read_book", "Chapter", "narrate", "Narration"]
