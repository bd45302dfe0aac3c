"""What a well-behaved agent does with the enforcement ladder's answer.

`client.pace(answer)` takes the `Action` of any answer that carries one (a usage report, a
settlement, a hold, an account's status) and:

- continue: returns at once;
- warn: returns at once, and logs the account and dimension that fired (once per change); in
  shadow mode (`action.would` set) it logs the action the level would have had;
- throttle: sleeps so that the agent runs at `rate` of its speed: the last unit of work took
  `elapsed` seconds, so it sleeps `elapsed * (1/rate - 1)` (rate 0.5: as long again). `elapsed`
  is what the caller passes, else the time since the previous `pace` returned (one turn of the
  agent's loop), else `throttle_base_s`; the sleep is at most `throttle_max_s`;
- degrade: sets `client.degraded` (the agent should switch to a cheaper model, shorter answers,
  fewer tools); any other action clears it, so a raised budget lifts it;
- stop: raises `Stopped`, carrying the action. We chose raising over returning a flag because an
  agent loop that forgets to check a flag keeps spending past the stop threshold, while an
  exception ends the loop unless the agent decides otherwise. `Pacer(raise_on_stop=False)` makes
  `pace` return the action instead (check `action.is_stop`);
- pause: raises `Paused`, a subclass of `Stopped`, for the same reason: the account's rules
  pause at stop, so the agent should idle until an operator raises the budget (or approves an
  increase request) or a new run starts, rather than fail. A loop that only knows `Stopped`
  still ends; one that catches `Paused` can wait and carry on. With `raise_on_stop=False` it
  returns the action (`action.is_stop` and `action.is_pause` are both true).

Run caps, loops and expired one-time budgets come as stop or pause with no `fired` account:
`action.reason` says why.
"""

from __future__ import annotations

import logging
import time
from typing import Optional, Protocol, Union

from .models import Action

log = logging.getLogger("purser_client")


class Stopped(Exception):
    """The server says stop: the account (or an ancestor, `action.fired.account`) reached its
    stop threshold in `action.fired.dimension`, or a cap in force halted it (`action.reason`).
    Nothing more should be spent there until an operator raises the budget or a new period
    (or run) begins."""

    def __init__(self, action: Action) -> None:
        fired = action.fired
        if fired is not None:
            where = f"{fired.account} in {fired.dimension} at {fired.fraction:.0%}"
        else:
            where = action.reason or "?"
        super().__init__(f"{action.kind}: {where}")
        self.action = action


class Paused(Stopped):
    """The server says pause: a stop on an account whose rules pause at stop. Not a failure:
    idle until the budget is raised or a new run starts, then carry on."""


class HasEnforcement(Protocol):
    @property
    def enforcement(self) -> Action: ...


Decision = Union[Action, HasEnforcement]


def action_of(decision: Decision) -> Action:
    return decision if isinstance(decision, Action) else decision.enforcement


class Pacer:
    """The pacing state of one agent (one client): whether it is degraded, and when its last
    unit of work began. Thread-compatible, not thread-safe: one pacer per agent loop."""

    def __init__(
        self,
        *,
        throttle_base_s: float = 1.0,
        throttle_max_s: float = 30.0,
        raise_on_stop: bool = True,
    ) -> None:
        self.throttle_base_s = throttle_base_s
        self.throttle_max_s = throttle_max_s
        self.raise_on_stop = raise_on_stop
        self.degraded = False
        self._rested_at: Optional[float] = None
        self._last_told: Optional[tuple[str, Optional[str], Optional[str]]] = None

    def wait_s(self, action: Action, elapsed_s: Optional[float] = None) -> float:
        """How long to sleep for `action`; updates `degraded`; raises `Stopped` on stop and
        `Paused` on pause."""
        self.degraded = action.kind == "degrade"
        self._tell(action)
        if action.is_stop and self.raise_on_stop:
            raise Paused(action) if action.is_pause else Stopped(action)
        if action.kind != "throttle":
            return 0.0
        rate = action.rate if action.rate is not None and 0.0 < action.rate <= 1.0 else 0.5
        if elapsed_s is None:
            elapsed_s = self._since_rested()
        return min(self.throttle_max_s, elapsed_s * (1.0 / rate - 1.0))

    def rested(self) -> None:
        """Marks the end of a pause: the next unit of work starts now."""
        self._rested_at = time.monotonic()

    def _since_rested(self) -> float:
        if self._rested_at is None:
            return self.throttle_base_s
        return time.monotonic() - self._rested_at

    def _tell(self, action: Action) -> None:
        fired = action.fired
        told = (action.kind, fired.account if fired else None, fired.dimension if fired else None)
        if action.kind == "continue" or told == self._last_told:
            self._last_told = told if action.kind != "continue" else None
            return
        self._last_told = told
        # Shadow mode: the warning names what the level would have done.
        kind = f"{action.kind} (would {action.would})" if action.would else action.kind
        if fired is not None:
            log.warning(
                "purser: %s (%s used %.0f%% of %s)",
                kind,
                fired.account,
                fired.fraction * 100,
                fired.dimension,
            )
        else:
            log.warning("purser: %s (%s)", kind, action.reason or "no reason given")
