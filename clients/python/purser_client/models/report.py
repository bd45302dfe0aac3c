"""The wire shapes of `GET /v1/accounts/{path}:report?format=json`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Optional, Union

from pydantic import Field

from .base import Amounts, Answer
from .ledger import IntervalOut


class ReportForecastOut(Answer):
    method: str
    projected_total: int
    overage: int
    horizon_end: datetime
    time_to_exhaustion_s: Optional[int] = None
    exhausts_at: Optional[datetime] = None
    interval: IntervalOut
    confidence: float
    n_backtests: int


class ReportDimensionOut(Answer):
    dimension: str
    limit: int
    consumed: int
    reserved: int
    utilization: float
    waste: Optional[int] = None
    forecast: Optional[ReportForecastOut] = None


class EfficiencyOut(Answer):
    work_units_per_1k_tokens: Optional[float] = None
    work_units_per_dollar: Optional[float] = None


class LevelTimesOut(Answer):
    green: int
    yellow: int
    orange: int
    red: int
    black: int


class ReportAccountOut(Answer):
    path: str
    kind: Optional[str] = None
    role: Literal["subject", "child", "closed"]
    level: str
    work_units: int
    opened_at: datetime
    dimensions: list[ReportDimensionOut]
    efficiency: EfficiencyOut
    time_per_level_ms: LevelTimesOut


class FairnessOut(Answer):
    dimension: str
    jain_index: float
    children: int
    utilization_min: float
    utilization_max: float


class WasteOut(Answer):
    dimension: str
    unused: int
    limits: int
    closed_children: int


class UtilizationOut(Answer):
    account: str
    limit: int
    used: int
    utilization: float


class MoveRecommendationOut(Answer):
    """Move part of the `from` siblings' allocation to the `to` siblings."""

    kind: Literal["move"]
    account_kind: Optional[str] = None
    dimension: str
    from_: list[UtilizationOut] = Field(alias="from")
    to: list[UtilizationOut]
    share: float
    amount: int
    text: str


class RaiseRecommendationOut(Answer):
    """Raise an account's limit by its forecast overage."""

    kind: Literal["raise"]
    account: str
    dimension: str
    limit: int
    projected_total: int
    by: int
    method: str
    confidence: float
    n_backtests: int
    text: str


RecommendationOut = Annotated[
    Union[MoveRecommendationOut, RaiseRecommendationOut], Field(discriminator="kind")
]


class ReportTaskOut(Answer):
    id: str
    name: str
    account: str
    attempts: int
    spent_micros: int
    time_ms: int


class ReportDagOut(Answer):
    id: str
    name: Optional[str] = None
    account: str
    state: str
    spent_micros: int
    reserved_micros: int
    projected_micros: int
    tasks: list[ReportTaskOut]
    tasks_omitted: int


class ChartPointOut(Answer):
    at: datetime
    value: int


class LevelSpanOut(Answer):
    from_: datetime = Field(alias="from")
    to: datetime
    level: str


class ChartOut(Answer):
    dimension: str
    start: datetime
    now: datetime
    end: datetime
    limit: Optional[int] = None
    consumption: list[ChartPointOut]
    forecast: Optional[ReportForecastOut] = None
    levels: list[LevelSpanOut]


class ReportRulesOut(Answer):
    """One account's budget rules in words (`pauses at stop`, `run cap 10 turns`), and the cap
    in force, if any, with why."""

    account: str
    rules: list[str]
    expires_at: Optional[datetime] = None
    halt: Optional[str] = None


class ReportRequestOut(Answer):
    """An increase request on one of the report's accounts; `state` is `pending`, `approved`
    or `rejected`."""

    id: str
    account: str
    amount: Amounts
    reason: str
    requested_at: datetime
    state: str
    note: Optional[str] = None


class ReportOut(Answer):
    path: str
    kind: Optional[str] = None
    at: datetime
    accounts: list[ReportAccountOut]
    children_omitted: int
    fairness: list[FairnessOut]
    waste: list[WasteOut]
    recommendations: list[RecommendationOut]
    dags: list[ReportDagOut]
    chart: Optional[ChartOut] = None
    rules: list[ReportRulesOut]
    requests: list[ReportRequestOut]
