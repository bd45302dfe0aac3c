"""Meter an OpenAI client with Purser: every call holds its estimated cost first and settles
what the model reports.

    from openai import OpenAI
    from purser_client import Purser
    from purser_client.openai import Price, wrap

    llm = wrap(OpenAI(), account="acme/wf-1/impl-1", purser=Purser(url, token),
               prices={"gpt-4o-mini": Price(input_micros=0.15, output_micros=0.6)})
    llm.chat.completions.create(model="gpt-4o-mini", messages=[...], max_tokens=500)

The wrapper has the interface of the client it wraps (`chat.completions.create` and
`responses.create` are metered; everything else is passed through untouched). For each metered
call:

1. The estimate: the prompt's tokens, guessed as one token per `chars_per_token` (4) characters
   over every string in `messages` (or `input` and `instructions`), plus 4 tokens per message
   for the roles and separators; plus the output cap (`max_completion_tokens`, `max_tokens` or
   `max_output_tokens`, else `default_output_tokens`) times `n`. The guess errs on the side of
   too much for English text, which is the safe side for a hold; the settlement corrects it.
2. The hold: `tokens` and `cost_micros` (the price table is in micro-units of money per token,
   input and output apart; a model is found by its exact name, then the longest name it starts
   with, then `"*"`; an unknown model raises `ValueError` before anything is sent). A denied hold
   raises `BudgetExhausted` and no request reaches the model.
3. The call. If it raises, the hold is voided and the exception propagates.
4. The settlement, from the response's `usage`. With `stream=True` the wrapper asks for the
   usage (`stream_options={"include_usage": True}` for chat completions), passes every chunk
   through, and settles when the stream ends; if the stream fails, it voids the hold. A stream
   closed early, or one that never reports usage, is settled at the estimate: the model may have
   produced the tokens it was allowed, and charging the hold is the side that cannot overspend.

`wrapped.last_settlement` is the answer of the last settlement, for `purser.pace(...)`.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Generic, Optional, TypeVar, Union, overload

from pydantic import BaseModel

from .aio import AsyncPurser
from .client import Purser
from .holds import AsyncHold, Hold
from .models import UsageOut

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

log = logging.getLogger("purser_client")

MESSAGE_OVERHEAD_TOKENS = 4
DEFAULT_TTL_MS = 600_000


@dataclass(frozen=True)
class Price:
    """Micro-units of money per token (fractions allowed: $0.15 per million is 0.15)."""

    input_micros: float
    output_micros: float


Prices = Mapping[str, Union[Price, tuple[float, float]]]


def _text_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, Mapping):
        return sum(_text_chars(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_text_chars(item) for item in value)
    return 0


def _usage_of(item: Any) -> Optional[Any]:
    """The usage an answer, a chunk or a stream event carries, if any."""
    usage = getattr(item, "usage", None)
    if usage is None:
        usage = getattr(getattr(item, "response", None), "usage", None)
    return usage


class Meter:
    """Estimates, prices and settlements; shared by the sync and async wrappers."""

    def __init__(
        self,
        account: str,
        prices: Prices,
        *,
        chars_per_token: float = 4.0,
        default_output_tokens: int = 1024,
        ttl_ms: int = DEFAULT_TTL_MS,
    ) -> None:
        self.account = account
        self.prices = {
            name: price if isinstance(price, Price) else Price(*price) for name, price in prices.items()
        }
        self.chars_per_token = chars_per_token
        self.default_output_tokens = default_output_tokens
        self.ttl_ms = ttl_ms
        self.last_settlement: Optional[UsageOut] = None

    def price(self, model: str) -> Price:
        if model in self.prices:
            return self.prices[model]
        prefixes = [name for name in self.prices if name != "*" and model.startswith(name)]
        if prefixes:
            return self.prices[max(prefixes, key=len)]
        if "*" in self.prices:
            return self.prices["*"]
        raise ValueError(f"no price for model {model!r}: add it (or \"*\") to prices")

    def amounts(self, model: str, input_tokens: int, output_tokens: int) -> dict[str, int]:
        price = self.price(model)
        cost = input_tokens * price.input_micros + output_tokens * price.output_micros
        return {"tokens": input_tokens + output_tokens, "cost_micros": math.ceil(cost)}

    def _prompt_tokens(self, *parts: Any, n_messages: int) -> int:
        chars = sum(_text_chars(part) for part in parts)
        return math.ceil(chars / self.chars_per_token) + MESSAGE_OVERHEAD_TOKENS * n_messages

    def _output_cap(self, kwargs: Mapping[str, Any], *names: str) -> int:
        for name in names:
            if kwargs.get(name) is not None:
                return int(kwargs[name])
        return self.default_output_tokens

    def estimate_chat(self, kwargs: Mapping[str, Any]) -> dict[str, int]:
        messages = list(kwargs.get("messages") or [])
        prompt = self._prompt_tokens(messages, n_messages=len(messages))
        output = self._output_cap(kwargs, "max_completion_tokens", "max_tokens")
        return self.amounts(str(kwargs["model"]), prompt, output * int(kwargs.get("n") or 1))

    def estimate_responses(self, kwargs: Mapping[str, Any]) -> dict[str, int]:
        given = kwargs.get("input")
        n_messages = len(given) if isinstance(given, list) else 1
        prompt = self._prompt_tokens(given, kwargs.get("instructions"), n_messages=n_messages)
        output = self._output_cap(kwargs, "max_output_tokens")
        return self.amounts(str(kwargs["model"]), prompt, output)

    def actual(self, model: str, usage: Any) -> dict[str, int]:
        input_tokens = getattr(usage, "prompt_tokens", None)
        if input_tokens is None:
            input_tokens = getattr(usage, "input_tokens", 0)
        output_tokens = getattr(usage, "completion_tokens", None)
        if output_tokens is None:
            output_tokens = getattr(usage, "output_tokens", 0)
        return self.amounts(model, int(input_tokens or 0), int(output_tokens or 0))


class _Proxy:
    """Passes every attribute it does not define to the object it wraps."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass(frozen=True)
