"""When a failed call is tried again, and how long to wait first.

Connection errors, timeouts, 429 and every 5xx are retried with exponential backoff and full
jitter (a uniform wait between zero and `backoff_base_s * 2**n`, at most `backoff_max_s`), never
sooner than the server's `Retry-After`, within `attempts` tries and `deadline_s` for the whole
logical call. Everything else (4xx, and 409 `budget_exhausted` above all) is answered at once.
A retried state change is safe because each logical call carries one idempotency key, generated
before the first try and sent again with every retry.
"""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from dataclasses import dataclass
from typing import Optional, Union

import httpx

from .errors import PurserError, unavailable

# Failures where the request may or may not have reached the server: safe to retry because of
# the idempotency keys. Protocol errors on our side (a malformed request) are not in the list.
RETRIED_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def retried_status(status: int) -> bool:
    return status == 429 or status >= 500


def new_key() -> str:
    """A fresh idempotency key for one logical call."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    """Tries per logical call, the first included."""
    backoff_base_s: float = 0.1
    backoff_max_s: float = 5.0
    deadline_s: float = 60.0
    """The whole logical call at most: tries, waits, and each try's timeouts shrink to fit."""
    retry_after_max_s: float = 30.0
    """A `Retry-After` longer than this is cut to it."""

    def backoff(self, n_failed: int, retry_after_s: Optional[float]) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_base_s * (2 ** (n_failed - 1)))
        wait = random.uniform(0.0, ceiling)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.retry_after_max_s))
        return wait


def policy_of(retries: Union[int, RetryPolicy]) -> RetryPolicy:
    if isinstance(retries, RetryPolicy):
        return retries
    if retries < 0:
        raise ValueError(f"retries must be at least 0, not {retries}")
    return RetryPolicy(attempts=retries + 1)


def retry_after_of(headers: httpx.Headers) -> Optional[float]:
    """`Retry-After` in seconds, given as a number or as an HTTP date."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Attempts:
    """The retry state of one logical call: how long each try may take, and whether (and after
    how long) to try again. The sync and async clients share it and differ only in how they
    wait."""

    def __init__(self, policy: RetryPolicy, timeout: httpx.Timeout) -> None:
        self.policy = policy
        self.timeout = timeout
        self.deadline = time.monotonic() + policy.deadline_s
        self.n_failed = 0

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def try_timeout(self) -> httpx.Timeout:
        """The client's timeouts, each cut to the time the call has left."""
        left = max(0.001, self.remaining_s())

        def cut(value: Optional[float]) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=cut(self.timeout.connect),
            read=cut(self.timeout.read),
            write=cut(self.timeout.write),
            pool=cut(self.timeout.pool),
        )

    def next_wait(self, retry_after_s: Optional[float] = None) -> Optional[float]:
        """After a retryable failure: the wait before the next try, or None to give up."""
        self.n_failed += 1
        if self.n_failed >= self.policy.attempts:
            return None
        wait = self.policy.backoff(self.n_failed, retry_after_s)
        if wait >= self.remaining_s():
            return None
        return wait


def given_up(failure: BaseException) -> PurserError:
    """The exception a caller sees once the retries are spent."""
    if isinstance(failure, PurserError):
        return failure
    return unavailable(failure)


def redirect_of(status: int, headers: httpx.Headers) -> Optional[str]:
    """Where a 307 or 308 sends the call, if it does: a standby sends writes to its shard's
    leader, and the same request (with the same idempotency key) is sent there. Followed here
    rather than by httpx, which drops the token on a redirect to another port or host."""
    location: Optional[str] = headers.get("location") if status in (307, 308) else None
    return location


# Redirects followed per call at most (a leader moves at most once or twice in a failover).
MAX_REDIRECTS = 5

__all__ = [
    "MAX_REDIRECTS",
    "RETRIED_EXCEPTIONS",
    "Attempts",
    "RetryPolicy",
    "given_up",
    "new_key",
    "policy_of",
    "redirect_of",
    "retried_status",
    "retry_after_of",
]
