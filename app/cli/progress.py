"""A progress bar for long CLI jobs whose total is known only as they run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import typer


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A `progress(done, total)` callback drawing one bar; the total may grow between calls."""
    with typer.progressbar(length=1, label=label, file=None) as bar:
        shown = 0

        def progress(done: int, total: int) -> None:
            nonlocal shown
            bar.length = max(total, 1)
            bar.update(done - shown)
            shown = done

        yield progress
