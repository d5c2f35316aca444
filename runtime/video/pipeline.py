"""Stages in threads joined by bounded queues, supervised from the caller's thread.

Why threads: decoding, the model and encoding all spend their time in native code that
releases the GIL (FFmpeg, swscale, x264, ONNX Runtime, numpy), so on separate threads
they overlap and the slowest stage sets the pace. Bounded queues keep memory flat.

Why the caller's thread only supervises: Python delivers SIGINT (KeyboardInterrupt) to
the main thread only, between bytecodes. If the main thread ran the model, a Ctrl-C
would wait for the current batch. Here it waits in short ``join`` timeouts, so Ctrl-C is
seen at once; it sets the stop event, and every queue wait polls that event (no thread
can hang on a full or empty queue). An exception in any stage (KeyboardInterrupt raised
inside ``process`` included) stops the others and is re-raised in the caller. A caller for
whom an interrupt is the normal end (live) passes ``on_interrupt``: the first one asks the
stages to finish instead, and only a second one stops them at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

POLL_S = 0.05  # how often a waiting stage checks the stop event
STOP_GRACE_S = 1.0  # how long the caller waits for stages to wind down after a stop


class Cancelled(Exception):
    """Raised inside a stage that waits on a queue while the pipeline is stopping."""


_END = object()


class Channel:
    """A bounded queue whose ``put`` and ``get`` give up when the pipeline stops."""

    def __init__(self, stop: threading.Event, maxsize: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, maxsize))
        self._stop = stop

    def put(self, item: Any) -> None:
        while True:
            if self._stop.is_set():
                raise Cancelled
            try:
                self._queue.put(item, timeout=POLL_S)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Tell the consumer no more items come."""
        self.put(_END)

    def get(self) -> Any:
        """The next item (``_END`` after ``close``); raises Cancelled when the pipeline stops."""
        while True:
            if self._stop.is_set():
                raise Cancelled
            try:
                return self._queue.get(timeout=POLL_S)
            except queue.Empty:
                continue

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self.get()
            if item is _END:
                return
            yield item


class StageClock:
    """Seconds a stage spent working (not waiting on its queues)."""

    def __init__(self) -> None:
        self.busy_s = 0.0

    @contextmanager
    def busy(self) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.busy_s += time.perf_counter() - t0


class Pipeline:
    """Runs named stage functions on threads; ``run`` supervises them from the caller's thread."""

    def __init__(self, name: str = "video") -> None:
        self.name = name  # the threads are called NAME-STAGE
        self.stop = threading.Event()
        self.clocks: dict[str, StageClock] = {}
        self._stages: list[tuple[str, Callable[[StageClock], None]]] = []
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def channel(self, maxsize: int) -> Channel:
        return Channel(self.stop, maxsize)

    def add(self, name: str, fn: Callable[[StageClock], None]) -> None:
        """Add a stage; ``fn(clock)`` runs on its own thread and should time its work with ``clock.busy()``."""
        self.clocks[name] = StageClock()
        self._stages.append((name, fn))

    def _run_stage(self, name: str, fn: Callable[[StageClock], None]) -> None:
        try:
            fn(self.clocks[name])
        except Cancelled:
            pass
        except BaseException as e:  # KeyboardInterrupt/SystemExit from a stage go to the caller too
            with self._lock:
                if self._error is None:
                    self._error = e
            self.stop.set()

    def run(
        self,
        on_tick: Callable[[], None] | None = None,
        tick_s: float = 0.1,
        on_interrupt: Callable[[KeyboardInterrupt], None] | None = None,
    ) -> None:
        """Start all stages and wait for them; re-raise the first stage error, or a KeyboardInterrupt.

        ``on_interrupt``: called with the first KeyboardInterrupt (Ctrl-C, or SIGTERM/SIGHUP
        as ``errors.Terminated``) instead of stopping; it should make the stages end, and
        supervision goes on until they have. A second interrupt stops them as usual."""
        threads = [
            threading.Thread(target=self._run_stage, args=(name, fn), name=f"{self.name}-{name}", daemon=True)
            for name, fn in self._stages
        ]
        for t in threads:
            t.start()
        try:
            while True:
                try:
                    alive = [t for t in threads if t.is_alive()]
                    if not alive or self._error is not None:
                        break
                    alive[0].join(timeout=tick_s)
                    if on_tick is not None:
                        on_tick()
                except KeyboardInterrupt as e:
                    if on_interrupt is None:
                        raise
                    handler, on_interrupt = on_interrupt, None
                    handler(e)
        except BaseException:
            self.stop.set()
            self._join(threads, STOP_GRACE_S)
            raise
        if self._error is not None:
            self.stop.set()
            self._join(threads, STOP_GRACE_S)
            error, self._error = self._error, None
            raise error
        if on_tick is not None:
            on_tick()

    @staticmethod
    def _join(threads: list[threading.Thread], budget_s: float) -> None:
        deadline = time.monotonic() + budget_s
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