class _Kind:
    operation: str
    estimate: str  # the Meter method
    stream_usage_option: bool


CHAT = _Kind("openai.chat.completions", "estimate_chat", True)
RESPONSES = _Kind("openai.responses", "estimate_responses", False)


def _prepared(kind: _Kind, kwargs: dict[str, Any]) -> dict[str, Any]:
    if kwargs.get("stream") and kind.stream_usage_option:
        options = dict(kwargs.get("stream_options") or {})
        options["include_usage"] = True
        kwargs = {**kwargs, "stream_options": options}
    return kwargs


class _Create(_Proxy):
    """What both metered `create`s decide: the estimate before the call, the settlement after."""

    def __init__(self, inner: Any, meter: Meter, kind: _Kind) -> None:
        super().__init__(inner)
        self._meter, self._kind = meter, kind

    def _estimate(self, kwargs: Mapping[str, Any]) -> tuple[str, dict[str, int]]:
        """The model called, and the amounts to hold for the call."""
        estimate: dict[str, int] = getattr(self._meter, self._kind.estimate)(kwargs)
        return str(kwargs["model"]), estimate

    def _settlement(self, model: str, answer: Any, estimate: dict[str, int]) -> dict[str, int]:
        """The amounts to settle an answer at: its usage, else the estimate."""
        usage = _usage_of(answer)
        return self._meter.actual(model, usage) if usage is not None else estimate


H = TypeVar("H", bound=Union[Hold, AsyncHold])


