"""Holding off CPython's cyclic garbage collector while a big structure is built in a thread.

A full collection stops every thread, the event loop answering users included. Building a large
index (or parsing a large YAML file) allocates enough short-lived containers to trigger full
collections, each 100-200 ms at 50k phrases, although everything it allocates is freed by
reference counting anyway. So builds pause the collector and let it run afterwards.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_gc_lock = threading.Lock()
# Builds in progress, and whether the collector was on before the first of them began.
_gc_builds = 0
_gc_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause automatic collection until every concurrent build has left; nests and overlaps."""
    global _gc_builds, _gc_was_enabled
    with _gc_lock:
        if _gc_builds == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_builds += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_builds -= 1
            if _gc_builds == 0 and _gc_was_enabled:
                gc.enable()
