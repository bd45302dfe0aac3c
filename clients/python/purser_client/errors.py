"""Exceptions carrying the API's error fields, one class per thing a caller can act on.

    PurserError                 every failure; `code`, `message`, `status` and the optional fields
    ├── InvalidInput            400 (and 408, 413, 415): `field` names the input at fault
    ├── Forbidden               403: outside the token's scope or beyond its role
    │   └── Unauthorized        401: no token, or an unknown one
    ├── NotFound                404
    ├── BudgetExhausted         409 budget_exhausted: never retried
    │   └── Halted              409 run_capped, budget_expired, paused: a cap in force
    ├── Conflict                every other 409 (a state conflict)
    ├── ServerError             5xx and 429, once the retries are spent
    └── Unavailable             no answer at all (connection refused, timeouts), once the
                                retries are spent
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from pydantic import ValidationError

from .models import ErrorBody, ErrorDetail


class PurserError(Exception):
    """A request the server refused, or could not answer."""

    status: Optional[int]
    code: str
    detail: ErrorDetail

    def __init__(self, detail: ErrorDetail, status: Optional[int] = None) -> None:
        super().__init__(detail.message)
        self.detail = detail
        self.status = status
        self.code = detail.code

    @property
    def message(self) -> str:
        return self.detail.message

    @property
    def field(self) -> Optional[str]:
        return self.detail.field

    @property
    def account(self) -> Optional[str]:
        return self.detail.account

    @property
    def dimension(self) -> Optional[str]:
        return self.detail.dimension

    @property
    def requested(self) -> Optional[int]:
        return self.detail.requested

    @property
    def available(self) -> Optional[int]:
        return self.detail.available

    @property
    def limit(self) -> Optional[int]:
        return self.detail.limit

    @property
    def spent(self) -> Optional[int]:
        return self.detail.spent

    @property
    def period(self) -> Optional[str]:
        """The refusing account's budget period (`hour` to `quarter`), if it renews."""
        return self.detail.period

    @property
    def resets_at(self) -> Optional[datetime]:
        return self.detail.resets_at

    @property
    def retry_after_s(self) -> Optional[float]:
        return self.detail.retry_after_s

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class InvalidInput(PurserError):
    """400: the input is wrong; `field` names it (`usage.tokens`)."""


class Forbidden(PurserError):
    """403: the token's scope or role does not allow it."""


class Unauthorized(Forbidden):
    """401: no token, or one the server does not know."""


class NotFound(PurserError):
    """404: no such account, reservation, DAG, task or endpoint."""


class Conflict(PurserError):
    """409 other than a budget: a state that does not allow the change (an account with
    children, a task not running, a voided reservation)."""


class BudgetExhausted(PurserError):
    """409 `budget_exhausted`: the hold would take `account` to its stop threshold in
    `dimension`; `requested` and `available` say by how much. Never retried."""


class Halted(BudgetExhausted):
    """409 `run_capped` (the run reached its turns, its wall time, or a loop), `budget_expired`
    (a one-time budget ended) or `paused` (on an account whose rules pause at stop: a cap, or
    its figures at the stop threshold): a cap in force on `account`, or a pause, refused the
    hold; `message` says which. `dimension`, `requested` and `available` are set only when the
    figures refused it.

    A subclass of `BudgetExhausted`, so that an agent that ends its work on a refused hold ends
    it here too. A run cap lifts when a new run starts (`start_run`), an expiry when the rules
    change; `paused` means idle until then (or until the budget is raised), not fail."""

    @property
    def paused(self) -> bool:
        return self.code == "paused"


# The codes of holds refused by a cap in force rather than by the figures.
HALT_CODES = frozenset({"run_capped", "budget_expired", "paused"})


class ServerError(PurserError):
    """5xx (or 429) that outlasted the retries."""


class Unavailable(PurserError):
    """No answer at all (connection refused or reset, a timeout) after the retries."""


def _class_of(status: int, code: str) -> type[PurserError]:
    if status == 409:
        if code in HALT_CODES:
            return Halted
        return BudgetExhausted if code == "budget_exhausted" else Conflict
    if status in (400, 408, 413, 415):
        return InvalidInput
    if status == 401:
        return Unauthorized
    if status == 403:
        return Forbidden
    if status == 404:
        return NotFound
    if status >= 500 or status == 429:
        return ServerError
    return PurserError


def error_of(detail: ErrorDetail, status: Optional[int]) -> PurserError:
    """The exception for an error detail (of an answer, or of one item of a batch)."""
    cls = _item_class(detail) if status is None else _class_of(status, detail.code)
    return cls(detail, status)


def _item_class(detail: ErrorDetail) -> type[PurserError]:
    # Items of a batch have no status of their own: their code says what they are.
    if detail.code == "budget_exhausted":
        return BudgetExhausted
    if detail.code in HALT_CODES:
        return Halted
    if detail.code.endswith("not_found"):
        return NotFound
    if detail.code == "forbidden":
        return Forbidden
    return InvalidInput


def error_from_answer(status: int, body: bytes) -> PurserError:
    """The exception for a non-2xx answer; a body that is not the API's error shape (a proxy's
    page) still gives one, with the status as its code."""
    try:
        detail = ErrorBody.model_validate_json(body).error
    except ValidationError:
        text = body[:200].decode("utf-8", "replace").strip()
        detail = ErrorDetail(code=f"http_{status}", message=text or f"HTTP {status}")
    return error_of(detail, status)


def unavailable(reason: BaseException) -> Unavailable:
    return Unavailable(ErrorDetail(code="unavailable", message=f"no answer: {reason!r}"))
