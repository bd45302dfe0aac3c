"""The wire shapes of budget rules: an account's rules as set and as shown, the cap in force
(`HaltOut`), and increase requests.

Rules go in with `PUT /v1/accounts/{path}` (`AccountIn.rules`; replacing them replaces every
field, `{}` removes them) and come back in `AccountOut.rules`. The answers' enumerations are
plain strings, so that an older client keeps reading a server that adds a value; their values
are listed where they are declared.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional, Union

from .base import Amounts, Answer, Request

# The levels' actions that shadow mode can turn into a warning.
WarnOnlyAction = Literal["throttle", "degrade", "stop"]
AtStop = Literal["stop", "pause"]
# `GET /v1/requests?state=`: the pending requests, or every one the server remembers.
RequestsState = Literal["pending", "all"]


# --- Rules as set ------------------------------------------------------------------------------


class LoopIn(Request):
    """Loop detection: `repeats` near-identical reports (the same operation, amounts within
    5 %) within `window_s` raise an alert, and with `stop` halt the run."""

    repeats: int
    window_s: float
    stop: Optional[bool] = None


class RunIn(Request):
    """Caps on one unattended run (`POST /v1/accounts/{path}:run` starts a new one)."""

    max_turns: Optional[int] = None
    max_wall_s: Optional[float] = None
    loop: Optional[LoopIn] = None


class RulesIn(Request):
    """An account's rules; every field left out is off.

    `warn_only`: shadow mode, `True` for every level that would slow or stop the agent, or the
    actions to turn into warnings (`["stop"]`). `child_defaults`: the limits each new child gets
    in the dimensions it does not name. `expires_at`: a one-time budget that stops (or pauses)
    the account for good at that time. `at_stop`: `stop` (the default) or `pause`, which tells
    the agent to idle until the budget is raised. `run`: caps on one run."""

    warn_only: Union[bool, list[WarnOnlyAction], None] = None
    child_defaults: Optional[Amounts] = None
    expires_at: Optional[datetime] = None
    at_stop: Optional[AtStop] = None
    run: Optional[RunIn] = None


# --- Rules as shown ----------------------------------------------------------------------------


class LoopOut(Answer):
    repeats: int
    window_s: float
    stop: bool


class RunOut(Answer):
    """The run caps, and the current run: when it started and the turns it made."""

    max_turns: Optional[int] = None
    max_wall_s: Optional[float] = None
    loop: Optional[LoopOut] = None
    started_at: Optional[datetime] = None
    turns: Optional[int] = None


class RulesOut(Answer):
    """`warn_only`: the actions shadow mode turns into warnings (`throttle`, `degrade`,
    `stop`); `at_stop`: `stop` or `pause`."""

    warn_only: list[str]
    child_defaults: Optional[Amounts] = None
    expires_at: Optional[datetime] = None
    at_stop: str
    run: Optional[RunOut] = None


class HaltOut(Answer):
    """A cap in force: `cap` is `turns`, `wall_time`, `loop` or `expired`; a halt that `stops`
    refuses holds (409 `run_capped`, `budget_expired` or `paused`), one that does not only
    alerted."""

    cap: str
    stops: bool
    detail: str
    at: datetime


# --- Increase requests -------------------------------------------------------------------------


class IncreaseIn(Request):
    """`POST /v1/accounts/{path}:request`: how much more, per limited dimension, and why."""

    amount: Amounts
    reason: str
    idempotency_key: Optional[str] = None


class RequestOut(Answer):
    """An increase request (`req_<seq>`): `state` is `pending`, `approved` or `rejected`; after
    an approval, `limits` holds the account's new limits in the dimensions raised."""

    id: str
    account: str
    amount: Amounts
    reason: str
    requested_at: datetime
    state: str
    note: Optional[str] = None
    decided_at: Optional[datetime] = None
    limits: Optional[Amounts] = None


class RequestsOut(Answer):
    requests: list[RequestOut]


class DecisionIn(Request):
    """`POST /v1/requests/{id}:approve` or `:reject`: a note for the audit log and the
    requester."""

    note: Optional[str] = None
