"""Every operation of the API as a `Call`: the request to send and how to read its answer.

The sync and async clients build the same calls here and differ only in how they send them, so
that the two cannot drift apart. Idempotency keys are attached here, once per logical call, and
every retry of the call sends the same body and so the same key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Generic, Optional, TypeVar, Union
from urllib.parse import quote

import json

import httpx
from pydantic import TypeAdapter

from .errors import PurserError, error_of
from .models import (
    AccountIn,
    AccountOut,
    AccountsOut,
    AgentIn,
    AgentOut,
    AgentsOut,
    AllocateIn,
    AllocateOut,
    Answer,
    AuditEntry,
    AuditOut,
    CheckpointIn,
    ChildIn,
    ClosedOut,
    DagIn,
    DagListOut,
    DagOut,
    ErrorBody,
    FailIn,
    ForecastOut,
    HeartbeatIn,
    InterruptedOut,
    LeaseIn,
    LeaseOut,
    MeOut,
    OptimizerOut,
    PeriodIn,
    ProfileOut,
    ProfilesOut,
    ReasonIn,
    ReportOut,
    Request,
    ReservationOut,
    RulesIn,
    ReserveIn,
    RightsizeOut,
    SampleIn,
    SamplesIn,
    SamplesOut,
    ScaleOut,
    SettleIn,
    Strategy,
    TaskOpIn,
    TaskStateOut,
    ThresholdsIn,
    UsageIn,
    UsageOut,
    VoidOut,
)
from .retry import new_key

T = TypeVar("T")
AnswerT = TypeVar("AnswerT", bound=Answer)

# The server takes at most this many reports in one batch.
BATCH_REPORTS_MAX = 10_000
REMAINING_HEADER = "purser-remaining-"

UsageReport = Union[UsageIn, Mapping[str, Any]]
BatchResult = Union[UsageOut, PurserError]


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    decode: Callable[[httpx.Response], T]
    body: Optional[bytes] = None
    params: Optional[dict[str, Union[str, int]]] = None


# pydantic's serializer writes JSON about three times faster than the standard library's, which
# matters for batches; reading, the standard library is as fast.
_ANY = TypeAdapter(Any)


def dump_json(value: Any) -> bytes:
    return _ANY.dump_json(value)


def load_json(data: Union[bytes, str]) -> Any:
    return json.loads(data)


def _json(body: Union[Request, Mapping[str, Any], None]) -> bytes:
    return dump_json(body.to_wire() if isinstance(body, Request) else body)


def _reader(model: type[AnswerT]) -> Callable[[httpx.Response], AnswerT]:
    def read(response: httpx.Response) -> AnswerT:
        return model.model_validate_json(response.content)

    return read


def _remaining_headers(headers: httpx.Headers) -> dict[str, int]:
    remaining: dict[str, int] = {}
    for name, value in headers.items():
        if name.startswith(REMAINING_HEADER) and value.isdigit():
            remaining[name[len(REMAINING_HEADER) :]] = int(value)
    return remaining


def _enforced_reader(
    model: type[Union[UsageOut, ReservationOut]],
) -> Callable[[httpx.Response], Any]:
    def read(response: httpx.Response) -> Union[UsageOut, ReservationOut]:
        answer = model.model_validate_json(response.content)
        answer._remaining_headers.update(_remaining_headers(response.headers))
        return answer

    return read


def _params(**values: Optional[Union[str, int, bool]]) -> dict[str, Union[str, int]]:
    params: dict[str, Union[str, int]] = {}
    for name, value in values.items():
        if value is None:
            continue
        params[name] = str(value).lower() if isinstance(value, bool) else value
    return params


def account_url(path: str, method: str = "") -> str:
    url = "/v1/accounts/" + quote(path.strip("/"), safe="/")
    return f"{url}:{method}" if method else url


def _id(value: str) -> str:
    return quote(value, safe="")


def amounts_of(
    given: Optional[Mapping[str, int]], keywords: Mapping[str, int]
) -> dict[str, int]:
    """Amounts from a mapping and keyword arguments (`tokens=450`), the keywords winning."""
    amounts = dict(given) if given else {}
    amounts.update(keywords)
    return amounts


# --- Accounts ----------------------------------------------------------------------------------


def account(path: str) -> Call[AccountOut]:
    return Call("GET", account_url(path), _reader(AccountOut))


def accounts(prefix: Optional[str], depth: Optional[int]) -> Call[list[AccountOut]]:
    def read(response: httpx.Response) -> list[AccountOut]:
        return AccountsOut.model_validate_json(response.content).accounts

    return Call("GET", "/v1/accounts", read, params=_params(prefix=prefix, depth=depth))


def put_account(
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
) -> Call[AccountOut]:
    body = AccountIn.model_validate(
        {
            "limits": limits,
            "thresholds": thresholds,
            "kind": kind,
            "weight": weight,
            "priority": priority,
            "labels": labels,
            "throttle_rate": throttle_rate,
            "reserve": reserve,
            "period": period,
            "deadline": deadline,
            "rules": rules,
            "keep_usage": keep_usage,
        }
    )
    return Call("PUT", account_url(path), _reader(AccountOut), _json(body))


def close_account(path: str) -> Call[ClosedOut]:
    return Call("DELETE", account_url(path), _reader(ClosedOut))


def allocate(
    path: str,
    strategy: Strategy,
    children: Sequence[Union[str, ChildIn, Mapping[str, Any]]],
    total: Optional[Mapping[str, int]] = None,
    *,
    min_share: Optional[float] = None,
    max_share: Optional[float] = None,
    initial_share: Optional[float] = None,
) -> Call[AllocateOut]:
    child_list = [{"name": child} if isinstance(child, str) else child for child in children]
    body = AllocateIn.model_validate(
        {
            "strategy": strategy,
            "children": child_list,
            "total": total,
            "min_share": min_share,
            "max_share": max_share,
            "initial_share": initial_share,
        }
    )
    return Call("POST", account_url(path, "allocate"), _reader(AllocateOut), _json(body))


def me() -> Call[MeOut]:
    return Call("GET", "/v1/me", _reader(MeOut))


# --- Usage and reservations --------------------------------------------------------------------


def usage(
    account: str,
    amounts: Mapping[str, int],
    *,
    idempotency_key: Optional[str],
    operation: Optional[str],
    work_units: Optional[int],
    occurred_at: Union[datetime, str, None],
) -> Call[UsageOut]:
    body = UsageIn.model_validate(
        {
            "account": account,
            "usage": amounts,
            "operation": operation,
            "work_units": work_units,
            "idempotency_key": idempotency_key or new_key(),
            "occurred_at": occurred_at,
        }
    )
    return Call("POST", "/v1/usage", _enforced_reader(UsageOut), _json(body))


def keyed_report(report: UsageReport) -> dict[str, Any]:
    """A batch item as the wire wants it, with an idempotency key if it had none."""
    item = report.to_wire() if isinstance(report, UsageIn) else dict(report)
    if not item.get("idempotency_key"):
        item["idempotency_key"] = new_key()
    return item


def read_batch(response: httpx.Response) -> list[BatchResult]:
    """A batch answer: each item a usage answer, or the error of that item as an exception
    value (not raised)."""
    results: list[BatchResult] = []
    for item in load_json(response.content)["results"]:
        if "error" in item:
            results.append(error_of(ErrorBody.model_validate(item).error, None))
        else:
            results.append(UsageOut.model_validate(item))
    return results


def usage_batch(items: Sequence[Mapping[str, Any]]) -> Call[list[BatchResult]]:
    """`items` already carry their keys (`keyed_report`), at most `BATCH_REPORTS_MAX`."""
    if len(items) > BATCH_REPORTS_MAX:
        raise ValueError(f"a batch holds at most {BATCH_REPORTS_MAX} reports, not {len(items)}")
    body = dump_json({"reports": items})
    return Call("POST", "/v1/usage:batch", read_batch, body)


def reserve(
    account: str,
    amounts: Mapping[str, int],
    *,
    ttl_ms: Optional[int],
    idempotency_key: Optional[str],
) -> Call[ReservationOut]:
    body = ReserveIn(
        account=account,
        amount=dict(amounts),
        ttl_ms=ttl_ms,
        idempotency_key=idempotency_key or new_key(),
    )
    return Call("POST", "/v1/reservations", _enforced_reader(ReservationOut), _json(body))


def settle(
    reservation_id: str,
    amounts: Mapping[str, int],
    *,
    operation: Optional[str],
    work_units: Optional[int],
) -> Call[UsageOut]:
    # Settling twice answers the first result with `duplicate`: a retry needs no key.
    body = SettleIn(usage=dict(amounts), operation=operation, work_units=work_units)
    url = f"/v1/reservations/{_id(reservation_id)}:settle"
    return Call("POST", url, _enforced_reader(UsageOut), _json(body))


def void(reservation_id: str) -> Call[VoidOut]:
    # Voiding twice answers the same: a retry is harmless.
    return Call("POST", f"/v1/reservations/{_id(reservation_id)}:void", _reader(VoidOut))


# --- Forecasts, reports, audit, optimizer ------------------------------------------------------


def forecast(path: str, dimension: str) -> Call[ForecastOut]:
    url = account_url(path, "forecast")
    return Call("GET", url, _reader(ForecastOut), params=_params(dimension=dimension))


def report(path: str, format: str) -> Call[Union[ReportOut, str]]:
    def read(response: httpx.Response) -> Union[ReportOut, str]:
        if format == "json":
            return ReportOut.model_validate_json(response.content)
        return response.text

    url = account_url(path, "report")
    return Call("GET", url, read, params=_params(format=format))


def audit(
    prefix: Optional[str], since_seq: Optional[int], limit: Optional[int]
) -> Call[list[AuditEntry]]:
    def read(response: httpx.Response) -> list[AuditEntry]:
        return AuditOut.model_validate_json(response.content).events

    params = _params(prefix=prefix, since_seq=since_seq, limit=limit)
    return Call("GET", "/v1/audit", read, params=params)


def optimize(dry_run: bool) -> Call[OptimizerOut]:
    params = _params(dry_run=dry_run)
    return Call("POST", "/v1/optimizer:run", _reader(OptimizerOut), params=params)


# --- DAGs, workers, tasks ----------------------------------------------------------------------


def submit_dag(dag: Union[DagIn, Mapping[str, Any]], idempotency_key: Optional[str]) -> Call[DagOut]:
    body = dag if isinstance(dag, DagIn) else DagIn.model_validate(dag)
    key = idempotency_key or body.idempotency_key or new_key()
    body = body.model_copy(update={"idempotency_key": key})
    return Call("POST", "/v1/dags", _reader(DagOut), _json(body))


def dag(dag_id: str) -> Call[DagOut]:
    return Call("GET", f"/v1/dags/{_id(dag_id)}", _reader(DagOut))


def dags(
    tenant: Optional[str], state: Optional[str], after: Optional[str], limit: Optional[int]
) -> Call[DagListOut]:
    params = _params(tenant=tenant, state=state, after=after, limit=limit)
    return Call("GET", "/v1/dags", _reader(DagListOut), params=params)


def cancel_dag(dag_id: str, reason: Optional[str]) -> Call[DagOut]:
    body = _json(ReasonIn(reason=reason))
    return Call("POST", f"/v1/dags/{_id(dag_id)}:cancel", _reader(DagOut), body)


def lease(machine: str, max_tasks: Optional[int]) -> Call[LeaseOut]:
    body = _json(LeaseIn(max_tasks=max_tasks))
    return Call("POST", f"/v1/workers/{_id(machine)}:lease", _reader(LeaseOut), body)


def interrupted(machine: str, reason: Optional[str]) -> Call[InterruptedOut]:
    body = _json(ReasonIn(reason=reason))
    url = f"/v1/workers/{_id(machine)}:interrupted"
    return Call("POST", url, _reader(InterruptedOut), body)


def _task_op(task_id: str, op: str, body: Request) -> Call[TaskStateOut]:
    return Call("POST", f"/v1/tasks/{_id(task_id)}:{op}", _reader(TaskStateOut), _json(body))


def heartbeat(task_id: str, attempt: Optional[int]) -> Call[TaskStateOut]:
    return _task_op(task_id, "heartbeat", TaskOpIn(attempt=attempt))


def checkpoint(task_id: str, value: str, attempt: Optional[int]) -> Call[TaskStateOut]:
    return _task_op(task_id, "checkpoint", CheckpointIn(checkpoint=value, attempt=attempt))


def complete(task_id: str, attempt: Optional[int]) -> Call[TaskStateOut]:
    return _task_op(task_id, "complete", TaskOpIn(attempt=attempt))


def fail(
    task_id: str, error: Optional[str], attempt: Optional[int], retryable: Optional[bool]
) -> Call[TaskStateOut]:
    return _task_op(task_id, "fail", FailIn(error=error, attempt=attempt, retryable=retryable))


# --- The fleet: profiles, agents, samples -------------------------------------------------------


def profiles() -> Call[ProfilesOut]:
    return Call("GET", "/v1/profiles", _reader(ProfilesOut))


def profile(name: str) -> Call[ProfileOut]:
    return Call("GET", f"/v1/profiles/{_id(name)}", _reader(ProfileOut))


def scale(name: str) -> Call[ScaleOut]:
    return Call("GET", f"/v1/profiles/{_id(name)}:scale", _reader(ScaleOut))


def rightsize(name: str) -> Call[RightsizeOut]:
    return Call("GET", f"/v1/profiles/{_id(name)}:rightsize", _reader(RightsizeOut))


def samples(name: str, items: Sequence[Union[SampleIn, Mapping[str, Any]]]) -> Call[SamplesOut]:
    body = SamplesIn(
        samples=[i if isinstance(i, SampleIn) else SampleIn.model_validate(i) for i in items]
    )
    return Call("POST", f"/v1/profiles/{_id(name)}/samples", _reader(SamplesOut), _json(body))


def register_agent(name: str, body: AgentIn) -> Call[AgentOut]:
    return Call("PUT", f"/v1/agents/{_id(name)}", _reader(AgentOut), _json(body))


def agent_heartbeat(name: str, body: HeartbeatIn) -> Call[AgentOut]:
    return Call("POST", f"/v1/agents/{_id(name)}:heartbeat", _reader(AgentOut), _json(body))


def agent(name: str) -> Call[AgentOut]:
    return Call("GET", f"/v1/agents/{_id(name)}", _reader(AgentOut))


def agents(profile: Optional[str], after: Optional[str], limit: Optional[int]) -> Call[AgentsOut]:
    params = _params(profile=profile, after=after, limit=limit)
    return Call("GET", "/v1/agents", _reader(AgentsOut), params=params)


def forget_agent(name: str) -> Call[AgentOut]:
    return Call("DELETE", f"/v1/agents/{_id(name)}", _reader(AgentOut))
