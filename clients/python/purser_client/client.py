"""`Purser`: the synchronous client. Thread-safe: one client may serve many threads (the HTTP
connections are pooled); the pacing state (`pace`, `degraded`) belongs to one agent loop."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Optional, TypeVar, Union, overload

import httpx

from . import _calls as calls
from ._calls import BatchResult, Call, UsageReport
from .errors import error_from_answer
from .events import EventStream
from .holds import Hold
from .models import (
    AccountOut,
    Action,
    AgentIn,
    AgentOut,
    AgentsOut,
    AllocateOut,
    AuditEntry,
    ChildIn,
    ClosedOut,
    DagIn,
    DagListOut,
    DagOut,
    ForecastOut,
    HeartbeatIn,
    InterruptedOut,
    LeaseOut,
    MeOut,
    OptimizerOut,
    PeriodIn,
    ProfileOut,
    ReportOut,
    RightsizeOut,
    RulesIn,
    SampleIn,
    SamplesOut,
    ScaleOut,
    Strategy,
    TaskStateOut,
    ThresholdsIn,
    UsageOut,
    VoidOut,
)
from .pacing import Decision, Pacer, action_of
from .retry import (
    MAX_REDIRECTS,
    RETRIED_EXCEPTIONS,
    Attempts,
    RetryPolicy,
    given_up,
    policy_of,
    redirect_of,
    retried_status,
)
from .retry import retry_after_of
from .rules import RuleMethods

T = TypeVar("T")
log = logging.getLogger("purser_client")

USER_AGENT = "purser-client-python/0.1"


def http_headers(token: Optional[str]) -> dict[str, str]:
    headers = {"user-agent": USER_AGENT, "content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


def env_settings(url: Optional[str], token: Optional[str]) -> tuple[str, Optional[str]]:
    """The server's URL and token: as given, else `PURSER_URL` and `PURSER_TOKEN`."""
    url = url or os.environ.get("PURSER_URL") or "http://127.0.0.1:7543"
    return url, token if token is not None else os.environ.get("PURSER_TOKEN")


