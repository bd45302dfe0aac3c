"""The operations of budget rules: a manual reset of the budget window, a new run under run
caps, and increase requests (an agent asks for more, an operator approves or rejects).

The rules themselves are set with `put_account(path, rules=...)`. This module holds the calls
and the methods both clients get from them: `Purser` inherits `RuleMethods` and `AsyncPurser`
inherits `AsyncRuleMethods`, which send through the client's own `send`, so the two cannot
drift apart (as with `_calls`).

Neither an increase request nor a decision carries an idempotency key: a retry after an answer
was lost may file a request twice, or find the request already decided (`Conflict`, code
`request_decided`; `increase_request(id)` tells the outcome).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Optional, TypeVar

import httpx

from ._calls import Call, _id, _json, _params, _reader, account_url
from .retry import new_key
from .models import AccountOut, DecisionIn, IncreaseIn, RequestOut, RequestsOut, RequestsState

T = TypeVar("T")
Verdict = Literal["approve", "reject"]


# --- Calls -------------------------------------------------------------------------------------


def reset_usage(path: str) -> Call[AccountOut]:
    return Call("POST", account_url(path, "reset"), _reader(AccountOut))


def start_run(path: str) -> Call[AccountOut]:
    return Call("POST", account_url(path, "run"), _reader(AccountOut))


def request_increase(
    path: str, amount: Mapping[str, int], reason: str, idempotency_key: Optional[str]
) -> Call[RequestOut]:
    # A key made once per call: the retries of this call find the request it filed.
    key = idempotency_key or new_key()
    body = _json(IncreaseIn(amount=dict(amount), reason=reason, idempotency_key=key))
    return Call("POST", account_url(path, "request"), _reader(RequestOut), body)


def increase_requests(state: RequestsState) -> Call[list[RequestOut]]:
    def read(response: httpx.Response) -> list[RequestOut]:
        return RequestsOut.model_validate_json(response.content).requests

    return Call("GET", "/v1/requests", read, params=_params(state=state))


def increase_request(request_id: str) -> Call[RequestOut]:
    return Call("GET", f"/v1/requests/{_id(request_id)}", _reader(RequestOut))


def decide_request(request_id: str, verdict: Verdict, note: Optional[str]) -> Call[RequestOut]:
    body = _json(DecisionIn(note=note))
    url = f"/v1/requests/{_id(request_id)}:{verdict}"
    return Call("POST", url, _reader(RequestOut), body)


# --- Methods -----------------------------------------------------------------------------------


class RuleMethods:
    """The budget-rules methods of `Purser`."""

    def send(self, call: Call[T], *, deadline_s: Optional[float] = None) -> T:
        raise NotImplementedError("the client sends")

    def reset_usage(self, path: str) -> AccountOut:
        """Starts the account's budget window again now: what it spent stops counting (open
        holds stay held)."""
        return self.send(reset_usage(path))

    def start_run(self, path: str) -> AccountOut:
        """Starts a new run under the account's run caps, lifting a run cap or loop halt;
        `Conflict` (code `no_run_caps`) when its rules have none."""
        return self.send(start_run(path))

    def request_increase(
        self,
        path: str,
        amount: Mapping[str, int],
        reason: str,
        idempotency_key: Optional[str] = None,
    ) -> RequestOut:
        """Asks for `amount` more of the account's limits (`{"tokens": 50_000}`), with a
        `reason` (1 to 512 bytes) for the operator who decides; the request is pending. Retried
        under one idempotency key (made here unless given): a retry finds the same request."""
        return self.send(request_increase(path, amount, reason, idempotency_key))

    def increase_requests(self, state: RequestsState = "pending") -> list[RequestOut]:
        """The pending requests the token sees, or `"all"` the server remembers; newest first."""
        return self.send(increase_requests(state))

    def increase_request(self, request_id: str) -> RequestOut:
        return self.send(increase_request(request_id))

    def approve_request(self, request_id: str, note: Optional[str] = None) -> RequestOut:
        """Raises the account's limits by the amount, out of its parent's pool (`Conflict`,
        code `insufficient_pool`, when the pool is short; the request stays pending)."""
        return self.send(decide_request(request_id, "approve", note))

    def reject_request(self, request_id: str, note: Optional[str] = None) -> RequestOut:
        return self.send(decide_request(request_id, "reject", note))


class AsyncRuleMethods:
    """The budget-rules methods of `AsyncPurser`: those of `RuleMethods`, awaited."""

    async def send(self, call: Call[T], *, deadline_s: Optional[float] = None) -> T:
        raise NotImplementedError("the client sends")

    async def reset_usage(self, path: str) -> AccountOut:
        return await self.send(reset_usage(path))

    async def start_run(self, path: str) -> AccountOut:
        return await self.send(start_run(path))

    async def request_increase(
        self,
        path: str,
        amount: Mapping[str, int],
        reason: str,
        idempotency_key: Optional[str] = None,
    ) -> RequestOut:
        return await self.send(request_increase(path, amount, reason, idempotency_key))

    async def increase_requests(self, state: RequestsState = "pending") -> list[RequestOut]:
        return await self.send(increase_requests(state))

    async def increase_request(self, request_id: str) -> RequestOut:
        return await self.send(increase_request(request_id))

    async def approve_request(self, request_id: str, note: Optional[str] = None) -> RequestOut:
        return await self.send(decide_request(request_id, "approve", note))

    async def reject_request(self, request_id: str, note: Optional[str] = None) -> RequestOut:
        return await self.send(decide_request(request_id, "reject", note))
