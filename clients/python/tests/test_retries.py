"""Retries: the same idempotency key across every try, so that a report counts once whatever
happens to the server or the network; backoff that honours Retry-After; what is never retried;
timeouts and deadlines."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import TEST_RETRY, fresh_name
from purser_server import ADMIN_TOKEN, PurserServer
from scripted_http import USAGE_ANSWER, Scripted, ScriptedServer
from tcp_proxy import TcpProxy

from purser_client import (
    AsyncPurser,
    BudgetExhausted,
    Purser,
    RetryPolicy,
    ServerError,
    Unavailable,
    UsageBuffer,
)


class RetryLog(logging.Handler):
    """Set when the client logs that a try failed and it will try again."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.retrying = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "again in" in record.getMessage():
            self.retrying.set()


@pytest.fixture()
def retry_log() -> Iterator[RetryLog]:
    handler = RetryLog()
    logger = logging.getLogger("purser_client")
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.fixture()
def scripted() -> Iterator[list[ScriptedServer]]:
    servers: list[ScriptedServer] = []
    yield servers
    for server in servers:
        server.close()


def in_thread(call: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["answer"] = call()
        except BaseException as exc:  # the test thread asserts on it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_answer_lost_and_server_killed_then_restarted_counts_once(
    restartable: PurserServer, retry_log: RetryLog
) -> None:
    """The server records the report and answers; the answer is lost; the server is killed
    (SIGKILL) and restarted on the same port and data; the client's retry, with the same key,
    finds the report already counted."""
    org = fresh_name("org")
    with Purser(restartable.url, ADMIN_TOKEN, retries=TEST_RETRY) as admin:
        admin.put_account(org, limits={"tokens": 1_000_000})
    proxy = TcpProxy("127.0.0.1", restartable.port or 0)
    try:
        proxy.drop_answers = 1
        proxy.on_drop = restartable.kill
        with Purser(proxy.url, ADMIN_TOKEN, retries=TEST_RETRY) as client:
            thread, outcome = in_thread(lambda: client.usage(org, tokens=450, cost_micros=11_000))
            assert proxy.dropped.wait(10), "the answer never came"
            assert retry_log.retrying.wait(10), "the client never retried"
            restartable.start()
            thread.join(20)
        assert "error" not in outcome, outcome
        answer = outcome["answer"]
        assert answer.duplicate is True and proxy.n_dropped == 1
    finally:
        proxy.close()
    with Purser(restartable.url, ADMIN_TOKEN) as admin:
        assert admin.account(org).consumed == {"tokens": 450, "cost_micros": 11_000}


def test_call_made_while_the_server_is_down_lands_after_restart(
    restartable: PurserServer, retry_log: RetryLog
) -> None:
    org = fresh_name("org")
    with Purser(restartable.url, ADMIN_TOKEN, retries=TEST_RETRY) as client:
        client.put_account(org, limits={"tokens": 1_000_000})
        restartable.kill()
        thread, outcome = in_thread(lambda: client.reserve(org, tokens=300))
        assert retry_log.retrying.wait(10)
        restartable.start()
        thread.join(20)
        assert "error" not in outcome, outcome
        hold = outcome["answer"]
        hold.settle(tokens=200)
        account = client.account(org)
    assert account.consumed == {"tokens": 200} and account.reserved == {"tokens": 0}


def test_buffer_batch_whose_answer_is_lost_is_counted_once(
    admin: Purser, org: str, proxy: TcpProxy
) -> None:
    proxy.drop_answers = 1
    errors: list[Any] = []
    with Purser(proxy.url, ADMIN_TOKEN, retries=TEST_RETRY) as client:
        with UsageBuffer(client, max_reports=100, batch_max=100, on_error=lambda report, error: errors.append(error)) as buffer:
            for n in range(250):
                buffer.add(org, tokens=1, idempotency_key=None)
        assert buffer.book.n_duplicates == 100 and proxy.n_dropped == 1
    assert errors == [] and admin.account(org).consumed["tokens"] == 250


def test_503_retry_after_is_honoured_with_the_same_key(scripted: list[ScriptedServer]) -> None:
    server = ScriptedServer(
        [
            Scripted(503, {"error": {"code": "overloaded", "message": "busy"}}, {"retry-after": "1"}),
            Scripted(200, USAGE_ANSWER),
        ]
    )
    scripted.append(server)
    with Purser(server.url, retries=TEST_RETRY) as client:
        answer = client.usage("acme/a", tokens=5)
    assert answer.seq == 7
    first, second = server.requests
    assert second["at"] - first["at"] >= 1.0
    assert first["body"]["idempotency_key"] == second["body"]["idempotency_key"]
    assert len(first["body"]["idempotency_key"]) == 32


def test_budget_exhausted_and_4xx_are_never_retried(scripted: list[ScriptedServer]) -> None:
    denial = {
        "error": {
            "code": "budget_exhausted",
            "message": "acme would reach its stop threshold in tokens",
            "account": "acme",
            "dimension": "tokens",
            "requested": 10,
            "available": 3,
            "limit": 1000,
            "spent": 990,
            "resets_at": "2026-12-01T00:00:00Z",
            "retry_after_s": 3600,
        }
    }
    server = ScriptedServer([Scripted(409, denial)])
    scripted.append(server)
    with Purser(server.url, retries=TEST_RETRY) as client, pytest.raises(BudgetExhausted) as denied:
        client.reserve("acme", tokens=10)
    assert len(server.requests) == 1
    error = denied.value
    assert (error.limit, error.spent, error.retry_after_s) == (1000, 990, 3600)
    assert error.resets_at is not None and error.resets_at.year == 2026


def test_5xx_is_retried_until_the_attempts_are_spent(scripted: list[ScriptedServer]) -> None:
    server = ScriptedServer([Scripted(500, {"error": {"code": "internal", "message": "boom"}})])
    scripted.append(server)
    policy = RetryPolicy(attempts=4, backoff_base_s=0.01, backoff_max_s=0.02)
    with Purser(server.url, retries=policy) as client, pytest.raises(ServerError) as failed:
        client.usage("acme/a", tokens=1)
    assert failed.value.status == 500 and len(server.requests) == 4
    keys = {request["body"]["idempotency_key"] for request in server.requests}
    assert len(keys) == 1


def test_a_slow_server_times_out_within_the_deadline(scripted: list[ScriptedServer]) -> None:
    server = ScriptedServer([Scripted(200, USAGE_ANSWER, delay_s=3.0)])
    scripted.append(server)
    policy = RetryPolicy(attempts=10, backoff_base_s=0.01, deadline_s=1.0)
    started = time.monotonic()
    with Purser(server.url, timeout=0.3, retries=policy) as client, pytest.raises(Unavailable):
        client.usage("acme/a", tokens=1)
    assert time.monotonic() - started < 2.0
    assert len(server.requests) >= 2


def test_async_client_retries_with_the_same_key(scripted: list[ScriptedServer]) -> None:
    server = ScriptedServer(
        [
            Scripted(502, {"error": {"code": "bad_gateway", "message": "proxy"}}),
            Scripted(200, USAGE_ANSWER, delay_s=2.0),
            Scripted(200, USAGE_ANSWER),
        ]
    )
    scripted.append(server)

    async def report() -> Any:
        async with AsyncPurser(server.url, timeout=0.5, retries=TEST_RETRY) as client:
            return await client.usage("acme/a", tokens=5, idempotency_key="async-key")

    answer = asyncio.run(report())
    assert answer.seq == 7 and len(server.requests) == 3
    assert {request["body"]["idempotency_key"] for request in server.requests} == {"async-key"}
