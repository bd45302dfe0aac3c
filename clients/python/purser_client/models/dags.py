"""The wire shapes of the capacity half of the API: DAGs of tasks, leases and workers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional

from pydantic import ConfigDict

from .base import Answer, Request

DagState = Literal["running", "paused", "completed", "failed", "cancelled"]
TaskState = Literal[
    "QUEUED",
    "ELIGIBLE",
    "SCHEDULED",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "PREEMPTED",
    "CANCELLED",
    "ARCHIVED",
]


class RequestsIn(Request):
    """What a task needs of a machine; any other key is a custom dimension a pool offers
    (`licenses=1`)."""

    model_config = ConfigDict(extra="allow")

    cores: Optional[int] = None
    memory_bytes: Optional[int] = None
    gpu: Optional[int] = None


class UsesIn(Request):
    requests: Optional[int] = None
    tokens: Optional[int] = None


class TaskIn(Request):
    id: str
    depends_on: Optional[list[str]] = None
    runtime_ms: Optional[int] = None
    requests: Optional[RequestsIn] = None
    priority: Optional[int] = None
    max_attempts: Optional[int] = None
    checkpointing: Optional[bool] = None
    account: Optional[str] = None
    person: Optional[bool] = None
    uses: Optional[UsesIn] = None


class DagIn(Request):
    tenant: str
    tasks: list[TaskIn]
    name: Optional[str] = None
    account: Optional[str] = None
    priority: Optional[int] = None
    idempotency_key: Optional[str] = None


class ResourcesOut(Answer):
    cores: int
    memory_bytes: int
    gpu: int


class DagCostOut(Answer):
    spent_micros: int
    reserved_micros: int
    projected_micros: int


class PausedOut(Answer):
    account: str
    dimension: str
    needed: int
    available: int


class TaskOut(Answer):
    id: str
    name: str
    state: TaskState
    machine: Optional[str] = None
    attempts: int
    max_attempts: int
    depends_on: list[str]
    runtime_ms: int
    requests: ResourcesOut
    priority: int
    checkpointing: bool
    checkpoint: Optional[str] = None
    lease_expires_at: Optional[datetime] = None
    error: Optional[str] = None
    updated_at: datetime
    account: Optional[str] = None
    cost_micros: Optional[int] = None


class DagOut(Answer):
    id: str
    name: Optional[str] = None
    tenant: str
    priority: int
    state: DagState
    submitted_at: datetime
    counts: dict[str, int]
    account: Optional[str] = None
    cost: Optional[DagCostOut] = None
    paused: Optional[PausedOut] = None
    duplicate: bool = False
    tasks: list[TaskOut]

    @property
    def finished(self) -> bool:
        return self.state in ("completed", "failed", "cancelled")


class DagSummaryOut(Answer):
    id: str
    name: Optional[str] = None
    tenant: str
    priority: int
    state: DagState
    submitted_at: datetime
    n_tasks: int
    counts: dict[str, int]
    account: Optional[str] = None
    cost: Optional[DagCostOut] = None


class DagListOut(Answer):
    dags: list[DagSummaryOut]
    next_after: Optional[str] = None


class ReasonIn(Request):
    reason: Optional[str] = None


class LeaseIn(Request):
    max_tasks: Optional[int] = None


class LeasedTaskOut(Answer):
    id: str
    dag: str
    name: str
    tenant: str
    attempt: int
    machine: str
    runtime_ms: int
    requests: ResourcesOut
    checkpoint: Optional[str] = None
    lease_expires_at: datetime
    lease_ttl_ms: int
    account: Optional[str] = None


class LeaseOut(Answer):
    task: Optional[LeasedTaskOut] = None
    tasks: Optional[list[LeasedTaskOut]] = None


class TaskOpIn(Request):
    attempt: Optional[int] = None


class CheckpointIn(Request):
    checkpoint: str
    attempt: Optional[int] = None


class FailIn(Request):
    error: Optional[str] = None
    retryable: Optional[bool] = None
    attempt: Optional[int] = None


class TaskStateOut(Answer):
    id: str
    dag: str
    state: TaskState
    attempts: int
    machine: Optional[str] = None
    lease_expires_at: Optional[datetime] = None


class InterruptedOut(Answer):
    machine: str
    returned: int
