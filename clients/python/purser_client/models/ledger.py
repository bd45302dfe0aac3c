"""The wire shapes of the budget half of the API: accounts, usage, reservations, forecasts, the
audit log, the optimizer, errors, and `GET /v1/me` (budget rules are in `rules`).

Each class carries the name of the OpenAPI schema it mirrors (`components.schemas`); the test
`test_schema.py` compares their fields with the running server's document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .base import Amounts, Answer, Labels, Request
from .rules import HaltOut, RulesIn, RulesOut

# `pause` is `stop` for an account whose rules pause at stop: idle until the budget is raised.
ActionKind = Literal["continue", "warn", "throttle", "degrade", "stop", "pause"]
Level = Literal["green", "yellow", "orange", "red", "black"]
Strategy = Literal["equal", "proportional", "priority", "pool", "fair_share"]


# --- Enforcement -------------------------------------------------------------------------------


class ActionOut(Answer):
    """`would`: in shadow mode, the action the level would have had; `reason`: why, where the
    figures alone do not say (a run cap, a loop, an expired budget, a pause, shadow mode)."""

    kind: ActionKind
    rate: Optional[float] = None
    would: Optional[ActionKind] = None
    reason: Optional[str] = None


class FiredOut(Answer):
    """The account and dimension whose fraction set the level (possibly an ancestor)."""

    account: str
    dimension: str
    fraction: float


class TightestOut(Answer):
    """Per limited dimension: the account on the path with the least left before its stop
    threshold, and how much that is."""

    dimension: str
    account: str
    remaining: int


class Action(BaseModel):
    """What the server asks the agent to do, with why: built from any answer that carries
    enforcement (`answer.enforcement`). Not a wire shape of its own: the API sends `action`,
    `fired` and `level` side by side."""

    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    rate: Optional[float] = None
    fired: Optional[FiredOut] = None
    level: Optional[Level] = None
    would: Optional[ActionKind] = None
    reason: Optional[str] = None

    @property
    def is_stop(self) -> bool:
        """Nothing more should be spent: `stop`, or `pause` (which is a stop the agent waits
        out rather than a failure), so that a loop checking this flag ends on both."""
        return self.kind in ("stop", "pause")

    @property
    def is_pause(self) -> bool:
        return self.kind == "pause"


class Enforced(Answer):
    """An answer that carries the enforcement ladder's decision."""

    level: Level
    action: ActionOut
    fired: Optional[FiredOut] = None
    _remaining_headers: dict[str, int] = PrivateAttr(default_factory=dict)

    @property
    def remaining_headers(self) -> dict[str, int]:
        """The answer's `Purser-Remaining-<dimension>` headers, when the server sends them."""
        return self._remaining_headers

    @property
    def enforcement(self) -> Action:
        return Action(
            kind=self.action.kind,
            rate=self.action.rate,
            fired=self.fired,
            level=self.level,
            would=self.action.would,
            reason=self.action.reason,
        )


# --- Accounts ----------------------------------------------------------------------------------


class ThresholdsIn(Request):
    warn: Optional[float] = None
    throttle: Optional[float] = None
    degrade: Optional[float] = None
    stop: Optional[float] = None


class ThresholdsOut(Answer):
    warn: float
    throttle: float
    degrade: float
    stop: float


class PeriodIn(Request):
    """A budget period; `lifetime` never renews; `fiscal_start_month` (1-12) is for `quarter`."""

    every: Literal["hour", "day", "week", "month", "quarter", "lifetime"]
    timezone: Optional[str] = None
    rollover_max: Optional[float] = None
    fiscal_start_month: Optional[int] = None


class PeriodOut(Answer):
    """The current budget period: its unit and when it renews (never, for `lifetime`)."""

    every: str
    renews_at: Optional[datetime] = None


class AccountIn(Request):
    limits: Optional[Amounts] = None
    weight: Optional[float] = None
    priority: Optional[int] = None
    kind: Optional[str] = None
    labels: Optional[Labels] = None
    thresholds: Optional[ThresholdsIn] = None
    throttle_rate: Optional[float] = None
    reserve: Optional[float] = None
    period: Optional[PeriodIn] = None
    deadline: Optional[datetime] = None
    rules: Optional[RulesIn] = None
    # Required by the server when the period's unit (or time zone) changes: `True` keeps what
    # the current window spent until it ends, `False` resets it now.
    keep_usage: Optional[bool] = None


