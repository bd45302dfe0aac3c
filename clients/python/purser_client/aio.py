"""`AsyncPurser`: the asynchronous client, with the methods of `Purser`, awaited. One client may
serve many tasks of one event loop; the pacing state (`pace`, `degraded`) belongs to one agent
loop. Each try also runs under the call's remaining deadline, so a call never outlasts it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Optional, TypeVar, Union, overload

import httpx

from . import _calls as calls
from ._calls import BatchResult, Call, UsageReport
from .client import env_settings, http_headers
from .errors import error_from_answer
from .events import AsyncEventStream
from .holds import AsyncHold, PendingHold
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
from .rules import AsyncRuleMethods

T = TypeVar("T")
log = logging.getLogger("purser_client")

# A try that outlasts the call's deadline is cut by `wait_for`: retried like a timeout.
RETRIED_ASYNC: tuple[type[Exception], ...] = (*RETRIED_EXCEPTIONS, asyncio.TimeoutError)


class AsyncPurser(AsyncRuleMethods):
    """The asynchronous client of one Purser server; see `Purser` for the arguments."""

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
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=http_headers(token), timeout=self.timeout, limits=limits
        )

    @classmethod
    def from_env(
        cls, url: Optional[str] = None, token: Optional[str] = None, **options: Any
    ) -> AsyncPurser:
        url, token = env_settings(url, token)
        return cls(url, token, **options)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPurser:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    # --- Sending -------------------------------------------------------------------------------

    async def send(self, call: Call[T], *, deadline_s: Optional[float] = None) -> T:
        """Sends `call`, retrying what may be retried; raises a `PurserError` otherwise."""
        policy = self.retry if deadline_s is None else replace(self.retry, deadline_s=deadline_s)
        attempts = Attempts(policy, self.timeout)
        target = call.path
        params = call.params
        n_redirects = 0
        while True:
            retry_after: Optional[float] = None
            try:
                response = await asyncio.wait_for(
                    self._http.request(
                        call.method,
                        target,
                        content=call.body,
                        params=params,
                        timeout=attempts.try_timeout(),
                    ),
                    timeout=max(0.001, attempts.remaining_s()),
                )
            except RETRIED_ASYNC as exc:
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
            await asyncio.sleep(wait)

    # --- Accounts ------------------------------------------------------------------------------

    async def account(self, path: str) -> AccountOut:
        return await self.send(calls.account(path))

    async def accounts(self, prefix: Optional[str] = None, depth: Optional[int] = None) -> list[AccountOut]:
        return await self.send(calls.accounts(prefix, depth))

    async def put_account(
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
        return await self.send(
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

    async def close_account(self, path: str) -> ClosedOut:
        return await self.send(calls.close_account(path))

    async def allocate(
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
        return await self.send(call)

    async def me(self) -> MeOut:
        return await self.send(calls.me())

    # --- Usage and reservations ----------------------------------------------------------------

    async def usage(
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
        call = calls.usage(
            account,
            calls.amounts_of(usage, amounts),
            idempotency_key=idempotency_key,
            operation=operation,
            work_units=work_units,
            occurred_at=occurred_at,
        )
        return await self.send(call)

    async def usage_batch(self, reports: Sequence[UsageReport]) -> list[BatchResult]:
        items = [calls.keyed_report(report) for report in reports]
        results: list[BatchResult] = []
        for start in range(0, len(items), calls.BATCH_REPORTS_MAX):
            chunk = items[start : start + calls.BATCH_REPORTS_MAX]
            answered = await self.send(calls.usage_batch(chunk))
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
    ) -> PendingHold:
        """`await client.reserve(...)` for the hold, or `async with client.reserve(...) as
        hold:` (voided on leaving unless settled). Raises `BudgetExhausted` when refused."""
        held = calls.amounts_of(amount, amounts)
        call = calls.reserve(account, held, ttl_ms=ttl_ms, idempotency_key=idempotency_key)

        async def create() -> AsyncHold:
            return AsyncHold(self, await self.send(call), account, held)

        return PendingHold(create())

    async def settle(
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
        return await self.send(call)

    async def void(self, reservation_id: str) -> VoidOut:
        return await self.send(calls.void(reservation_id))

    # --- Pacing --------------------------------------------------------------------------------

    async def pace(self, decision: Decision, *, elapsed_s: Optional[float] = None) -> Action:
        """As `Purser.pace`, sleeping without blocking the loop."""
        action = action_of(decision)
        wait = self.pacer.wait_s(action, elapsed_s)
        if wait > 0:
            await asyncio.sleep(wait)
        self.pacer.rested()
        return action

    @property
    def degraded(self) -> bool:
        return self.pacer.degraded

    # --- Forecasts, reports, audit, events -----------------------------------------------------

    async def forecast(self, path: str, dimension: str) -> ForecastOut:
        return await self.send(calls.forecast(path, dimension))

    @overload
    async def report(self, path: str, format: Literal["json"] = "json") -> ReportOut: ...
    @overload
    async def report(self, path: str, format: Literal["markdown", "html"]) -> str: ...
    async def report(self, path: str, format: str = "json") -> Union[ReportOut, str]:
        return await self.send(calls.report(path, format))

    async def audit(
        self,
        prefix: Optional[str] = None,
        since_seq: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> list[AuditEntry]:
        return await self.send(calls.audit(prefix, since_seq, limit))

    def events(
        self,
        prefix: Optional[str] = None,
        *,
        last_event_id: Optional[int] = None,
        changes: bool = False,
        read_timeout_s: float = 45.0,
    ) -> AsyncEventStream:
        """`async for event in client.events(...)`: reconnects as `Purser.events` does."""
        return AsyncEventStream(
            self._http,
            prefix=prefix,
            last_event_id=last_event_id,
            changes=changes,
            policy=self.retry,
            connect_timeout_s=self.timeout.connect or 10.0,
            read_timeout_s=read_timeout_s,
        )

    async def optimize(self, dry_run: bool = False) -> OptimizerOut:
        return await self.send(calls.optimize(dry_run))

    # --- DAGs, workers, tasks ------------------------------------------------------------------

    async def submit_dag(
        self, dag: Union[DagIn, Mapping[str, Any]], *, idempotency_key: Optional[str] = None
    ) -> DagOut:
        return await self.send(calls.submit_dag(dag, idempotency_key))

    # --- The fleet: profiles, agents, samples ---------------------------------------------------

    async def profiles(self) -> list[ProfileOut]:
        return (await self.send(calls.profiles())).profiles

    async def profile(self, name: str) -> ProfileOut:
        return await self.send(calls.profile(name))

    async def scale(self, profile: str) -> ScaleOut:
        """The replica count the Kubernetes HPA would set for the profile now."""
        return await self.send(calls.scale(profile))

    async def rightsize(self, profile: str) -> RightsizeOut:
        """Container requests as the Kubernetes VPA recommender computes them."""
        return await self.send(calls.rightsize(profile))

    async def samples(
        self, profile: str, samples: Sequence[Union[SampleIn, Mapping[str, Any]]]
    ) -> SamplesOut:
        return await self.send(calls.samples(profile, samples))

    async def register_agent(
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
        return await self.send(calls.register_agent(name, body))

    async def agent_heartbeat(
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
        return await self.send(calls.agent_heartbeat(name, body))

    async def agent(self, name: str) -> AgentOut:
        return await self.send(calls.agent(name))

    async def agents(
        self,
        profile: Optional[str] = None,
        after: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> AgentsOut:
        return await self.send(calls.agents(profile, after, limit))

    async def forget_agent(self, name: str) -> AgentOut:
        return await self.send(calls.forget_agent(name))

    async def dag(self, dag_id: str) -> DagOut:
        return await self.send(calls.dag(dag_id))

    async def dags(
        self,
        tenant: Optional[str] = None,
        state: Optional[str] = None,
        after: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> DagListOut:
        return await self.send(calls.dags(tenant, state, after, limit))

    async def cancel_dag(self, dag_id: str, reason: Optional[str] = None) -> DagOut:
        return await self.send(calls.cancel_dag(dag_id, reason))

    async def lease(self, machine: str, max_tasks: Optional[int] = None) -> LeaseOut:
        return await self.send(calls.lease(machine, max_tasks))

    async def interrupted(self, machine: str, reason: Optional[str] = None) -> InterruptedOut:
        return await self.send(calls.interrupted(machine, reason))

    async def heartbeat(
        self, task_id: str, attempt: Optional[int] = None, *, deadline_s: Optional[float] = None
    ) -> TaskStateOut:
        return await self.send(calls.heartbeat(task_id, attempt), deadline_s=deadline_s)

    async def checkpoint(
        self, task_id: str, checkpoint: str, attempt: Optional[int] = None
    ) -> TaskStateOut:
        return await self.send(calls.checkpoint(task_id, checkpoint, attempt))

    async def complete(self, task_id: str, attempt: Optional[int] = None) -> TaskStateOut:
        return await self.send(calls.complete(task_id, attempt))

    async def fail(
        self,
        task_id: str,
        error: Optional[str] = None,
        *,
        attempt: Optional[int] = None,
        retryable: Optional[bool] = None,
    ) -> TaskStateOut:
        return await self.send(calls.fail(task_id, error, attempt, retryable))
