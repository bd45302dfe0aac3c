"""A worker: one machine of a pool that pulls DAG tasks and runs them.

    Worker(client, "local-0").run(handler)

loops: lease a task (`POST /v1/workers/{machine}:lease`); run `handler(run)` while a background
thread renews the lease every third of its TTL; then complete the task, or fail it when the
handler raised (retryable, unless it raised `PermanentFailure`). The handler may save
checkpoints (`run.checkpoint("step 3")`); a retried attempt finds the last one in
`run.resume_from`. When the server takes the task away (the lease ran out, a preemption, a
cancelled DAG), `run.lost` is set and the outcome is not reported. With no task to run, the
worker waits with backoff (`idle_min_s` doubling to `idle_max_s`, jittered); a server that does
not answer is waited for the same way, and an outcome it never heard of is counted lost (the
task runs again once its lease runs out). `stop()`, SIGINT or SIGTERM end the loop once the
running task is done; `until()` is asked whenever the worker idles.

`AsyncWorker` is the same over `AsyncPurser`, with an async handler.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import threading
from collections.abc import Awaitable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Generic, Optional, TypeVar, Union

from .errors import Conflict, NotFound, PurserError, ServerError, Unavailable
from .models import LeasedTaskOut

if TYPE_CHECKING:
    from .aio import AsyncPurser
    from .client import Purser

log = logging.getLogger("purser_client")

T = TypeVar("T")
E = TypeVar("E", bound=Union[threading.Event, asyncio.Event])

# The server keeps at most 1 KiB of a failure's text.
ERROR_TEXT_MAX = 1000


class PermanentFailure(Exception):
    """Raised by a handler: the task fails for good (no retry)."""


class LeaseLost(Exception):
    """The worker no longer holds the task: its lease ran out, it was preempted, or its DAG was
    cancelled. Whatever the handler does next is not counted."""


@dataclass
class WorkerStats:
    completed: int = 0
    failed: int = 0
    lost: int = 0
    idle_polls: int = 0

    def record(self, *, lost: bool, failed: bool) -> None:
        if lost:
            self.lost += 1
        elif failed:
            self.failed += 1
        else:
            self.completed += 1


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_MAX]


def _heartbeat_every_s(task: LeasedTaskOut, override: Optional[float]) -> float:
    return override if override is not None else max(0.05, task.lease_ttl_ms / 3000.0)


def _idle_wait_s(n_idle: int, idle_min_s: float, idle_max_s: float) -> float:
    ceiling = min(idle_max_s, idle_min_s * (2 ** min(n_idle, 30)))
    return random.uniform(ceiling / 2, ceiling)


class _RunFigures:
    """The leased task as both kinds of run show it, and what its outcomes mean."""

    lost: Union[threading.Event, asyncio.Event]

    def __init__(self, task: LeasedTaskOut) -> None:
        self.task = task

    @property
    def id(self) -> str:
        return self.task.id

    @property
    def attempt(self) -> int:
        return self.task.attempt

    @property
    def resume_from(self) -> Optional[str]:
        """The last checkpoint of an earlier attempt, or None."""
        return self.task.checkpoint

    @property
    def account(self) -> Optional[str]:
        """Where the task's own usage (its LLM calls) should be reported."""
        return self.task.account

    def outcome(
        self, failure: Optional[Exception], complete: Callable[[str, int], T], fail: Callable[..., T]
    ) -> T:
        """Reports the handler's outcome with `complete` or `fail` (the client's, sync or async):
        failed when it raised, retryable unless it raised `PermanentFailure`."""
        if failure is None:
            return complete(self.id, self.attempt)
        retryable = not isinstance(failure, PermanentFailure)
        return fail(self.id, _error_text(failure), attempt=self.attempt, retryable=retryable)

    def outcome_lost(self, exc: PurserError) -> None:
        # Taken away (409, 404), or no answer: the server hands the task out again once its
        # lease runs out.
        log.warning("purser: the outcome of %s attempt %d is lost: %s", self.id, self.attempt, exc)
        self.lost.set()

    def beat_failed(self, exc: PurserError) -> bool:
        """A heartbeat failed: True when the lease is gone (stop beating), False when the next
        beat may still make it within the TTL."""
        if isinstance(exc, (Conflict, NotFound)):
            log.warning("purser: %s attempt %d lost its lease: %s", self.id, self.attempt, exc)
            self.lost.set()
            return True
        log.warning("purser: heartbeat of %s failed: %s", self.id, exc)
        return False