class _Stream(_Proxy, Generic[H]):
    """What both metered streams decide: the usage seen so far and the settlement it makes."""

    def __init__(self, inner: Any, hold: H, meter: Meter, model: str, kind: _Kind) -> None:
        super().__init__(inner)
        self._hold: H = hold
        self._meter, self._model, self._kind = meter, model, kind
        self._usage: Optional[Any] = None

    def _seen(self, chunk: Any) -> Any:
        usage = _usage_of(chunk)
        if usage is not None:
            self._usage = usage
        return chunk

    def _settlement(self) -> Optional[dict[str, int]]:
        """The amounts to settle at (the usage reported, else the hold's); None once the hold
        is settled or voided."""
        if self._hold.state != "open":
            return None
        if self._usage is not None:
            return self._meter.actual(self._model, self._usage)
        return self._hold.amount


class _Chat(_Proxy):
    def __init__(self, inner: Any, completions: _Create) -> None:
        super().__init__(inner)
        self.completions = completions


class _MeteredClient(_Proxy):
    """The wrapped client: `chat.completions` and `responses` metered by a `create` class."""

    def __init__(
        self, inner: Any, meter: Meter, purser: Any, create: Callable[[Any, Meter, Any, _Kind], _Create]
    ) -> None:
        super().__init__(inner)
        self.meter = meter
        chat = inner.chat
        self.chat = _Chat(chat, create(chat.completions, meter, purser, CHAT))
        self.responses = create(inner.responses, meter, purser, RESPONSES)

    @property
    def last_settlement(self) -> Optional[UsageOut]:
        return self.meter.last_settlement


# --- sync --------------------------------------------------------------------------------------


class _MeteredCreate(_Create):
    def __init__(self, inner: Any, meter: Meter, purser: Purser, kind: _Kind) -> None:
        super().__init__(inner, meter, kind)
        self._purser = purser

    def create(self, **kwargs: Any) -> Any:
        model, estimate = self._estimate(kwargs)
        hold = self._purser.reserve(self._meter.account, estimate, ttl_ms=self._meter.ttl_ms)
        try:
            answer = self._inner.create(**_prepared(self._kind, kwargs))
        except BaseException:
            _void_quietly(hold)
            raise
        if kwargs.get("stream"):
            return MeteredStream(answer, hold, self._meter, model, self._kind)
        settled = self._settlement(model, answer, estimate)
        self._meter.last_settlement = hold.settle(settled, operation=self._kind.operation, work_units=1)
        return answer


def _void_quietly(hold: Hold) -> None:
    try:
        hold.void()
    except Exception as exc:
        log.warning("purser: voiding %s failed: %r", hold.id, exc)


class MeteredStream(_Stream[Hold]):
    """The model's stream, chunk for chunk; settles the hold when it ends."""

    def __init__(self, inner: Any, hold: Hold, meter: Meter, model: str, kind: _Kind) -> None:
        super().__init__(inner, hold, meter, model, kind)
        self._chunks: Iterator[Any] = iter(inner)

    def __iter__(self) -> MeteredStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._settle()
            raise
        except BaseException:
            _void_quietly(self._hold)
            raise
        return self._seen(chunk)

    def _settle(self) -> None:
        amounts = self._settlement()
        if amounts is None:
            return
        self._meter.last_settlement = self._hold.settle(
            amounts, operation=self._kind.operation, work_units=1
        )

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._settle()

    def __enter__(self) -> MeteredStream:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if exc is not None:
            self._inner.close()
            _void_quietly(self._hold)
            return
        self.close()


class MeteredOpenAI(_MeteredClient):
    def __init__(self, inner: Any, meter: Meter, purser: Purser) -> None:
        super().__init__(inner, meter, purser, _MeteredCreate)


# --- async -------------------------------------------------------------------------------------


async def _avoid_quietly(hold: AsyncHold) -> None:
    try:
        await hold.void()
    except Exception as exc:
        log.warning("purser: voiding %s failed: %r", hold.id, exc)


