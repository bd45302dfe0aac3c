"""Budget rules against the real binary: shadow mode, pause at stop, run caps and loops and the
holds they refuse, one-time budgets, periods and manual resets, child defaults, and increase
requests from the agent that asks to the operator who decides, in the account and the report."""

from __future__ import annotations

import logging
import threading
from typing import Optional

import pytest
from conftest import TEST_RETRY, fresh_name
from purser_server import ADMIN_TOKEN, AGENT_SCOPE, PurserServer

from purser_client import (
    Action,
    AsyncPurser,
    BudgetExhausted,
    Conflict,
    EventStream,
    Forbidden,
    Halted,
    InvalidInput,
    NotFound,
    Pacer,
    Paused,
    Purser,
    Stopped,
)
from purser_client.models import AuditEntry, UsageOut


def turn(client: Purser, path: str, tokens: int, operation: Optional[str] = None) -> UsageOut:
    """One turn of an agent: a hold, settled."""
    with client.reserve(path, tokens=tokens) as hold:
        return hold.settle(tokens=tokens, operation=operation)


def next_entry(stream: EventStream, entry_type: str, timeout_s: float = 10.0) -> AuditEntry:
    """The first audit entry of `entry_type` on the stream, read in a thread so that a missing
    event fails the test instead of hanging it."""
    found: list[AuditEntry] = []

    def read() -> None:
        for event in stream:
            entry = event.audit_entry()
            if entry is not None and entry.type == entry_type:
                found.append(entry)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    assert found, f"no {entry_type} event within {timeout_s} s"
    return found[0]