class _WorkerBase(Generic[E]):
    """What both workers share: their settings and stats, `stop()`, and the decisions that
    wait on nothing."""

    def __init__(
        self,
        machine: str,
        idle_min_s: float,
        idle_max_s: float,
        heartbeat_every_s: Optional[float],
        stopping: E,
    ) -> None:
        self.machine = machine
        self.idle_min_s = idle_min_s
        self.idle_max_s = idle_max_s
        self.heartbeat_every_s = heartbeat_every_s
        self.stats = WorkerStats()
        self._stopping = stopping

    def stop(self) -> None:
        """Ends `run` once the running task (if any) is done."""
        self._stopping.set()

    def _idle_wait_s(self, n_idle: int) -> float:
        return _idle_wait_s(n_idle, self.idle_min_s, self.idle_max_s)

    def _every_s(self, task: LeasedTaskOut) -> float:
        return _heartbeat_every_s(task, self.heartbeat_every_s)

    def _lease_failed(self, exc: PurserError) -> None:
        log.warning("purser: leasing on %s failed: %s", self.machine, exc)


class TaskRun(_RunFigures):
    """What a handler is given: the leased task and a way to checkpoint it."""

    def __init__(self, client: Purser, task: LeasedTaskOut, stopping: threading.Event) -> None:
        super().__init__(task)
        self._client = client
        self._stopping = stopping
        self.lost = threading.Event()

    @property
    def stopping(self) -> bool:
        """The worker was asked to stop: a long handler may checkpoint and return early."""
        return self._stopping.is_set()

    def checkpoint(self, value: str) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.id)
        try:
            self._client.checkpoint(self.id, value, self.attempt)
        except (Conflict, NotFound) as exc:
            self.lost.set()
            raise LeaseLost(self.id) from exc


Handler = Callable[[TaskRun], Any]


class Worker(_WorkerBase[threading.Event]):
    def __init__(
        self,
        client: Purser,
        machine: str,
        *,
        idle_min_s: float = 0.05,
        idle_max_s: float = 2.0,
        heartbeat_every_s: Optional[float] = None,
    ) -> None:
        super().__init__(machine, idle_min_s, idle_max_s, heartbeat_every_s, threading.Event())
        self.client = client

    def run(
        self,
        handler: Handler,
        *,
        until: Optional[Callable[[], bool]] = None,
        handle_signals: bool = True,
    ) -> WorkerStats:
        restore = self._catch_signals() if handle_signals else {}
        try:
            n_idle = 0
            while not self._stopping.is_set():
                task = self._lease()
                if task is not None:
                    n_idle = 0
                    self.run_one(task, handler)
                    continue
                self.stats.idle_polls += 1
                if until is not None and until():
                    break
                self._stopping.wait(self._idle_wait_s(n_idle))
                n_idle += 1
        finally:
            for signum, previous in restore.items():
                signal.signal(signum, previous)
        return self.stats

    def run_one(self, task: LeasedTaskOut, handler: Handler) -> None:
        """Runs one leased task to its outcome, renewing its lease meanwhile."""
        run = TaskRun(self.client, task, self._stopping)
        done = threading.Event()
        beats = threading.Thread(
            target=self._heartbeats,
            args=(run, self._every_s(task), done),
            name=f"purser-heartbeat-{task.id}",
            daemon=True,
        )
        beats.start()
        failure: Optional[Exception] = None
        try:
            handler(run)
        except LeaseLost:
            run.lost.set()
        except Exception as exc:
            failure = exc
        finally:
            done.set()
            beats.join()
        if not run.lost.is_set():
            try:
                run.outcome(failure, self.client.complete, self.client.fail)
            except PurserError as exc:
                run.outcome_lost(exc)
        self.stats.record(lost=run.lost.is_set(), failed=failure is not None)

    def _lease(self) -> Optional[LeasedTaskOut]:
        """The next task, or None; a server that does not answer counts as no task (the loop
        idles with backoff and asks again) rather than ending the worker."""
        try:
            return self.client.lease(self.machine).task
        except (Unavailable, ServerError) as exc:
            self._lease_failed(exc)
            return None

    def _heartbeats(self, run: TaskRun, every_s: float, done: threading.Event) -> None:
        while not done.wait(every_s):
            try:
                self.client.heartbeat(run.id, run.attempt, deadline_s=every_s)
            except PurserError as exc:
                if run.beat_failed(exc):
                    return

    def _catch_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            if self._stopping.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt
            log.info("purser: signal %d, stopping after the running task", signum)
            self._stopping.set()

        return {
            signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
        }


