"""`GET /v1/events` as an iterator of `Event`s that survives dropped connections.

Each event the server streams carries `id:` = its sequence number. The stream remembers the id
of the last event it handed out and, when the connection drops or the server ends the stream
(a restart), reconnects with `Last-Event-ID`: the server sends what happened since, then the
live events, so nothing is missed and nothing comes twice. A partly received event is dropped
with the connection and comes again whole. Reconnects wait with backoff and full jitter; a
stream that finds no server for `give_up_after_s` in a row raises `Unavailable`. Refusals
(401, 403, 400) are raised at once.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Optional

import httpx

from ._calls import load_json
from .errors import error_from_answer, unavailable
from .models import AuditEntry
from .retry import RETRIED_EXCEPTIONS, RetryPolicy, retried_status

# Event types that carry no audit entry.
NOT_AUDIT = frozenset({"message", "change", "lagged"})


@dataclass(frozen=True)
class Event:
    """One server-sent event: `type` (`enforcement`, `alert`, `allocation`, `task`, ...,
    `change`, `lagged`), its `data`, and its `id` (the sequence number) when it has one."""

    type: str
    data: str
    id: Optional[str] = None

    @property
    def seq(self) -> Optional[int]:
        return int(self.id) if self.id is not None and self.id.isdigit() else None

    def json(self) -> Any:
        return load_json(self.data)

    def audit_entry(self) -> Optional[AuditEntry]:
        """The audit entry the event carries (every type but `change` and `lagged`)."""
        if self.type in NOT_AUDIT:
            return None
        return AuditEntry.model_validate_json(self.data)


class SseParser:
    """The server-sent events format, line by line (the WHATWG rules)."""

    def __init__(self) -> None:
        self.reset()
        self.retry_ms: Optional[int] = None

    def reset(self) -> None:
        self._type = ""
        self._data: list[str] = []
        self._id: Optional[str] = None

    def feed(self, line: str) -> Optional[Event]:
        """Takes one line (without its end); answers the event a blank line completes."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Optional[Event]:
        event = None
        if self._data:
            event = Event(type=self._type or "message", data="\n".join(self._data), id=self._id)
        self.reset()
        return event


class _Reconnects:
    """The reconnect state both streams share: what to ask for, and how long to wait."""

    def __init__(
        self,
        *,
        prefix: Optional[str],
        last_event_id: Optional[int],
        changes: bool,
        policy: RetryPolicy,
        connect_timeout_s: float,
        read_timeout_s: float,
        give_up_after_s: Optional[float],
    ) -> None:
        self.prefix = prefix
        self.changes = changes
        self.policy = policy
        self.last_event_id = None if last_event_id is None else str(last_event_id)
        self.timeout = httpx.Timeout(
            connect=connect_timeout_s, read=read_timeout_s, write=connect_timeout_s, pool=connect_timeout_s
        )
        self.give_up_after_s = policy.deadline_s if give_up_after_s is None else give_up_after_s
        self.parser = SseParser()
        self.n_failed = 0
        self.failing_since: Optional[float] = None
        self.reconnects = 0

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        headers = {"accept": "text/event-stream", "cache-control": "no-cache"}
        if self.last_event_id is not None:
            headers["last-event-id"] = self.last_event_id
        params: dict[str, str] = {}
        if self.prefix:
            params["prefix"] = self.prefix
        if self.changes:
            params["changes"] = "true"
        return http.build_request(
            "GET", "/v1/events", params=params, headers=headers, timeout=self.timeout
        )

    def connecting(self, last: Optional[httpx.Response]) -> None:
        """A connection is about to be made; a stream that had one before counts a reconnect."""
        if last is not None:
            self.reconnects += 1

    def refused(self, response: httpx.Response) -> Exception:
        """After a non-200 answer (read and closed): the error to raise, which ends the stream
        unless it is an `_EndOfStream` (an answer worth trying again)."""
        error = error_from_answer(response.status_code, response.content)
        if retried_status(response.status_code):
            return _EndOfStream(f"HTTP {response.status_code}")
        return error

    def feed(self, line: Optional[str]) -> Optional[Event]:
        """The next line read (None: the server ended the stream); the event it completes."""
        if line is None:
            raise _EndOfStream("the server ended the stream")
        return self.parser.feed(line)

    def retried(self, why: Exception) -> bool:
        """Whether a failed read or connect is worth another connection."""
        return isinstance(why, (*RETRIED_EXCEPTIONS, _EndOfStream))

    def dropped(self, why: BaseException) -> float:
        """The connection is gone: the wait before the next one; raises once it is hopeless."""
        self.parser.reset()
        self.n_failed += 1
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
        elif now - self.failing_since > self.give_up_after_s:
            raise unavailable(why) from why
        wait = self.policy.backoff(self.n_failed, None)
        if self.parser.retry_ms is not None:
            wait = max(wait, self.parser.retry_ms / 1000.0)
        return wait

    def handed_out(self, event: Event) -> Event:
        if event.id is not None:
            self.last_event_id = event.id
        self.n_failed = 0
        self.failing_since = None
        return event


