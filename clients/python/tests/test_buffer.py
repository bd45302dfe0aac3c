"""UsageBuffer: batches of reports with their keys, flushed by size and by time, per-item
errors surfaced, and a failed flush sent again without counting anything twice."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import TEST_RETRY, fresh_name
from purser_server import ADMIN_TOKEN, PurserServer

from purser_client import NotFound, Purser, PurserError, RetryPolicy, Unavailable, UsageBuffer


def test_reports_over_many_accounts_add_up(admin: Purser, org: str) -> None:
    agents = [f"{org}/agent-{n}" for n in range(10)]
    admin.allocate(org, "equal", [path.rsplit("/", 1)[1] for path in agents], {"tokens": 500_000})
    with UsageBuffer(admin, max_reports=1000) as buffer:
        keys = {buffer.add(agents[n % 10], tokens=2, cost_micros=3, operation="llm_call") for n in range(2500)}
    assert len(keys) == 2500
    assert (buffer.book.n_sent, buffer.book.n_errors, buffer.book.n_duplicates) == (2500, 0, 0)
    for path in agents:
        assert admin.account(path).consumed == {"tokens": 500, "cost_micros": 750}
    assert buffer.last_action is not None and buffer.last_action.kind == "continue"


def test_the_interval_flushes_a_partial_batch(admin: Purser, org: str) -> None:
    buffer = UsageBuffer(admin, max_reports=1000, flush_interval=0.05)
    try:
        for _ in range(5):
            buffer.add(org, tokens=1)
        deadline = time.monotonic() + 5.0
        while admin.account(org).consumed["tokens"] < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert admin.account(org).consumed["tokens"] == 5
    finally:
        buffer.close()


def test_refused_items_are_surfaced(admin: Purser, org: str) -> None:
    with UsageBuffer(admin) as collected:
        collected.add(f"{org}/nobody", tokens=1)
        collected.add(org, tokens=1)
    ((report, error),) = collected.errors
    assert report["account"] == f"{org}/nobody" and isinstance(error, NotFound)

    told: list[tuple[dict[str, Any], PurserError]] = []
    with UsageBuffer(admin, on_error=lambda report, error: told.append((report, error))) as buffer:
        buffer.add(org, tokens=-5)  # refused by the server: amounts are non-negative
    assert len(told) == 1 and told[0][1].field is not None and buffer.errors == []
    assert admin.account(org).consumed["tokens"] == 1


def test_a_flush_that_fails_is_sent_again_with_the_same_keys(restartable: PurserServer) -> None:
    org = fresh_name("org")
    impatient = RetryPolicy(attempts=2, backoff_base_s=0.01, deadline_s=0.5)
    with Purser(restartable.url, ADMIN_TOKEN, retries=impatient) as client:
        client.put_account(org, limits={"tokens": 1_000_000})
        restartable.kill()
        buffer = UsageBuffer(client, max_reports=100)
        for _ in range(300):
            buffer.add(org, tokens=1)
        with pytest.raises(Unavailable):
            buffer.flush(timeout_s=0.5)
        assert buffer.book.n_failed_flushes >= 1 and buffer.book.n_done == 0
        restartable.start()
        buffer.close(timeout_s=10)
        assert buffer.pending == [] and buffer.book.n_sent == 300
    with Purser(restartable.url, ADMIN_TOKEN, retries=TEST_RETRY) as admin:
        assert admin.account(org).consumed["tokens"] == 300


def test_add_after_close_is_refused(admin: Purser) -> None:
    buffer = UsageBuffer(admin)
    buffer.close()
    with pytest.raises(RuntimeError):
        buffer.add("anything", tokens=1)
    with pytest.raises(ValueError):
        UsageBuffer(admin, max_reports=20_000)
