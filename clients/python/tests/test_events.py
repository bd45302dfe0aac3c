"""The event stream: resumed with Last-Event-ID after a dropped connection, with no event twice
and none missing, and the `change` events of `changes=True`."""

from __future__ import annotations

import threading
from typing import Optional

from conftest import TEST_RETRY, fresh_name
from purser_server import ADMIN_TOKEN
from tcp_proxy import TcpProxy

from purser_client import Event, EventStream, Purser
from purser_client.events import SseParser


def take(stream: EventStream, n_events: int, timeout_s: float = 10.0) -> list[Event]:
    """The next `n_events` of the stream, read in a thread so that a missing event fails the
    test instead of hanging it."""
    taken: list[Event] = []

    def read() -> None:
        for event in stream:
            taken.append(event)
            if len(taken) == n_events:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    assert len(taken) == n_events, f"{len(taken)} of {n_events} events came"
    return taken


def open_children(admin: Purser, parent: str, names: range) -> None:
    for n in names:
        admin.put_account(f"{parent}/agent-{n}", limits={"tokens": 1000})


def test_events_resume_after_a_dropped_connection(admin: Purser, proxy: TcpProxy) -> None:
    parent = fresh_name("events")
    since = admin.put_account(parent, limits={"tokens": 10_000_000}).seq
    open_children(admin, parent, range(0, 6))
    with Purser(proxy.url, ADMIN_TOKEN, retries=TEST_RETRY) as client:
        with client.events(prefix=parent, last_event_id=since, read_timeout_s=5) as stream:
            before = take(stream, 4)
            assert proxy.sever() > 0
            open_children(admin, parent, range(6, 12))
            expected = [
                entry.seq
                for entry in admin.audit(prefix=parent, since_seq=since)
                if entry.type != "denial"
            ]
            after = take(stream, len(expected) - len(before))
            assert stream.reconnects >= 1
            assert stream.last_event_id == str(expected[-1])
    seqs = [event.seq for event in before + after]
    assert seqs == expected, "an event came twice or not at all"
    entry = after[-1].audit_entry()
    assert entry is not None and entry.account == f"{parent}/agent-11"
    assert entry.type == after[-1].type


def test_live_events_and_changes(admin: Purser) -> None:
    parent = fresh_name("live")
    admin.put_account(parent, limits={"tokens": 1000})
    with admin.events(prefix=parent, changes=True, read_timeout_s=5) as stream:
        arrived: list[Optional[Event]] = []
        reader = threading.Thread(target=lambda: arrived.extend(take(stream, 1)), daemon=True)
        reader.start()
        # Usage is not an audited event, but it is a committed change.
        while reader.is_alive():
            admin.usage(parent, tokens=1)
            reader.join(0.1)
    event = arrived[0]
    assert event is not None and event.type == "change" and event.id is None
    assert event.json()["seq"] > 0 and event.audit_entry() is None


def test_sse_parser_follows_the_format() -> None:
    parser = SseParser()
    lines = [": a comment", "id: 5", "event: alert", "data: {\"a\":", "data:1}", "retry: 250", ""]
    events = [parser.feed(line) for line in lines]
    assert events[:-1] == [None] * 6
    last = events[-1]
    assert last == Event(type="alert", data='{"a":\n1}', id="5") and parser.retry_ms == 250
    assert parser.feed("") is None  # a blank line with nothing gathered dispatches nothing
    assert parser.feed("data") is None and parser.feed("") == Event(type="message", data="")


def test_close_from_another_thread_ends_the_iteration(admin: Purser) -> None:
    parent = fresh_name("quiet")
    admin.put_account(parent, limits={"tokens": 10})
    stream = admin.events(prefix=parent)
    ended = threading.Event()

    def read() -> None:
        for _ in stream:
            pass
        ended.set()

    threading.Thread(target=read, daemon=True).start()
    # The reader blocks on a quiet stream until it is closed.
    assert not ended.wait(0.3)
    stream.close()
    assert ended.wait(5), "close() did not end the iteration"
