"""Usage reports, batches, holds as context managers, and pacing by the enforcement ladder."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import has_property

from purser_client import BudgetExhausted, Conflict, NotFound, Pacer, Purser, Stopped
from purser_client.models import Action, UsageIn


def consumed(client: Purser, path: str, dimension: str = "tokens") -> int:
    return client.account(path).consumed.get(dimension, 0)


def test_usage_is_counted_once_per_key(admin: Purser, org: str) -> None:
    first = admin.usage(org, tokens=450, cost_micros=11_000, idempotency_key="call-77")
    again = admin.usage(org, tokens=450, cost_micros=11_000, idempotency_key="call-77")
    assert (first.duplicate, again.duplicate, again.seq) == (False, True, first.seq)
    assert consumed(admin, org) == 450 and consumed(admin, org, "cost_micros") == 11_000

    # Without a key, each call is a new report with a key of its own.
    admin.usage(org, {"tokens": 50}, operation="llm_call", work_units=2)
    admin.usage(org, {"tokens": 50}, occurred_at="2026-01-01T00:00:00Z")
    account = admin.account(org)
    assert account.consumed["tokens"] == 550 and account.work_units == 2
    assert first.remaining["tokens"] == 1_000_000 - 450


def test_usage_batch_answers_in_order_with_item_errors(admin: Purser, org: str) -> None:
    reports: list[Any] = [
        {"account": org, "usage": {"tokens": 10}},
        UsageIn(account=f"{org}/missing", usage={"tokens": 5}),
        {"account": org, "usage": {"tokens": 20}, "idempotency_key": "batch-key-1"},
    ]
    results = admin.usage_batch(reports)
    assert [type(result).__name__ for result in results] == ["UsageOut", "NotFound", "UsageOut"]
    missing = results[1]
    assert isinstance(missing, NotFound) and missing.code == "account_not_found"
    assert consumed(admin, org) == 30
    again = admin.usage_batch([{"account": org, "usage": {"tokens": 20}, "idempotency_key": "batch-key-1"}])
    assert getattr(again[0], "duplicate") is True and consumed(admin, org) == 30


def test_hold_settled_in_a_with_block(admin: Purser, org: str) -> None:
    with admin.reserve(org, tokens=4000, cost_micros=60_000) as hold:
        assert hold.id.startswith("rsv_") and hold.amount == {"tokens": 4000, "cost_micros": 60_000}
        assert admin.account(org).reserved["tokens"] == 4000
        settled = hold.settle(tokens=3100, cost_micros=52_000)
    assert hold.state == "settled" and settled.remaining["tokens"] == 1_000_000 - 3100
    account = admin.account(org)
    assert (account.consumed["tokens"], account.reserved["tokens"]) == (3100, 0)
    assert account.open_reservations == 0


def test_hold_voided_when_the_block_raises(admin: Purser, org: str) -> None:
    with pytest.raises(RuntimeError, match="the model failed"):
        with admin.reserve(org, tokens=4000) as hold:
            raise RuntimeError("the model failed")
    assert hold.state == "void"
    account = admin.account(org)
    assert (account.consumed["tokens"], account.reserved["tokens"]) == (0, 0)


def test_hold_voided_when_the_block_ends_unsettled(admin: Purser, org: str) -> None:
    with admin.reserve(org, tokens=4000) as hold:
        pass
    assert hold.state == "void" and admin.account(org).reserved["tokens"] == 0
    with pytest.raises(Conflict) as voided:
        admin.settle(hold.id, tokens=1)
    assert voided.value.code == "reservation_void"


def test_hold_without_with(admin: Purser, org: str) -> None:
    hold = admin.reserve(org, {"tokens": 1000}, ttl_ms=120_000, idempotency_key="hold-key")
    assert admin.reserve(org, {"tokens": 1000}, idempotency_key="hold-key").answer.duplicate
    assert hold.enforcement.kind == "continue" and hold.expires_at is not None
    assert admin.account(org).reserved["tokens"] == 1000
    hold.void()
    hold.void()  # a no-op once voided
    assert admin.account(org).reserved["tokens"] == 0
    # Settling more than was held is allowed: the actual usage counts.
    second = admin.reserve(org, tokens=100)
    second.settle(tokens=250)
    assert consumed(admin, org) == 250


def test_a_denied_hold_raises_before_the_block(admin: Purser, org: str) -> None:
    entered = False
    with pytest.raises(BudgetExhausted):
        with admin.reserve(org, tokens=2_000_000):
            entered = True
    assert not entered


def test_pace_follows_the_ladder(admin: Purser, org: str) -> None:
    path = f"{org}/agent"
    admin.put_account(path, limits={"tokens": 1000})
    admin.pace(admin.usage(path, tokens=100))  # continue: no wait, marks the start of work
    warn = admin.usage(path, tokens=500)
    assert warn.enforcement.kind == "warn" and admin.pace(warn).kind == "warn"

    throttle = admin.usage(path, tokens=160)
    assert throttle.enforcement.kind == "throttle" and throttle.enforcement.rate == 0.5
    started = time.monotonic()
    admin.pace(throttle, elapsed_s=0.2)  # rate 0.5: as long again as the work took
    assert 0.18 <= time.monotonic() - started < 0.6

    degrade = admin.usage(path, tokens=150)
    assert degrade.enforcement.kind == "degrade"
    admin.pace(degrade)
    assert admin.degraded

    stop = admin.usage(path, tokens=50)
    with pytest.raises(Stopped) as stopped:
        admin.pace(stop)
    fired = stopped.value.action.fired
    assert fired is not None and (fired.account, fired.dimension) == (path, "tokens")

    # An operator raises the budget: the next answer lifts degrade.
    admin.put_account(path, limits={"tokens": 100_000})
    admin.pace(admin.usage(path, tokens=1))
    assert not admin.degraded


def test_pace_throttle_uses_the_time_since_the_last_pace() -> None:
    pacer = Pacer(throttle_base_s=0.3)
    action = Action(kind="throttle", rate=0.25)
    assert pacer.wait_s(action) == pytest.approx(0.9)  # no pace before: the base
    pacer.rested()
    time.sleep(0.05)
    assert 0.14 <= pacer.wait_s(action) < 0.3  # 3 x the ~0.05 s since
    assert Pacer(throttle_max_s=1.0).wait_s(action, elapsed_s=10.0) == 1.0
    quiet = Pacer(raise_on_stop=False)
    assert quiet.wait_s(Action(kind="stop")) == 0.0


def test_tightest_and_remaining_headers(openapi: dict[str, Any], admin: Purser, org: str) -> None:
    if not has_property(openapi, "UsageOut", "tightest"):
        pytest.skip("this purser binary does not send `tightest` yet (not in its /openapi.json)")
    path = f"{org}/tight"
    admin.put_account(path, limits={"tokens": 10_000})
    answer = admin.usage(path, tokens=1000)
    assert answer.tightest is not None
    tokens = next(item for item in answer.tightest if item.dimension == "tokens")
    assert tokens.account == path and tokens.remaining <= 9000
    assert answer.remaining_headers.get("tokens") == tokens.remaining
    hold = admin.reserve(path, tokens=100)
    assert hold.answer.tightest is not None
    hold.void()


def test_budget_error_extra_fields(openapi: dict[str, Any], admin: Purser, org: str) -> None:
    if not has_property(openapi, "ErrorDetail", "limit"):
        pytest.skip("this purser binary does not send limit/spent in budget errors yet")
    admin.usage(org, tokens=100)
    with pytest.raises(BudgetExhausted) as denied:
        admin.reserve(org, tokens=5_000_000)
    assert denied.value.limit == 1_000_000 and denied.value.spent == 100
