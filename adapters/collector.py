"""Python's cyclic garbage collector, paused while a batch job runs.

A batch's decoded events (ten thousand in a replay's batch, and the next ones read ahead) live
until the batch is written: long enough to be promoted to the collector's oldest generation, so
with the collector on, every batch or two sets off a full collection, which walks everything
alive, the projector's cached rows of every account included. That cost grows with the accounts:
at 100,000 accounts it was 27% of a replay's time (69.6 s against 51.0 s with the collector
paused, the same peak RSS, 388 MiB, and ten objects left for the collector at the end).

What runs under the pause makes no reference cycles worth collecting (events, postings and rows
are trees, freed by reference counting); what other threads make meanwhile waits for the
collector's next run. The collector runs again when the last pause ends (if it was on when the
first began).

The consumer and the direct ingest pause it for each batch they apply, from the first message
to the commit (``consumers.handlers.apply_batch``): a batch's events live until it is written,
so with the collector on they were promoted and set off a full collection, which walks every
cached account, every batch or two. Measured on a consumer over four months of remittances at
10,000 accounts, alternated three times: 225 -> 185 us of CPU a line (0.82x); on warm months of
a direct ingest, 149-185 -> 138-143. An earlier trial paused only the applying, not the commit,
and measured no difference end to end: the events were still promoted while the save was
written. What a batch (up to ``MAX_BATCH`` messages) makes in cycles waits for its end.

``Ledger.batch`` pauses it the same way, from the block's first use case to its save: the
library's own batches (the benchmarks' setup of the accounts, the demo) went on with the
collector on, and their cost a chunk grew with the accounts cached (see ``docs/benchmarks.md``,
"The curve").

A year-end run's chunks (``Ledger._credit_chunk``) pause it too: at 100,000 accounts in one
process, 31.5-35.0 s of CPU with it on (10 s of it in the collector), 20.0-25.5 paused.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The cyclic collector off for the block (nested and concurrent pauses count: it is on
    again when the last one ends, if it was on before the first)."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