def _shut_socket(response: Optional[httpx.Response]) -> None:
    """Shuts the connection's socket down, which wakes a read blocked on it in another thread
    (closing the response alone does not)."""
    if response is None:
        return
    network_stream = response.extensions.get("network_stream")
    sock = network_stream.get_extra_info("socket") if network_stream is not None else None
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _EndOfStream(Exception):
    """The server ended the stream (it is shutting down): reconnect."""


class _Stream:
    """What both streams keep apart from their HTTP client and lines."""

    def __init__(self, give_up_after_s: Optional[float], options: dict[str, Any]) -> None:
        self._state = _Reconnects(give_up_after_s=give_up_after_s, **options)
        self._response: Optional[httpx.Response] = None
        self._closed = False

    @property
    def last_event_id(self) -> Optional[str]:
        return self._state.last_event_id

    @property
    def reconnects(self) -> int:
        return self._state.reconnects


class EventStream(_Stream, Iterator[Event]):
    """The synchronous stream; `close()` (from any thread) ends the iteration."""

    def __init__(self, http: httpx.Client, *, give_up_after_s: Optional[float] = None, **options: Any) -> None:
        super().__init__(give_up_after_s, options)
        self._http = http
        self._lines: Optional[Iterator[str]] = None

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> Event:
        while not self._closed:
            try:
                lines = self._lines if self._lines is not None else self._connect()
                event = self._state.feed(next(lines, None))
            except Exception as why:
                # A close() from another thread shows here as whatever the read ran into.
                if self._closed:
                    break
                if not self._state.retried(why):
                    raise
                self._disconnect()
                time.sleep(self._state.dropped(why))
                continue
            if event is not None:
                return self._state.handed_out(event)
        raise StopIteration

    def _connect(self) -> Iterator[str]:
        self._state.connecting(self._response)
        response = self._http.send(self._state.request(self._http), stream=True)
        self._response = response
        if response.status_code != 200:
            response.read()
            response.close()
            raise self._state.refused(response)
        self._lines = response.iter_lines()
        return self._lines

    def _disconnect(self) -> None:
        self._lines = None
        if self._response is not None:
            try:
                self._response.close()
            except Exception:
                pass

    def close(self) -> None:
        """Ends the stream; from another thread, the blocked read ends at once too."""
        self._closed = True
        _shut_socket(self._response)
        self._disconnect()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncEventStream(_Stream, AsyncIterator[Event]):
    """The asynchronous stream; `await aclose()` ends the iteration."""

    def __init__(self, http: httpx.AsyncClient, *, give_up_after_s: Optional[float] = None, **options: Any) -> None:
        super().__init__(give_up_after_s, options)
        self._http = http
        self._lines: Optional[AsyncIterator[str]] = None

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> Event:
        while not self._closed:
            try:
                lines = self._lines if self._lines is not None else await self._connect()
                event = self._state.feed(await anext(lines, None))
            except Exception as why:
                if self._closed:
                    break
                if not self._state.retried(why):
                    raise
                await self._disconnect()
                await asyncio.sleep(self._state.dropped(why))
                continue
            if event is not None:
                return self._state.handed_out(event)
        raise StopAsyncIteration

    async def _connect(self) -> AsyncIterator[str]:
        self._state.connecting(self._response)
        response = await self._http.send(self._state.request(self._http), stream=True)
        self._response = response
        if response.status_code != 200:
            await response.aread()
            await response.aclose()
            raise self._state.refused(response)
        self._lines = response.aiter_lines()
        return self._lines

    async def _disconnect(self) -> None:
        self._lines = None
        if self._response is not None:
            try:
                await self._response.aclose()
            except Exception:
                pass

    async def aclose(self) -> None:
        self._closed = True
        await self._disconnect()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
