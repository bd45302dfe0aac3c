"""`UsageBuffer`: usage reports queued in memory and sent in batches (`POST /v1/usage:batch`).

`add()` attaches an idempotency key to each report at once (a random prefix per buffer and a
counter: unique, and cheaper than a uuid per report) and returns it. Background senders flush
every `flush_interval` seconds, or as soon as `max_reports` are waiting; a backlog that built up
while a batch was on its way goes in one batch of up to `batch_max` (at most the server's
10,000), so that a busy agent pays fewer round trips. A batch that fails (the
client's own retries spent, the server down) goes back to the head of the queue unchanged, keys
and all, and is sent again after a pause: the server counts each key once, so nothing is lost
and nothing counted twice. A batch the server refuses as a whole (4xx) cannot succeed later:
each of its reports is handed to `on_error`, as is each item the server refused within a batch
answer (`on_error(report, error)`; without a callback they collect in `errors`, at most
`errors_max`, the rest counted in `n_errors`). At most `max_pending` reports wait: `add()`
blocks beyond that, so a dead server slows the agent down rather than filling its memory.

`AsyncUsageBuffer` is the same over `AsyncPurser`, with an asyncio task.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import httpx

from ._calls import BATCH_REPORTS_MAX, Call, amounts_of, dump_json, load_json
from .errors import PurserError, ServerError, Unavailable, error_of, unavailable
from .models import Action, ErrorDetail, UsageOut
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .aio import AsyncPurser
    from .client import Purser

Report = dict[str, Any]
ErrorCallback = Callable[[Report, PurserError], None]

# Actions from mildest to most severe: the buffer remembers the most severe of the last batch.
SEVERITY = {"continue": 0, "warn": 1, "throttle": 2, "degrade": 3, "pause": 4, "stop": 5}


def _read_results(response: httpx.Response) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = load_json(response.content)["results"]
    return results


def _batch_call(batch: list[Report]) -> Call[list[dict[str, Any]]]:
    body = dump_json({"reports": batch})
    return Call("POST", "/v1/usage:batch", _read_results, body)


class _Book:
    """The queue and the bookkeeping both buffers share; the caller holds the lock."""

    def __init__(
        self,
        *,
        max_reports: int,
        batch_max: int,
        flush_interval: float,
        max_pending: int,
        on_error: Optional[ErrorCallback],
        errors_max: int,
        retry: RetryPolicy,
    ) -> None:
        if not 1 <= max_reports <= BATCH_REPORTS_MAX:
            raise ValueError(f"max_reports must be 1 to {BATCH_REPORTS_MAX}, not {max_reports}")
        self.max_reports = max_reports
        self.batch_max = min(max(batch_max, max_reports), BATCH_REPORTS_MAX)
        self.flush_interval = flush_interval
        self.max_pending = max(max_pending, max_reports)
        self.on_error = on_error
        self.errors_max = errors_max
        self.retry = retry
        self.pending: list[Report] = []
        self.errors: list[tuple[Report, PurserError]] = []
        self.n_added = 0
        self.n_done = 0
        self.n_sent = 0
        self.n_duplicates = 0
        self.n_errors = 0
        self.n_failed_flushes = 0
        self.last_failure: Optional[PurserError] = None
        self.last_action: Optional[Action] = None
        self.closing = False
        self.flush_wanted = False
        self._key_prefix = uuid.uuid4().hex
        self._key_counter = itertools.count()

    def report(
        self,
        account: str,
        usage: Optional[Mapping[str, int]],
        amounts: Mapping[str, int],
        operation: Optional[str],
        work_units: Optional[int],
        occurred_at: Union[datetime, str, None],
        idempotency_key: Optional[str],
    ) -> Report:
        report: Report = {"account": account, "usage": amounts_of(usage, amounts)}
        if operation is not None:
            report["operation"] = operation
        if work_units is not None:
            report["work_units"] = work_units
        if occurred_at is not None:
            report["occurred_at"] = (
                occurred_at.isoformat() if isinstance(occurred_at, datetime) else occurred_at
            )
        report["idempotency_key"] = idempotency_key or f"{self._key_prefix}-{next(self._key_counter)}"
        return report

    def must_wait(self) -> bool:
        """Whether `add()` must wait for room (`max_pending` reports are waiting)."""
        return len(self.pending) >= self.max_pending and not self.closing

    def push(self, report: Report) -> bool:
        """Queues a report; True when it fills a batch (the senders should wake)."""
        if self.closing:
            raise RuntimeError("the usage buffer is closed")
        self.pending.append(report)
        self.n_added += 1
        return len(self.pending) == self.max_reports

    def not_sent(self, target: int, timeout_s: Optional[float]) -> Unavailable:
        """The error of a flush that did not see report number `target` answered in time."""
        return Unavailable(
            ErrorDetail(
                code="unavailable",
                message=f"{target - self.n_done} reports not sent within {timeout_s} s",
            )
        )

    def filling(self) -> bool:
        """Whether a sender should wait for more reports: no full batch, no flush asked for."""
        return len(self.pending) < self.max_reports and not self.flush_wanted

    def next_batch(self) -> Optional[list[Report]]:
        """The batch to send now: [] when nothing waits, None once closing."""
        if not self.pending:
            self.flush_wanted = False
            return None if self.closing else []
        return self.take()

    def take(self) -> list[Report]:
        batch = self.pending[: self.batch_max]
        del self.pending[: self.batch_max]
        return batch

    def put_back(self, batch: list[Report], failure: PurserError) -> None:
        self.pending[:0] = batch
        self.last_failure = failure
        self.n_failed_flushes += 1

    def retryable(self, failure: PurserError) -> bool:
        """Whether a failed batch may succeed later: a refusal (4xx) never will."""
        return isinstance(failure, (Unavailable, ServerError))

    def failed(self, batch: list[Report], exc: Exception) -> tuple[bool, list[tuple[Report, PurserError]]]:
        """A batch got no answer, or a refusal. One that may succeed later goes back to the
        queue (True); else its reports are refused, returned for `on_error` (False)."""
        failure = exc if isinstance(exc, PurserError) else unavailable(exc)
        if self.retryable(failure):
            self.put_back(batch, failure)
            return True, []
        return False, self.refused(batch, failure)

    def refused(self, batch: list[Report], failure: PurserError) -> list[tuple[Report, PurserError]]:
        self.n_done += len(batch)
        return self._errors([(report, failure) for report in batch])

    def settled(self, batch: list[Report], results: list[dict[str, Any]]) -> list[tuple[Report, PurserError]]:
        """Counts a batch's answer; returns the refused items for `on_error`."""
        self.n_done += len(batch)
        self.last_failure = None
        refused: list[tuple[Report, PurserError]] = []
        worst: Optional[dict[str, Any]] = None
        for report, item in zip(batch, results):
            if "error" in item:
                refused.append((report, error_of(ErrorDetail.model_validate(item["error"]), None)))
                continue
            self.n_sent += 1
            if item.get("duplicate"):
                self.n_duplicates += 1
            if worst is None or SEVERITY.get(item["action"]["kind"], 0) > SEVERITY.get(worst["action"]["kind"], 0):
                worst = item
        if worst is not None:
            self.last_action = UsageOut.model_validate(worst).enforcement
        return self._errors(refused)

    def _errors(self, refused: list[tuple[Report, PurserError]]) -> list[tuple[Report, PurserError]]:
        self.n_errors += len(refused)
        if self.on_error is not None:
            return refused
        room = max(0, self.errors_max - len(self.errors))
        self.errors.extend(refused[:room])
        return []

    def tell(self, refused: list[tuple[Report, PurserError]]) -> None:
        """Hands refused reports to `on_error` (outside the lock)."""
        if self.on_error is None:
            return
        for report, error in refused:
            self.on_error(report, error)

    def pause_after_failure_s(self) -> float:
        return self.retry.backoff(min(self.n_failed_flushes, 10), None)


