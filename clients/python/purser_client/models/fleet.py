"""The wire shapes of the fleet: agent profiles, agents and their heartbeats, usage samples,
and what the Kubernetes HPA and VPA would do (`:scale`, `:rightsize`)."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from .base import Answer, Labels, Request


class QuantitiesOut(Answer):
    """CPU and memory as Kubernetes writes them (`"2"`, `"8Gi"`) and as numbers."""

    cpu: str
    memory: str
    cpu_millicores: int
    memory_bytes: int


class ScaleTargetsOut(Answer):
    cpu_utilization: int
    memory_utilization: int
    eligible_tasks_per_replica: int


class AgentCountsOut(Answer):
    healthy: int
    unhealthy: int


class ProfileOut(Answer):
    name: str
    role: str
    requests: QuantitiesOut
    limits: QuantitiesOut
    storage: str
    storage_bytes: int
    priority_class: str
    replicas_min: int
    replicas_max: int
    scale: ScaleTargetsOut
    budget: dict[str, int]
    image: str
    agents: AgentCountsOut


class ProfilesOut(Answer):
    profiles: list[ProfileOut]


class AgentIn(Request):
    profile: str
    version: Optional[str] = None
    labels: Optional[Labels] = None
    account: Optional[str] = None


class HeartbeatIn(Request):
    status: Optional[str] = None
    cpu_millicores: Optional[int] = None
    memory_bytes: Optional[int] = None


class AgentOut(Answer):
    name: str
    profile: str
    version: Optional[str] = None
    labels: Labels
    healthy: bool
    since: str
    status: str
    registered_at: str
    last_seen_at: str
    cpu_millicores: Optional[int] = None
    memory_bytes: Optional[int] = None
    opened_account: Optional[str] = None


class AgentsOut(Answer):
    agents: list[AgentOut]
    next_after: Optional[str] = None


class SampleIn(Request):
    """One usage sample of a container; `at` is RFC 3339 (now when absent)."""

    container: str
    at: Optional[str] = None
    cpu_millicores: Optional[int] = None
    memory_bytes: Optional[int] = None
    oom: Optional[bool] = None


class SamplesIn(Request):
    samples: list[SampleIn]


class SamplesOut(Answer):
    accepted: int
    dropped: int


class AmountsOut(Answer):
    cpu: Optional[str] = None
    memory: Optional[str] = None
    cpu_millicores: Optional[int] = None
    memory_bytes: Optional[int] = None


class ContainerRightsizeOut(Answer):
    container: str
    target: AmountsOut
    lower_bound: AmountsOut
    upper_bound: AmountsOut
    uncapped_target: AmountsOut
    history_hours: float


class RightsizeOut(Answer):
    profile: str
    requests: QuantitiesOut
    containers: list[ContainerRightsizeOut]
    samples_accepted: int
    samples_dropped: int


class ScaleMetricOut(Answer):
    metric: str
    replicas: Optional[int] = None
    utilization_percent: Optional[int] = None
    value_milli: Optional[int] = None
    error: Optional[str] = None


class ConditionOut(Answer):
    kind: str = Field(alias="type")
    status: bool
    reason: str
    message: str


class ScaleOut(Answer):
    profile: str
    current_replicas: int
    desired_replicas: int
    replicas_min: int
    replicas_max: int
    reason: str
    metric: Optional[str] = None
    metrics: list[ScaleMetricOut]
    conditions: list[ConditionOut]
    error: Optional[str] = None