def test_shadow_mode_warns_where_the_level_would_stop(
    admin: Purser, org: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"{org}/shadow"
    created = admin.put_account(path, limits={"tokens": 1000}, rules={"warn_only": True})
    assert created.rules is not None
    assert created.rules.warn_only == ["throttle", "degrade", "stop"]
    assert created.rules.at_stop == "stop"

    answer = admin.usage(path, tokens=990)
    action = answer.enforcement
    assert (answer.level, action.kind, action.would) == ("black", "warn", "stop")
    assert action.reason is not None and action.reason.startswith("shadow mode")
    with caplog.at_level(logging.WARNING, logger="purser_client"):
        assert admin.pace(answer).kind == "warn"
    assert "warn (would stop)" in caplog.text

    # Past the stop threshold, the hold is granted: shadow mode only warns.
    with admin.reserve(path, tokens=5) as hold:
        assert (hold.enforcement.kind, hold.enforcement.would) == ("warn", "stop")
        hold.settle(tokens=5)
    assert admin.account(path).consumed == {"tokens": 995}


def test_shadow_mode_of_some_levels_leaves_the_others(admin: Purser, org: str) -> None:
    path = f"{org}/shadow-stop"
    admin.put_account(path, limits={"tokens": 1000}, rules={"warn_only": ["stop"]})
    throttle = admin.usage(path, tokens=800).enforcement
    assert (throttle.kind, throttle.would, throttle.rate) == ("throttle", None, 0.5)
    stop = admin.usage(path, tokens=190).enforcement
    assert (stop.kind, stop.would) == ("warn", "stop")


def test_pause_at_stop_tells_the_agent_to_idle(admin: Purser, org: str) -> None:
    path = f"{org}/pausing"
    admin.put_account(path, limits={"tokens": 1000}, rules={"at_stop": "pause"})
    admin.pace(admin.usage(path, tokens=910))
    assert admin.degraded

    answer = admin.usage(path, tokens=80)
    action = answer.enforcement
    assert (answer.level, action.kind) == ("black", "pause")
    assert action.is_pause and action.is_stop
    assert action.reason == "paused at the stop threshold until the budget is raised"
    with pytest.raises(Paused) as paused:
        admin.pace(answer)
    assert isinstance(paused.value, Stopped) and not admin.degraded
    fired = paused.value.action.fired
    assert fired is not None and (fired.account, fired.dimension) == (path, "tokens")
    assert Pacer(raise_on_stop=False).wait_s(action) == 0.0

    # The figures refuse a hold, as at any stop, saying the account pauses; raising the budget
    # ends the pause.
    with pytest.raises(Halted) as denied:
        admin.reserve(path, tokens=50)
    assert isinstance(denied.value, BudgetExhausted) and denied.value.paused
    assert (denied.value.account, denied.value.dimension) == (path, "tokens")
    raised = admin.put_account(path, limits={"tokens": 10_000})
    assert (raised.level, raised.enforcement.kind) == ("green", "continue")


def test_a_run_cap_refuses_holds_until_a_new_run(admin: Purser, org: str) -> None:
    path = f"{org}/capped"
    admin.put_account(path, limits={"tokens": 1000}, rules={"run": {"max_turns": 2}})
    assert admin.pace(turn(admin, path, 1)).kind == "continue"
    capped = turn(admin, path, 1)
    assert (capped.level, capped.enforcement.kind, capped.fired) == ("black", "stop", None)
    with pytest.raises(Stopped) as stopped:
        admin.pace(capped)
    assert str(stopped.value) == f"stop: {path} stopped (turns): the run made 2 turns, its cap"

    halted = admin.account(path)
    assert halted.halt is not None and (halted.halt.cap, halted.halt.stops) == ("turns", True)
    assert halted.rules is not None and halted.rules.run is not None
    assert (halted.rules.run.max_turns, halted.rules.run.turns) == (2, 2)
    with pytest.raises(Halted) as refused:
        admin.reserve(path, tokens=1)
    error = refused.value
    assert (error.code, error.status, error.account) == ("run_capped", 409, path)
    assert not error.paused
    assert isinstance(error, BudgetExhausted) and error.dimension is None

    restarted = admin.start_run(path)
    assert restarted.halt is None and restarted.enforcement.kind == "continue"
    assert restarted.rules is not None and restarted.rules.run is not None
    assert restarted.rules.run.turns == 0
    admin.reserve(path, tokens=1).void()

    with pytest.raises(Conflict) as no_caps:
        admin.start_run(org)
    assert (no_caps.value.code, no_caps.value.status) == ("no_run_caps", 409)


def test_a_capped_account_that_pauses_refuses_holds_as_paused(admin: Purser, org: str) -> None:
    path = f"{org}/capped-pause"
    rules = {"at_stop": "pause", "run": {"max_turns": 1}}
    admin.put_account(path, limits={"tokens": 1000}, rules=rules)
    action = turn(admin, path, 1).enforcement
    assert action.kind == "pause" and action.reason is not None and "turns" in action.reason
    with pytest.raises(Halted) as refused:
        admin.reserve(path, tokens=1)
    assert (refused.value.code, refused.value.account) == ("paused", path)
    assert refused.value.paused


def test_a_loop_of_near_identical_reports_stops_the_run(admin: Purser, org: str) -> None:
    path = f"{org}/looping"
    loop = {"repeats": 3, "window_s": 60, "stop": True}
    shown = admin.put_account(path, limits={"tokens": 10_000}, rules={"run": {"loop": loop}})
    assert shown.rules is not None and shown.rules.run is not None
    shown_loop = shown.rules.run.loop
    assert shown_loop is not None
    assert (shown_loop.repeats, shown_loop.window_s, shown_loop.stop) == (3, 60.0, True)

    kinds = [turn(admin, path, 100, "search").enforcement.kind for _ in range(3)]
    assert kinds == ["continue", "continue", "stop"]
    halt = admin.account(path).halt
    assert halt is not None and (halt.cap, halt.stops) == ("loop", True)
    assert halt.detail == "3 near-identical reports (operation search) within 60 s"


def test_a_one_time_budget_expires(admin: Purser, org: str) -> None:
    path = f"{org}/one-time"
    since = admin.put_account(path, limits={"tokens": 1000}).seq
    with admin.events(prefix=path, last_event_id=since, read_timeout_s=5) as stream:
        # The server's clock halts the account on its next tick.
        admin.put_account(path, rules={"expires_at": "2020-01-01T00:00:00Z"})
        entry = next_entry(stream, "run_cap")
    assert (entry.account, entry.actor) == (path, "clock")
    assert entry.data == {"cap": "expired", "stops": True}
    with pytest.raises(Halted) as refused:
        admin.reserve(path, tokens=1)
    assert (refused.value.code, refused.value.account) == ("budget_expired", path)
    expired = admin.account(path)
    assert expired.halt is not None and expired.halt.cap == "expired"
    assert expired.rules is not None and expired.rules.expires_at is not None
    assert expired.rules.expires_at.year == 2020


def test_periods_keep_usage_and_a_manual_reset(admin: Purser, org: str) -> None:
    path = f"{org}/windowed"
    period = {"every": "quarter", "fiscal_start_month": 2}
    created = admin.put_account(path, limits={"tokens": 1000}, period=period)
    assert created.period is not None and created.period.every == "quarter"
    renews_at = created.period.renews_at
    assert renews_at is not None and (renews_at.month % 3, renews_at.day) == (2, 1)

    admin.usage(path, tokens=600)
    with pytest.raises(InvalidInput) as unsaid:
        admin.put_account(path, period={"every": "month"})
    assert (unsaid.value.code, unsaid.value.field) == ("keep_usage_required", "keep_usage")
    kept = admin.put_account(path, period={"every": "month"}, keep_usage=True)
    assert kept.period is not None and kept.period.every == "month"
    assert kept.consumed == {"tokens": 600}

    reset = admin.reset_usage(path)
    assert (reset.consumed, reset.level) == ({"tokens": 0}, "green")
    assert "usage_reset" in [entry.type for entry in admin.audit(prefix=path)]

    admin.usage(path, tokens=100)
    weekly = admin.put_account(path, period={"every": "week"}, keep_usage=False)
    assert weekly.period is not None and weekly.period.every == "week"
    assert weekly.consumed == {"tokens": 0}

    lifetime = admin.put_account(
        f"{org}/lifetime", limits={"tokens": 1000}, period={"every": "lifetime"}
    )
    assert lifetime.period is not None
    assert (lifetime.period.every, lifetime.period.renews_at) == ("lifetime", None)


def test_child_defaults_give_new_children_their_limits(admin: Purser, org: str) -> None:
    parent = f"{org}/team"
    defaults = {"child_defaults": {"tokens": 250}}
    shown = admin.put_account(parent, limits={"tokens": 10_000}, rules=defaults)
    assert shown.rules is not None and shown.rules.child_defaults == {"tokens": 250}
    assert admin.put_account(f"{parent}/agent-1").limits == {"tokens": 250}
    assert admin.put_account(f"{parent}/agent-2", limits={"tokens": 40}).limits == {"tokens": 40}
    removed = admin.put_account(parent, rules={})
    assert removed.rules is None


def test_an_increase_request_asked_by_an_agent_and_approved(admin: Purser, agent: Purser) -> None:
    admin.put_account(AGENT_SCOPE.split("/")[0], limits={"tokens": 10_000_000})
    admin.put_account(AGENT_SCOPE, limits={"tokens": 1_000_000})
    path = f"{AGENT_SCOPE}/{fresh_name('asker')}"
    admin.put_account(path, limits={"tokens": 1000})

    asked = agent.request_increase(path, {"tokens": 500}, "the review needs one more pass")
    assert asked.id.startswith("req_") and asked.reason == "the review needs one more pass"
    assert (asked.account, asked.amount, asked.state) == (path, {"tokens": 500}, "pending")
    assert (asked.decided_at, asked.limits) == (None, None)
    assert asked.id in [request.id for request in agent.increase_requests()]
    with pytest.raises(Forbidden):
        agent.approve_request(asked.id)

    approved = admin.approve_request(asked.id, note="granted for the review")
    assert (approved.state, approved.note) == ("approved", "granted for the review")
    assert approved.limits == {"tokens": 1500}
    assert approved.decided_at is not None and approved.decided_at >= approved.requested_at
    assert admin.account(path).limits == {"tokens": 1500}
    assert agent.increase_request(asked.id).state == "approved"
    assert asked.id not in [request.id for request in admin.increase_requests()]
    assert asked.id in [request.id for request in admin.increase_requests("all")]
    # The same decision again (a retry) answers the request; the other one is refused.
    assert admin.approve_request(asked.id).state == "approved"
    assert admin.account(path).limits == {"tokens": 1500}
    with pytest.raises(Conflict) as again:
        admin.reject_request(asked.id)
    assert again.value.code == "request_decided"
    # Asking again under the first ask's key finds that request.
    keyed = admin.request_increase(path, {"tokens": 10}, "once", idempotency_key="ask-once")
    assert admin.request_increase(path, {"tokens": 10}, "once", idempotency_key="ask-once").id == keyed.id


def test_an_increase_beyond_the_pool_waits_and_is_rejected(admin: Purser, org: str) -> None:
    path = f"{org}/asker"
    admin.put_account(path, limits={"tokens": 1000})
    too_much = admin.request_increase(path, {"tokens": 5_000_000}, "a much larger corpus")
    with pytest.raises(Conflict) as short:
        admin.approve_request(too_much.id)
    assert short.value.code == "insufficient_pool"
    assert (short.value.account, short.value.dimension) == (org, "tokens")
    assert admin.increase_request(too_much.id).state == "pending"

    rejected = admin.reject_request(too_much.id, note="split the corpus instead")
    assert (rejected.state, rejected.note) == ("rejected", "split the corpus instead")
    assert rejected.limits is None
    assert admin.account(path).limits == {"tokens": 1000}
    with pytest.raises(NotFound) as missing:
        admin.increase_request("req_999999999")
    assert (missing.value.code, missing.value.status) == ("request_not_found", 404)


def test_the_report_shows_rules_and_requests(admin: Purser, org: str) -> None:
    path = f"{org}/reported"
    capped_rules = {"at_stop": "pause", "run": {"max_turns": 1}}
    admin.put_account(path, limits={"tokens": 1000}, rules=capped_rules)
    turn(admin, path, 1)
    asked = admin.request_increase(path, {"tokens": 100}, "one more turn")
    admin.reject_request(asked.id, note="not today")

    report = admin.report(org)
    rules = {shown.account: shown for shown in report.rules}
    assert list(rules) == [path]
    assert rules[path].rules == ["pauses at stop", "run cap 1 turns"]
    assert rules[path].halt == "stopped (turns): the run made 1 turns, its cap"
    assert rules[path].expires_at is None
    [request] = report.requests
    assert (request.id, request.account, request.amount) == (asked.id, path, {"tokens": 100})
    assert (request.reason, request.state) == ("one more turn", "rejected")
    assert request.note == "not today"


def test_pace_on_pause_and_run_caps_without_a_server() -> None:
    reason = "acme/wf stopped (wall_time): the run passed its wall time of 60 s"
    with pytest.raises(Stopped) as stopped:
        Pacer().wait_s(Action(kind="stop", reason=reason))
    assert str(stopped.value) == f"stop: {reason}" and not isinstance(stopped.value, Paused)
    pacer = Pacer()
    pacer.degraded = True
    with pytest.raises(Paused) as paused:
        pacer.wait_s(Action(kind="pause", reason="paused"))
    assert str(paused.value) == "pause: paused" and not pacer.degraded


@pytest.mark.asyncio
async def test_the_async_client_has_the_rules_methods(server: PurserServer, org: str) -> None:
    path = f"{org}/async"
    async with AsyncPurser(server.url, ADMIN_TOKEN, retries=TEST_RETRY) as client:
        await client.put_account(path, limits={"tokens": 1000}, rules={"run": {"max_turns": 1}})
        hold = await client.reserve(path, tokens=10)
        await hold.settle(tokens=10)
        with pytest.raises(Halted):
            await client.reserve(path, tokens=1)
        restarted = await client.start_run(path)
        assert restarted.halt is None
        assert (await client.reset_usage(path)).consumed == {"tokens": 0}

        first = await client.request_increase(path, {"tokens": 10}, "a retry")
        pending = await client.increase_requests()
        assert [request.id for request in pending if request.account == path] == [first.id]
        rejected = await client.reject_request(first.id)
        assert (rejected.state, rejected.note) == ("rejected", None)
        second = await client.request_increase(path, {"tokens": 20}, "two retries")
        approved = await client.approve_request(second.id)
        assert (approved.state, approved.limits) == ("approved", {"tokens": 1020})
        assert (await client.increase_request(first.id)).state == "rejected"