class AccountOut(Enforced):
    path: str
    kind: Optional[str] = None
    limits: Amounts
    consumed: Amounts
    reserved: Amounts
    remaining: Amounts
    pool: Amounts
    fraction: float
    children: list[str]
    last_activity_at: Optional[datetime] = None
    seq: int
    weight: float
    priority: int
    labels: Labels
    thresholds: ThresholdsOut
    throttle_rate: float
    reserve: float
    open_reservations: int
    work_units: int
    period: Optional[PeriodOut] = None
    rules: Optional[RulesOut] = None
    halt: Optional[HaltOut] = None


class AccountsOut(Answer):
    accounts: list[AccountOut]


class ClosedOut(Answer):
    path: str
    closed: bool


class ChildIn(Request):
    name: str
    weight: Optional[float] = None
    priority: Optional[int] = None
    demand: Optional[Amounts] = None


class AllocateIn(Request):
    strategy: Strategy
    children: list[ChildIn]
    total: Optional[Amounts] = None
    min_share: Optional[float] = None
    max_share: Optional[float] = None
    initial_share: Optional[float] = None


class AllocationOut(Answer):
    path: str
    limits: Amounts


class AllocateOut(Answer):
    allocations: list[AllocationOut]
    pool: Amounts


class MeOut(Answer):
    """`GET /v1/me`: who the token is and the accounts it sees."""

    name: str
    role: Literal["admin", "operator", "agent"]
    scope: str = Field(description='An account path prefix; "" is every account')
    accounts: list[AccountOut]


# --- Usage and reservations --------------------------------------------------------------------


class UsageIn(Request):
    account: str
    usage: Amounts
    operation: Optional[str] = None
    work_units: Optional[int] = None
    idempotency_key: Optional[str] = None
    occurred_at: Optional[datetime] = None


class UsageOut(Enforced):
    """The answer to a usage report or a settlement."""

    seq: int
    duplicate: bool
    expired: bool = False
    remaining: Amounts
    tightest: Optional[list[TightestOut]] = None


class UsageBatchIn(Request):
    reports: list[UsageIn]


class ErrorDetail(Answer):
    code: str
    message: str
    field: Optional[str] = None
    account: Optional[str] = None
    dimension: Optional[str] = None
    requested: Optional[int] = None
    available: Optional[int] = None
    limit: Optional[int] = None
    spent: Optional[int] = None
    period: Optional[str] = None
    resets_at: Optional[datetime] = None
    retry_after_s: Optional[float] = None
    pool: Optional[str] = None
    tenant: Optional[str] = None


class ErrorBody(Answer):
    error: ErrorDetail


class UsageBatchOut(Answer):
    # Each item is a usage answer or an error; pydantic picks by shape (`error` is required
    # in one and absent from the other).
    results: list[UsageOut | ErrorBody]


class ReserveIn(Request):
    account: str
    amount: Amounts
    ttl_ms: Optional[int] = None
    idempotency_key: Optional[str] = None


class ReservationOut(Enforced):
    id: str
    expires_at: datetime
    duplicate: bool
    tightest: Optional[list[TightestOut]] = None


class SettleIn(Request):
    usage: Optional[Amounts] = None
    operation: Optional[str] = None
    work_units: Optional[int] = None


class VoidOut(Answer):
    id: str
    state: str


# --- Forecasts, audit, optimizer ---------------------------------------------------------------


class IntervalOut(Answer):
    low: int
    high: Optional[int] = None


class ForecastOut(Answer):
    dimension: str
    method: str
    consumed: int
    limit: Optional[int] = None
    projected_total: int
    baseline_total: int
    overage: int
    horizon_end: datetime
    time_to_exhaustion_s: Optional[int] = None
    exhausts_at: Optional[datetime] = None
    interval: IntervalOut
    confidence: float
    n_backtests: int


class AuditEntry(Answer):
    """One entry of the audit log; also the data of one server-sent event."""

    seq: int
    at: datetime
    type: str
    account: Optional[str] = None
    actor: str
    reason: str
    data: dict[str, Any]


class AuditOut(Answer):
    events: list[AuditEntry]


class MoveOut(Answer):
    account: str
    dimension: str
    kind: str
    from_: int = Field(alias="from")
    to: int
    reason: str


class OptimizerOut(Answer):
    dry_run: bool
    moves: list[MoveOut]