class _AsyncMeteredCreate(_Create):
    def __init__(self, inner: Any, meter: Meter, purser: AsyncPurser, kind: _Kind) -> None:
        super().__init__(inner, meter, kind)
        self._purser = purser

    async def create(self, **kwargs: Any) -> Any:
        model, estimate = self._estimate(kwargs)
        hold = await self._purser.reserve(self._meter.account, estimate, ttl_ms=self._meter.ttl_ms)
        try:
            answer = await self._inner.create(**_prepared(self._kind, kwargs))
        except BaseException:
            await _avoid_quietly(hold)
            raise
        if kwargs.get("stream"):
            return AsyncMeteredStream(answer, hold, self._meter, model, self._kind)
        settled = self._settlement(model, answer, estimate)
        self._meter.last_settlement = await hold.settle(
            settled, operation=self._kind.operation, work_units=1
        )
        return answer


class AsyncMeteredStream(_Stream[AsyncHold]):
    def __init__(self, inner: Any, hold: AsyncHold, meter: Meter, model: str, kind: _Kind) -> None:
        super().__init__(inner, hold, meter, model, kind)
        self._chunks: AsyncIterator[Any] = inner.__aiter__()

    def __aiter__(self) -> AsyncMeteredStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            await self._settle()
            raise
        except BaseException:
            await _avoid_quietly(self._hold)
            raise
        return self._seen(chunk)

    async def _settle(self) -> None:
        amounts = self._settlement()
        if amounts is None:
            return
        self._meter.last_settlement = await self._hold.settle(
            amounts, operation=self._kind.operation, work_units=1
        )

    async def close(self) -> None:
        try:
            await self._inner.close()
        finally:
            await self._settle()

    async def __aenter__(self) -> AsyncMeteredStream:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        if exc is not None:
            await self._inner.close()
            await _avoid_quietly(self._hold)
            return
        await self.close()


class AsyncMeteredOpenAI(_MeteredClient):
    def __init__(self, inner: Any, meter: Meter, purser: AsyncPurser) -> None:
        super().__init__(inner, meter, purser, _AsyncMeteredCreate)


# --- wrap --------------------------------------------------------------------------------------


def _is_async(openai_client: Any) -> bool:
    import openai

    if isinstance(openai_client, openai.AsyncOpenAI):
        return True
    if isinstance(openai_client, openai.OpenAI):
        return False
    # A compatible client of another make: its `create` says.
    return inspect.iscoroutinefunction(inspect.unwrap(openai_client.chat.completions.create))


@overload
def wrap(
    openai_client: OpenAI,
    *,
    account: str,
    prices: Prices,
    purser: Purser,
    chars_per_token: float = ...,
    default_output_tokens: int = ...,
    ttl_ms: int = ...,
) -> OpenAI: ...
@overload
def wrap(
    openai_client: AsyncOpenAI,
    *,
    account: str,
    prices: Prices,
    purser: AsyncPurser,
    chars_per_token: float = ...,
    default_output_tokens: int = ...,
    ttl_ms: int = ...,
) -> AsyncOpenAI: ...
def wrap(
    openai_client: Any,
    *,
    account: str,
    prices: Prices,
    purser: Union[Purser, AsyncPurser],
    chars_per_token: float = 4.0,
    default_output_tokens: int = 1024,
    ttl_ms: int = DEFAULT_TTL_MS,
) -> Any:
    """`openai_client` metered against `account`: an `OpenAI` with a `Purser`, or an
    `AsyncOpenAI` with an `AsyncPurser`. Typed as the client it wraps, which it imitates."""
    meter = Meter(
        account,
        prices,
        chars_per_token=chars_per_token,
        default_output_tokens=default_output_tokens,
        ttl_ms=ttl_ms,
    )
    is_async = _is_async(openai_client)
    if is_async != isinstance(purser, AsyncPurser):
        raise TypeError("wrap an OpenAI client with a Purser, an AsyncOpenAI with an AsyncPurser")
    if isinstance(purser, AsyncPurser):
        return AsyncMeteredOpenAI(openai_client, meter, purser)
    return MeteredOpenAI(openai_client, meter, purser)


__all__ = ["AsyncMeteredOpenAI", "Meter", "MeteredOpenAI", "Price", "Prices", "wrap"]