# --- async -------------------------------------------------------------------------------------


class AsyncTaskRun(_RunFigures):
    def __init__(self, client: AsyncPurser, task: LeasedTaskOut, stopping: asyncio.Event) -> None:
        super().__init__(task)
        self._client = client
        self._stopping = stopping
        self.lost = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def checkpoint(self, value: str) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.id)
        try:
            await self._client.checkpoint(self.id, value, self.attempt)
        except (Conflict, NotFound) as exc:
            self.lost.set()
            raise LeaseLost(self.id) from exc


AsyncHandler = Callable[[AsyncTaskRun], Awaitable[Any]]


class AsyncWorker(_WorkerBase[asyncio.Event]):
    def __init__(
        self,
        client: AsyncPurser,
        machine: str,
        *,
        idle_min_s: float = 0.05,
        idle_max_s: float = 2.0,
        heartbeat_every_s: Optional[float] = None,
    ) -> None:
        super().__init__(machine, idle_min_s, idle_max_s, heartbeat_every_s, asyncio.Event())
        self.client = client

    async def run(
        self,
        handler: AsyncHandler,
        *,
        until: Optional[Callable[[], Union[bool, Awaitable[bool]]]] = None,
        handle_signals: bool = True,
    ) -> WorkerStats:
        caught = self._catch_signals() if handle_signals else []
        try:
            n_idle = 0
            while not self._stopping.is_set():
                task = await self._lease()
                if task is not None:
                    n_idle = 0
                    await self.run_one(task, handler)
                    continue
                self.stats.idle_polls += 1
                if until is not None:
                    finished = until()
                    if not isinstance(finished, bool):
                        finished = await finished
                    if finished:
                        break
                wait = self._idle_wait_s(n_idle)
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=wait)
                except asyncio.TimeoutError:
                    pass
                n_idle += 1
        finally:
            loop = asyncio.get_running_loop()
            for signum in caught:
                loop.remove_signal_handler(signum)
        return self.stats

    async def run_one(self, task: LeasedTaskOut, handler: AsyncHandler) -> None:
        run = AsyncTaskRun(self.client, task, self._stopping)
        beats = asyncio.create_task(self._heartbeats(run, self._every_s(task)))
        failure: Optional[Exception] = None
        try:
            await handler(run)
        except LeaseLost:
            run.lost.set()
        except Exception as exc:
            failure = exc
        finally:
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)
        if not run.lost.is_set():
            try:
                await run.outcome(failure, self.client.complete, self.client.fail)
            except PurserError as exc:
                run.outcome_lost(exc)
        self.stats.record(lost=run.lost.is_set(), failed=failure is not None)

    async def _lease(self) -> Optional[LeasedTaskOut]:
        try:
            return (await self.client.lease(self.machine)).task
        except (Unavailable, ServerError) as exc:
            self._lease_failed(exc)
            return None

    async def _heartbeats(self, run: AsyncTaskRun, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.client.heartbeat(run.id, run.attempt, deadline_s=every_s)
            except PurserError as exc:
                if run.beat_failed(exc):
                    return

    def _catch_signals(self) -> list[int]:
        if threading.current_thread() is not threading.main_thread():
            return []
        loop = asyncio.get_running_loop()
        caught: list[int] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, self._stopping.set)
            except (NotImplementedError, RuntimeError):
                continue
            caught.append(signum)
        return caught
