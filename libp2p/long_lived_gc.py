"""Cyclic garbage collection without long stalls in a process that holds many connections.

CPython's collector walks every tracked object in a full (generation-2) collection, and starts
one whenever the objects promoted to the oldest generation since the last one exceed a quarter
of those it held then. A listener holding 10 000 connections tracks about 600 000 objects (~60
per connection), so each full collection stops the event loop for 200-400 ms on this project's
2-core machine; opening a thousand streams at once is enough to trigger one (benchmarks/RESULTS.md,
issue #16 item 2: the echo p99 of 253 ms while 10 000 connections were held).

``FreezingCollector`` moves what survives each full collection into the permanent generation
(``gc.freeze()``), so the next full collection walks only the objects that became old since: its
pause is proportional to the recent churn, not to everything the process holds. Objects in the
permanent generation are still freed by reference counting; only reference cycles among them wait.
Those are collected the way go paces its collector (``GOGC=100``): once the frozen set has grown
by ``growth`` times its size after the last complete collection, it is unfrozen and the next full
collection walks everything once; when such a walk finds (almost) no garbage, the growth needed for
the next one doubles, so a node that only gains connections pays that pause a few times while it
grows and never once it holds them steadily.

It changes the whole process's collector, so the library never installs it by itself:
``libp2p serve --gc-growth 1`` does, and an application that runs a long-lived node can. Under
connection churn (the handshakes suite) it now costs nothing measurable: the listener makes no
full collection in seconds of churn, and a paired A/B with and without it gave 1.016x
(benchmarks/RESULTS.md, issue #16 item 4, hslife; an earlier build measured ~18% fewer)::

    collector = FreezingCollector()
    collector.install()
    ...
    collector.uninstall()

Python 3.14's incremental collector already bounds the pause: there ``install`` does nothing.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

from libp2p.errors import InvalidArgumentError

__all__ = ["FreezingCollector"]

log = logging.getLogger("libp2p.gc")

# Below this many frozen objects a complete collection is cheap (a few ms): no reason to wait.
_MIN_FROZEN = 50_000
# A complete collection that frees less than 1/_WORTHWHILE of what it walked doubles the growth
# that triggers the next one.
_WORTHWHILE = 100


class FreezingCollector:
    """Freezes the survivors of each full collection; unfreezes once the frozen set has grown by
    ``growth`` × its size after the last complete collection (see the module's docstring)."""

    def __init__(self, growth: float = 1.0) -> None:
        if not growth > 0:
            raise InvalidArgumentError("growth must be positive")
        self.growth = growth
        #: full collections that walked only the objects promoted since the previous one
        self.partial_collections = 0
        #: full collections that walked everything (after an unfreeze)
        self.complete_collections = 0
        self._baseline = 0
        #: an estimate of the frozen objects (exact after each complete collection)
        self._frozen = 0
        #: the growth that triggers the next complete collection: ``growth``, doubled after each
        #: complete collection that found (almost) no garbage, back to ``growth`` after one that did
        self._next_growth = growth
        self._complete_next = False
        self._installed = False

    @property
    def active(self) -> bool:
        """Whether the collector is hooked into ``gc`` (never on Python >= 3.14)."""
        return self._installed

    def install(self) -> None:
        """Hook into ``gc.callbacks`` (idempotent). The next full collection walks everything not
        frozen yet, and freezes what survives it (everything imported, say)."""
        if self._installed or sys.version_info >= (3, 14):
            return
        # The next full collection walks every object not frozen yet: it sets the baseline.
        self._complete_next = True
        gc.callbacks.append(self._on_gc)
        self._installed = True

    def uninstall(self) -> None:
        """Unhook, and unfreeze everything (including what others froze) so the ordinary collector
        sees it again."""
        if not self._installed:
            return
        gc.callbacks.remove(self._on_gc)
        self._installed = False
        gc.unfreeze()

    def collect_all(self) -> int:
        """A complete collection now (frozen objects included); returns what ``gc.collect`` does."""
        if self._installed:
            gc.unfreeze()
            self._complete_next = True
        return gc.collect()

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        if self._complete_next:
            gc.freeze()
            self._complete_next = False
            self.complete_collections += 1
            # One walk of the permanent generation's list, after a collection that walked it anyway.
            self._baseline = self._frozen = gc.get_freeze_count()
            # A set that grew by live objects (more connections) holds no more garbage for the next
            # walk to find: walking it all again pays only when the last walk found cycles.
            found = info["collected"] + info["uncollectable"]
            if found * _WORTHWHILE < self._baseline:
                self._next_growth *= 2.0
            else:
                self._next_growth = self.growth
            return
        # After a full collection the younger generations are empty: the oldest one holds exactly
        # its survivors, the objects about to be frozen (few: those promoted since the last one).
        self._frozen += len(gc.get_objects(generation=2))
        gc.freeze()
        self.partial_collections += 1
        if self._frozen > self._threshold():
            # The estimate only grows (frozen objects freed by reference counting are not seen):
            # count for real (``get_freeze_count`` walks a linked list of every frozen object).
            self._frozen = gc.get_freeze_count()
            if self._frozen > self._threshold():
                # Let the next full collection walk everything once, for the cycles among old objects.
                log.debug("unfreezing %d objects (%d after the last complete collection)", self._frozen, self._baseline)
                gc.unfreeze()
                self._complete_next = True

    def _threshold(self) -> float:
        return max(_MIN_FROZEN, self._baseline * (1.0 + self._next_growth))
