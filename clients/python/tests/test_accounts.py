"""Accounts, allocation, forecasts, reports, the audit log, the optimizer, `me`, and the errors
each refusal raises."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TEST_RETRY, fresh_name, has_path
from purser_server import AGENT_SCOPE, PurserServer

from purser_client import (
    BudgetExhausted,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Purser,
    Unauthorized,
)
from purser_client.models import MoveRecommendationOut, RaiseRecommendationOut, ReportOut


def test_put_account_creates_and_updates_only_what_is_given(admin: Purser, org: str) -> None:
    path = f"{org}/wf-1"
    created = admin.put_account(
        path,
        limits={"tokens": 100_000},
        thresholds={"warn": 0.4, "stop": 0.97},
        kind="workflow",
        labels={"team": "research"},
        weight=2.0,
        period={"every": "month", "timezone": "Europe/Berlin"},
    )
    assert (created.path, created.kind, created.limits) == (path, "workflow", {"tokens": 100_000})
    assert (created.thresholds.warn, created.thresholds.stop) == (0.4, 0.97)
    assert created.labels == {"team": "research"} and created.weight == 2.0
    assert created.enforcement.kind == "continue" and created.level == "green"

    updated = admin.put_account(path, throttle_rate=0.25)
    assert updated.throttle_rate == 0.25 and updated.limits == {"tokens": 100_000}
    assert admin.account(path).seq == updated.seq


def test_accounts_lists_a_subtree_in_path_order(admin: Purser, org: str) -> None:
    admin.allocate(org, "equal", ["b", "a"], {"tokens": 200_000})
    admin.put_account(f"{org}/a/deep", limits={"tokens": 10})
    shallow = [account.path for account in admin.accounts(prefix=org)]
    assert shallow == [org, f"{org}/a", f"{org}/b"]
    deep = [account.path for account in admin.accounts(prefix=org, depth=2)]
    assert deep == [org, f"{org}/a", f"{org}/a/deep", f"{org}/b"]
    assert org in [account.path for account in admin.accounts()]


def test_allocate_sets_children_limits_from_the_pool(admin: Purser, org: str) -> None:
    answer = admin.allocate(
        org,
        "proportional",
        [{"name": "impl-1", "weight": 3.0}, "impl-2"],
        {"tokens": 400_000},
        max_share=0.9,
    )
    limits = {allocation.path: allocation.limits["tokens"] for allocation in answer.allocations}
    assert limits == {f"{org}/impl-1": 300_000, f"{org}/impl-2": 100_000}
    assert answer.pool["tokens"] == 600_000
    assert admin.account(org).children == ["impl-1", "impl-2"]


def test_close_account_returns_its_budget_and_refuses_a_parent(admin: Purser, org: str) -> None:
    admin.allocate(org, "equal", ["leaf"], {"tokens": 100_000})
    with pytest.raises(Conflict) as refused:
        admin.close_account(org)
    assert refused.value.status == 409
    closed = admin.close_account(f"{org}/leaf")
    assert closed.closed and closed.path == f"{org}/leaf"
    assert admin.account(org).pool["tokens"] == 1_000_000
    with pytest.raises(NotFound):
        admin.account(f"{org}/leaf")


def test_errors_carry_the_api_fields(server: PurserServer, admin: Purser, org: str) -> None:
    with pytest.raises(NotFound) as missing:
        admin.account(f"{org}/nope")
    assert missing.value.code == "account_not_found" and missing.value.status == 404
    assert f"{org}/nope" in missing.value.message

    with pytest.raises(InvalidInput) as invalid:
        admin.usage(org, tokens=-1)
    assert invalid.value.field == "usage.tokens" and invalid.value.status == 400

    with pytest.raises(Unauthorized) as unknown, Purser(server.url, "not-a-token-at-all-0000") as stranger:
        stranger.account(org)
    assert unknown.value.status == 401 and isinstance(unknown.value, Forbidden)

    with pytest.raises(BudgetExhausted) as denied:
        admin.reserve(org, tokens=999_999_999)
    error = denied.value
    assert (error.code, error.account, error.dimension) == ("budget_exhausted", org, "tokens")
    assert error.requested == 999_999_999 and error.available is not None
    assert error.available < 1_000_000


def test_an_agent_is_kept_to_its_scope(admin: Purser, agent: Purser, org: str) -> None:
    admin.put_account(AGENT_SCOPE.split("/")[0], limits={"tokens": 10_000_000})
    admin.put_account(AGENT_SCOPE, limits={"tokens": 1_000_000})
    assert agent.account(AGENT_SCOPE).path == AGENT_SCOPE
    with pytest.raises(Forbidden) as outside:
        agent.account(org)
    assert outside.value.status == 403
    with pytest.raises(Forbidden):
        agent.put_account(f"{AGENT_SCOPE}/x", limits={"tokens": 1})


def test_forecast_report_audit_and_optimizer(admin: Purser, org: str) -> None:
    admin.allocate(org, "equal", ["impl-1", "impl-2"], {"tokens": 200_000})
    for n in range(5):
        admin.usage(f"{org}/impl-1", tokens=1_000 + n, work_units=1)

    forecast = admin.forecast(f"{org}/impl-1", "tokens")
    assert forecast.dimension == "tokens" and forecast.consumed == 5_010
    assert forecast.limit == 100_000 and forecast.interval.low >= 0

    report = admin.report(org)
    assert isinstance(report, ReportOut) and report.path == org
    assert [account.path for account in report.accounts][:1] == [org]
    for recommendation in report.recommendations:
        assert isinstance(recommendation, (MoveRecommendationOut, RaiseRecommendationOut))
    markdown = admin.report(org, "markdown")
    assert markdown.startswith(f"# Budget report: {org}")
    assert "<html" in admin.report(org, "html").lower()

    entries = admin.audit(prefix=org)
    assert {"limit_change", "allocation"} & {entry.type for entry in entries}
    assert all(entry.account is None or entry.account.startswith(org) for entry in entries)
    later = admin.audit(prefix=org, since_seq=entries[0].seq, limit=1)
    assert len(later) == 1 and later[0].seq > entries[0].seq

    moves = admin.optimize(dry_run=True)
    assert moves.dry_run is True and isinstance(moves.moves, list)


def test_me_names_the_token(openapi: dict[str, Any], admin: Purser, agent: Purser) -> None:
    if not has_path(openapi, "/v1/me"):
        pytest.skip("this purser binary has no GET /v1/me yet (not in its /openapi.json)")
    me = admin.me()
    assert (me.name, me.role, me.scope) == ("admin", "admin", "")
    agent_me = agent.me()
    assert (agent_me.role, agent_me.scope) == ("agent", AGENT_SCOPE)
    assert all(account.path.startswith(AGENT_SCOPE) for account in agent_me.accounts)


def test_from_env_reads_url_and_token(
    server: PurserServer, org: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from purser_server import ADMIN_TOKEN

    monkeypatch.setenv("PURSER_URL", server.url)
    monkeypatch.setenv("PURSER_TOKEN", ADMIN_TOKEN)
    with Purser.from_env(retries=TEST_RETRY) as client:
        assert client.account(org).path == org
    assert fresh_name("x") != fresh_name("x")
