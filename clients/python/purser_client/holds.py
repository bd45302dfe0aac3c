"""Reservations as objects: `hold = client.reserve(...)`, then `hold.settle(...)` or
`hold.void()`; or as a context manager, which voids the hold when the block ends without a
settlement, normally or by an exception (the exception propagates).

A void that fails while an exception is already leaving the block is logged, not raised: the
caller's own exception matters more, and the server releases the hold at its TTL anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Awaitable, Literal, Optional

from .models import Action, ReservationOut, UsageOut

if TYPE_CHECKING:
    from .aio import AsyncPurser
    from .client import Purser

log = logging.getLogger("purser_client")

HoldState = Literal["open", "settled", "void"]


class _HoldFigures:
    """What sync and async holds share: the answer, the amounts held, the state."""

    def __init__(self, answer: ReservationOut, account: str, amount: dict[str, int]) -> None:
        self.answer = answer
        self.account = account
        self.amount = amount
        self.state: HoldState = "open"
        self.settlement: Optional[UsageOut] = None

    @property
    def id(self) -> str:
        return self.answer.id

    @property
    def expires_at(self) -> datetime:
        return self.answer.expires_at

    @property
    def enforcement(self) -> Action:
        """The action the hold was granted with; after a settlement, the settlement's."""
        if self.settlement is not None:
            return self.settlement.enforcement
        return self.answer.enforcement

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, account={self.account!r}, state={self.state!r})"


class Hold(_HoldFigures):
    def __init__(
        self, client: Purser, answer: ReservationOut, account: str, amount: dict[str, int]
    ) -> None:
        super().__init__(answer, account, amount)
        self._client = client

    def settle(
        self,
        usage: Optional[Mapping[str, int]] = None,
        /,
        *,
        operation: Optional[str] = None,
        work_units: Optional[int] = None,
        **amounts: int,
    ) -> UsageOut:
        """Charges what was actually used (more or less than held) and releases the hold."""
        answer = self._client.settle(
            self.id, usage, operation=operation, work_units=work_units, **amounts
        )
        self.state, self.settlement = "settled", answer
        return answer

    def void(self) -> None:
        """Releases the hold without charging anything; a no-op once settled or voided."""
        if self.state != "open":
            return
        self._client.void(self.id)
        self.state = "void"

    def __enter__(self) -> Hold:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if exc is None:
            self.void()
            return
        try:
            self.void()
        except Exception as void_error:
            log.warning("purser: voiding %s after %r failed: %r", self.id, exc, void_error)


class AsyncHold(_HoldFigures):
    def __init__(
        self, client: AsyncPurser, answer: ReservationOut, account: str, amount: dict[str, int]
    ) -> None:
        super().__init__(answer, account, amount)
        self._client = client

    async def settle(
        self,
        usage: Optional[Mapping[str, int]] = None,
        /,
        *,
        operation: Optional[str] = None,
        work_units: Optional[int] = None,
        **amounts: int,
    ) -> UsageOut:
        answer = await self._client.settle(
            self.id, usage, operation=operation, work_units=work_units, **amounts
        )
        self.state, self.settlement = "settled", answer
        return answer

    async def void(self) -> None:
        if self.state != "open":
            return
        await self._client.void(self.id)
        self.state = "void"

    async def __aenter__(self) -> AsyncHold:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if exc is None:
            await self.void()
            return
        try:
            await self.void()
        except Exception as void_error:
            log.warning("purser: voiding %s after %r failed: %r", self.id, exc, void_error)


class PendingHold:
    """What `AsyncPurser.reserve` returns: await it for the hold, or use it in `async with`
    (the hold is requested on entry)."""

    def __init__(self, creating: Awaitable[AsyncHold]) -> None:
        self._creating = creating
        self._hold: Optional[AsyncHold] = None

    def __await__(self) -> Generator[Any, None, AsyncHold]:
        return self._creating.__await__()

    async def __aenter__(self) -> AsyncHold:
        self._hold = await self._creating
        return self._hold

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if self._hold is not None:
            await self._hold.__aexit__(exc_type, exc, traceback)