class Purser(RuleMethods):
    """A client of one Purser server.

    `timeout` bounds each phase of each try (connect, write, read, waiting for a pooled
    connection); `retries` is a count or a `RetryPolicy`, whose `deadline_s` bounds a whole
    logical call, retries and waits included. The operations of budget rules (resets, runs,
    increase requests) come from `RuleMethods` (`purser_client.rules`)."""

    def __init__(
        self,
        url: str,
        token: Optional[str] = None,
        *,
        timeout: float = 10.0,
        retries: Union[int, RetryPolicy] = RetryPolicy(),
        pacer: Optional[Pacer] = None,
        max_connections: int = 32,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = httpx.Timeout(timeout)
        self.retry = policy_of(retries)
        self.pacer = pacer or Pacer()
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._http = httpx.Client(
            base_url=self.url, headers=http_headers(token), timeout=self.timeout, limits=limits
        )

    @classmethod
    def from_env(cls, url: Optional[str] = None, token: Optional[str] = None, **options: Any) -> Purser:
        """A client of `url` (else `PURSER_URL`) with `token` (else `PURSER_TOKEN`)."""
        url, token = env_settings(url, token)
        return cls(url, token, **options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Purser:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    # --- Sending -------------------------------------------------------------------------------

    def send(self, call: Call[T], *, deadline_s: Optional[float] = None) -> T:
        """Sends `call`, retrying what may be retried; raises a `PurserError` otherwise."""
        policy = self.retry if deadline_s is None else replace(self.retry, deadline_s=deadline_s)
        attempts = Attempts(policy, self.timeout)
        target = call.path
        params = call.params
        n_redirects = 0
        while True:
            retry_after: Optional[float] = None
            try:
                response = self._http.request(
                    call.method,
                    target,
                    content=call.body,
                    params=params,
                    timeout=attempts.try_timeout(),
                )
            except RETRIED_EXCEPTIONS as exc:
                failure: BaseException = exc
            else:
                location = redirect_of(response.status_code, response.headers)
                if location is not None and n_redirects < MAX_REDIRECTS:
                    target, params = location, None
                    n_redirects += 1
                    continue
                if response.status_code < 300:
                    return call.decode(response)
                failure = error_from_answer(response.status_code, response.content)
                if not retried_status(response.status_code):
                    raise failure
                retry_after = retry_after_of(response.headers)
            wait = attempts.next_wait(retry_after)
            if wait is None:
                raise given_up(failure) from failure
            log.debug("purser: %s %s failed (%r), again in %.3f s", call.method, call.path, failure, wait)
            time.sleep(wait)

    # --- Accounts ------------------------------------------------------------------------------

    def account(self, path: str) -> AccountOut:
        return self.send(calls.account(path))

    def accounts(self, prefix: Optional[str] = None, depth: Optional[int] = None) -> list[AccountOut]:
        return self.send(calls.accounts(prefix, depth))

    def put_account(
        self,
        path: str,
        *,
        limits: Optional[Mapping[str, int]] = None,
        thresholds: Union[ThresholdsIn, Mapping[str, float], None] = None,
        kind: Optional[str] = None,
        weight: Optional[float] = None,
        priority: Optional[int] = None,
        labels: Optional[Mapping[str, str]] = None,
        throttle_rate: Optional[float] = None,
        reserve: Optional[float] = None,
        period: Union[PeriodIn, Mapping[str, Any], None] = None,
        deadline: Union[datetime, str, None] = None,
        rules: Union[RulesIn, Mapping[str, Any], None] = None,
        keep_usage: Optional[bool] = None,
    ) -> AccountOut:
        """Creates or updates an account; only the fields given change. `rules` (a `RulesIn` or
        its dict) replace the account's rules whole (`{}` removes them); `keep_usage` is
        required when the period's unit changes: keep the current window's spending or reset it."""
        return self.send(
            calls.put_account(
                path,
                limits=limits,
                thresholds=thresholds,
                kind=kind,
                weight=weight,
                priority=priority,
                labels=labels,
                throttle_rate=throttle_rate,
                reserve=reserve,
                period=period,
                deadline=deadline,
                rules=rules,
                keep_usage=keep_usage,
            )
        )

    def close_account(self, path: str) -> ClosedOut:
        return self.send(calls.close_account(path))

    def allocate(
        self,
        path: str,
        strategy: Strategy,
        children: Sequence[Union[str, ChildIn, Mapping[str, Any]]],
        total: Optional[Mapping[str, int]] = None,
        *,
        min_share: Optional[float] = None,
        max_share: Optional[float] = None,
        initial_share: Optional[float] = None,
    ) -> AllocateOut:
        call = calls.allocate(
            path,
            strategy,
            children,
            total,
            min_share=min_share,
            max_share=max_share,
            initial_share=initial_share,
        )
        return self.send(call)

    def me(self) -> MeOut:
        """Who this client's token is, and the accounts it sees (`GET /v1/me`)."""
        return self.send(calls.me())

    # --- Usage and reservations ----------------------------------------------------------------

    def usage(
        self,
        account: str,
        usage: Optional[Mapping[str, int]] = None,
        /,
        *,
        idempotency_key: Optional[str] = None,
        operation: Optional[str] = None,
        work_units: Optional[int] = None,
        occurred_at: Union[datetime, str, None] = None,
        **amounts: int,
    ) -> UsageOut:
        """Reports usage that already happened: `usage("acme/wf-1", tokens=450)`. Counted once,
        whatever the retries: a key is generated when none is given."""
        call = calls.usage(
            account,
            calls.amounts_of(usage, amounts),
            idempotency_key=idempotency_key,
            operation=operation,
            work_units=work_units,
            occurred_at=occurred_at,
        )
        return self.send(call)

    def usage_batch(self, reports: Sequence[UsageReport]) -> list[BatchResult]:
        """Reports many at once, in batches of at most 10,000; each result is a usage answer
        or the `PurserError` of that report (returned, not raised)."""
        items = [calls.keyed_report(report) for report in reports]
        results: list[BatchResult] = []
        for start in range(0, len(items), calls.BATCH_REPORTS_MAX):
            chunk = items[start : start + calls.BATCH_REPORTS_MAX]
            answered = self.send(calls.usage_batch(chunk))
            results.extend(answered)
        return results

    def reserve(
        self,
        account: str,
        amount: Optional[Mapping[str, int]] = None,
        /,
        *,
        ttl_ms: Optional[int] = None,
        idempotency_key: Optional[str] = None,
        **amounts: int,
    ) -> Hold:
        """Holds an estimate before spending; raises `BudgetExhausted` when refused. The hold
        is a context manager that voids it unless settled."""
        held = calls.amounts_of(amount, amounts)
        call = calls.reserve(account, held, ttl_ms=ttl_ms, idempotency_key=idempotency_key)
        return Hold(self, self.send(call), account, held)

    def settle(
        self,
        reservation_id: str,
        usage: Optional[Mapping[str, int]] = None,
        /,
        *,
        operation: Optional[str] = None,
        work_units: Optional[int] = None,
        **amounts: int,
    ) -> UsageOut:
        call = calls.settle(
            reservation_id,
            calls.amounts_of(usage, amounts),
            operation=operation,
            work_units=work_units,
        )
        return self.send(call)

    def void(self, reservation_id: str) -> VoidOut:
        return self.send(calls.void(reservation_id))

    # --- Pacing --------------------------------------------------------------------------------

    def pace(self, decision: Decision, *, elapsed_s: Optional[float] = None) -> Action:
        """Obeys the action of an answer (see `purser_client.pacing`): sleeps on throttle, sets
        `degraded` on degrade, raises `Stopped` on stop (`Paused`, its subclass, on pause)."""
        action = action_of(decision)
        wait = self.pacer.wait_s(action, elapsed_s)
        if wait > 0:
            time.sleep(wait)
        self.pacer.rested()
        return action

    @property
    def degraded(self) -> bool:
        return self.pacer.degraded

    # --- Forecasts, reports, audit, events -----------------------------------------------------

    def forecast(self, path: str, dimension: str) -> ForecastOut:
        return self.send(calls.forecast(path, dimension))

    @overload
    def report(self, path: str, format: Literal["json"] = "json") -> ReportOut: ...
    @overload
    def report(self, path: str, format: Literal["markdown", "html"]) -> str: ...
    def report(self, path: str, format: str = "json") -> Union[ReportOut, str]:
        return self.send(calls.report(path, format))

    def audit(
        self,
        prefix: Optional[str] = None,
        since_seq: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> list[AuditEntry]:
        return self.send(calls.audit(prefix, since_seq, limit))

    def events(
        self,
        prefix: Optional[str] = None,
        *,
        last_event_id: Optional[int] = None,
        changes: bool = False,
        read_timeout_s: float = 45.0,
    ) -> EventStream:
        """The server-sent events under `prefix`, as an iterator that reconnects by itself
        (with backoff, resuming after the last event it gave with `Last-Event-ID`)."""
        return EventStream(
            self._http,
            prefix=prefix,
            last_event_id=last_event_id,
            changes=changes,
            policy=self.retry,
            connect_timeout_s=self.timeout.connect or 10.0,
            read_timeout_s=read_timeout_s,
        )

    def optimize(self, dry_run: bool = False) -> OptimizerOut:
        return self.send(calls.optimize(dry_run))

    # --- DAGs, workers, tasks ------------------------------------------------------------------

    def submit_dag(
        self, dag: Union[DagIn, Mapping[str, Any]], *, idempotency_key: Optional[str] = None
    ) -> DagOut:
        """Submits a DAG (a `DagIn` or its dict); a key is attached so a retry submits once."""
        return self.send(calls.submit_dag(dag, idempotency_key))

    # --- The fleet: profiles, agents, samples ---------------------------------------------------

    def profiles(self) -> list[ProfileOut]:
        return self.send(calls.profiles()).profiles

    def profile(self, name: str) -> ProfileOut:
        return self.send(calls.profile(name))

    def scale(self, profile: str) -> ScaleOut:
        """The replica count the Kubernetes HPA would set for the profile now."""
        return self.send(calls.scale(profile))

    def rightsize(self, profile: str) -> RightsizeOut:
        """Container requests as the Kubernetes VPA recommender computes them."""
        return self.send(calls.rightsize(profile))

    def samples(
        self, profile: str, samples: Sequence[Union[SampleIn, Mapping[str, Any]]]
    ) -> SamplesOut:
        return self.send(calls.samples(profile, samples))

    def register_agent(
        self,
        name: str,
        profile: str,
        *,
        version: Optional[str] = None,
        labels: Optional[dict[str, str]] = None,
        account: Optional[str] = None,
    ) -> AgentOut:
        """Registers `name` against a profile (again after a server restart); with `account`, a
        new account gets the profile's budget."""
        body = AgentIn(profile=profile, version=version, labels=labels, account=account)
        return self.send(calls.register_agent(name, body))

    def agent_heartbeat(
        self,
        name: str,
        *,
        status: Optional[str] = None,
        cpu_millicores: Optional[int] = None,
        memory_bytes: Optional[int] = None,
    ) -> AgentOut:
        """The agent is alive; send one within the server's heartbeat TTL (30 s by default)."""
        body = HeartbeatIn(
            status=status, cpu_millicores=cpu_millicores, memory_bytes=memory_bytes
        )
        return self.send(calls.agent_heartbeat(name, body))

    def agent(self, name: str) -> AgentOut:
        return self.send(calls.agent(name))

    def agents(
        self,
        profile: Optional[str] = None,
        after: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> AgentsOut:
        return self.send(calls.agents(profile, after, limit))

    def forget_agent(self, name: str) -> AgentOut:
        return self.send(calls.forget_agent(name))

    def dag(self, dag_id: str) -> DagOut:
        return self.send(calls.dag(dag_id))

    def dags(
        self,
        tenant: Optional[str] = None,
        state: Optional[str] = None,
        after: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> DagListOut:
        return self.send(calls.dags(tenant, state, after, limit))

    def cancel_dag(self, dag_id: str, reason: Optional[str] = None) -> DagOut:
        return self.send(calls.cancel_dag(dag_id, reason))

    def lease(self, machine: str, max_tasks: Optional[int] = None) -> LeaseOut:
        return self.send(calls.lease(machine, max_tasks))

    def interrupted(self, machine: str, reason: Optional[str] = None) -> InterruptedOut:
        return self.send(calls.interrupted(machine, reason))

    def heartbeat(
        self, task_id: str, attempt: Optional[int] = None, *, deadline_s: Optional[float] = None
    ) -> TaskStateOut:
        return self.send(calls.heartbeat(task_id, attempt), deadline_s=deadline_s)

    def checkpoint(self, task_id: str, checkpoint: str, attempt: Optional[int] = None) -> TaskStateOut:
        return self.send(calls.checkpoint(task_id, checkpoint, attempt))

    def complete(self, task_id: str, attempt: Optional[int] = None) -> TaskStateOut:
        return self.send(calls.complete(task_id, attempt))

    def fail(
        self,
        task_id: str,
        error: Optional[str] = None,
        *,
        attempt: Optional[int] = None,
        retryable: Optional[bool] = None,
    ) -> TaskStateOut:
        return self.send(calls.fail(task_id, error, attempt, retryable))