class _Buffered:
    """What both buffers keep in their book, and show of it."""

    def __init__(
        self,
        retry: RetryPolicy,
        max_reports: int,
        batch_max: int,
        flush_interval: float,
        max_pending: int,
        on_error: Optional[ErrorCallback],
        errors_max: int,
    ) -> None:
        self.book = _Book(
            max_reports=max_reports,
            batch_max=batch_max,
            flush_interval=flush_interval,
            max_pending=max_pending,
            on_error=on_error,
            errors_max=errors_max,
            retry=retry,
        )

    @property
    def errors(self) -> list[tuple[Report, PurserError]]:
        return self.book.errors

    @property
    def last_action(self) -> Optional[Action]:
        """The most severe action of the last batch answered, for `client.pace`."""
        return self.book.last_action


class UsageBuffer(_Buffered):
    def __init__(
        self,
        client: Purser,
        max_reports: int = 1000,
        flush_interval: float = 0.1,
        *,
        max_pending: int = 100_000,
        batch_max: int = BATCH_REPORTS_MAX,
        senders: int = 2,
        on_error: Optional[ErrorCallback] = None,
        errors_max: int = 10_000,
    ) -> None:
        super().__init__(
            client.retry, max_reports, batch_max, flush_interval, max_pending, on_error, errors_max
        )
        self.client = client
        self._cond = threading.Condition()
        self._senders = [
            threading.Thread(target=self._send_loop, name=f"purser-usage-buffer-{n}", daemon=True)
            for n in range(max(1, senders))
        ]
        for sender in self._senders:
            sender.start()

    def add(
        self,
        account: str,
        usage: Optional[Mapping[str, int]] = None,
        /,
        *,
        operation: Optional[str] = None,
        work_units: Optional[int] = None,
        occurred_at: Union[datetime, str, None] = None,
        idempotency_key: Optional[str] = None,
        **amounts: int,
    ) -> str:
        """Queues one report; returns its idempotency key."""
        report = self.book.report(
            account, usage, amounts, operation, work_units, occurred_at, idempotency_key
        )
        with self._cond:
            while self.book.must_wait():
                self._cond.wait()
            if self.book.push(report):
                self._cond.notify_all()
        key: str = report["idempotency_key"]
        return key

    def flush(self, timeout_s: Optional[float] = 60.0) -> None:
        """Waits until every report added so far is answered; raises `Unavailable` (with the
        last failure as its cause) when that takes longer than `timeout_s`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            target = self.book.n_added
            self.book.flush_wanted = True
            self._cond.notify_all()
            while self.book.n_done < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise self.book.not_sent(target, timeout_s) from self.book.last_failure
                self._cond.wait(left)

    def close(self, timeout_s: Optional[float] = 60.0) -> None:
        """Flushes, then stops the senders. Reports that could not be sent stay in
        `pending` (the exception says how many), with their keys, to be sent again later."""
        try:
            self.flush(timeout_s)
        finally:
            with self._cond:
                self.book.closing = True
                self._cond.notify_all()
            for sender in self._senders:
                sender.join(timeout=self.client.retry.deadline_s)

    @property
    def pending(self) -> list[Report]:
        with self._cond:
            return list(self.book.pending)

    def __enter__(self) -> UsageBuffer:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def _next_batch(self) -> Optional[list[Report]]:
        """Waits for a batch to send (full, due, or asked for); None once closing."""
        with self._cond:
            due = time.monotonic() + self.book.flush_interval
            while self.book.filling():
                left = due - time.monotonic()
                if self.book.closing or left <= 0:
                    break
                self._cond.wait(left)
            batch = self.book.next_batch()
            if batch:
                self._cond.notify_all()
            return batch

    def _send_loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch and not self._send(batch) and self.book.closing:
                # Closing with the server away: what is left stays in `pending`.
                return

    def _send(self, batch: list[Report]) -> bool:
        """Sends one batch; False when it went back to the queue."""
        put_back = False
        try:
            results = self.client.send(_batch_call(batch))
        except Exception as exc:
            # Anything else (a closed client, a bug) must not kill the sender and strand the
            # queue: the batch goes back like any failure without an answer.
            with self._cond:
                put_back, refused = self.book.failed(batch, exc)
                self._cond.notify_all()
        else:
            with self._cond:
                refused = self.book.settled(batch, results)
                self._cond.notify_all()
        self.book.tell(refused)
        if put_back:
            time.sleep(self.book.pause_after_failure_s())
        return not put_back


class AsyncUsageBuffer(_Buffered):
    """`await buffer.add(...)`, `await buffer.flush()`, `await buffer.aclose()` or `async with`."""

    def __init__(
        self,
        client: AsyncPurser,
        max_reports: int = 1000,
        flush_interval: float = 0.1,
        *,
        max_pending: int = 100_000,
        batch_max: int = BATCH_REPORTS_MAX,
        on_error: Optional[ErrorCallback] = None,
        errors_max: int = 10_000,
    ) -> None:
        super().__init__(
            client.retry, max_reports, batch_max, flush_interval, max_pending, on_error, errors_max
        )
        self.client = client
        self._changed = asyncio.Condition()
        self._sender: Optional[asyncio.Task[None]] = None

    async def add(
        self,
        account: str,
        usage: Optional[Mapping[str, int]] = None,
        /,
        *,
        operation: Optional[str] = None,
        work_units: Optional[int] = None,
        occurred_at: Union[datetime, str, None] = None,
        idempotency_key: Optional[str] = None,
        **amounts: int,
    ) -> str:
        report = self.book.report(
            account, usage, amounts, operation, work_units, occurred_at, idempotency_key
        )
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_loop())
        async with self._changed:
            while self.book.must_wait():
                await self._changed.wait()
            if self.book.push(report):
                self._changed.notify_all()
        key: str = report["idempotency_key"]
        return key

    async def flush(self, timeout_s: Optional[float] = 60.0) -> None:
        async def answered(target: int) -> None:
            async with self._changed:
                self.book.flush_wanted = True
                self._changed.notify_all()
                await self._changed.wait_for(lambda: self.book.n_done >= target)

        target = self.book.n_added
        try:
            await asyncio.wait_for(answered(target), timeout=timeout_s)
        except asyncio.TimeoutError:
            raise self.book.not_sent(target, timeout_s) from self.book.last_failure

    async def aclose(self, timeout_s: Optional[float] = 60.0) -> None:
        try:
            await self.flush(timeout_s)
        finally:
            async with self._changed:
                self.book.closing = True
                self._changed.notify_all()
            if self._sender is not None:
                await self._sender

    async def __aenter__(self) -> AsyncUsageBuffer:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    async def _next_batch(self) -> Optional[list[Report]]:
        async with self._changed:
            due = time.monotonic() + self.book.flush_interval
            while self.book.filling():
                left = due - time.monotonic()
                if self.book.closing or left <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=left)
                except asyncio.TimeoutError:
                    break
            batch = self.book.next_batch()
            if batch:
                self._changed.notify_all()
            return batch

    async def _send_loop(self) -> None:
        while True:
            batch = await self._next_batch()
            if batch is None:
                return
            if batch and not await self._send(batch) and self.book.closing:
                return

    async def _send(self, batch: list[Report]) -> bool:
        """Sends one batch; False when it went back to the queue."""
        put_back = False
        try:
            results = await self.client.send(_batch_call(batch))
        except Exception as exc:
            async with self._changed:
                put_back, refused = self.book.failed(batch, exc)
                self._changed.notify_all()
        else:
            async with self._changed:
                refused = self.book.settled(batch, results)
                self._changed.notify_all()
        self.book.tell(refused)
        if put_back:
            await asyncio.sleep(self.book.pause_after_failure_s())
        return not put_back
