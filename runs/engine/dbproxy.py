"""One thread, one database connection, for a chunk's network phase.

The network calls run in an event loop on a helper thread; everything that
touches the database (cached answers, the database rate limiter, the cancel
check and heartbeat) runs on the chunk task's own thread, which serves a
queue while the loop works. So a chunk uses exactly the connection (and, in
tests, the transaction) of the task that runs it, and SQLite never sees two
writers from one worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable


class DatabaseProxy:
    def __init__(self):
        self._calls: queue.Queue = queue.Queue()

    async def call(self, fn: Callable, *args):
        """From the event loop: run ``fn(*args)`` on the serving thread and await its result."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._calls.put((fn, args, future))
        return await asyncio.wrap_future(future)

    def run(self, coroutine_factory: Callable, *, tick: Callable[[], None], interval: float):
        """Run ``coroutine_factory()`` in a loop on a helper thread while serving calls here.

        ``tick`` runs here every ``interval`` seconds (cancel check, heartbeat).
        Returns the coroutine's result or raises its exception.
        """
        outcome: dict = {}
        done = threading.Event()

        def network():
            try:
                outcome["result"] = asyncio.run(coroutine_factory())
            except BaseException as err:  # re-raised on the serving thread
                outcome["error"] = err
            finally:
                done.set()

        thread = threading.Thread(target=network, name="evalhub-chunk-network", daemon=True)
        thread.start()
        next_tick = time.monotonic() + interval
        while not done.is_set() or not self._calls.empty():
            try:
                fn, args, future = self._calls.get(timeout=0.02)
            except queue.Empty:
                pass
            else:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except BaseException as err:
                        future.set_exception(err)
            if time.monotonic() >= next_tick:
                tick()
                next_tick = time.monotonic() + interval
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("result")
