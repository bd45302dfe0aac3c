"""The OpenAI wrapper with the real `openai` package against a local stub: a hold before each
call, a settlement from the response's usage, streams passed through and settled at their end,
and a denied hold that stops the call before the model sees it."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from conftest import TEST_RETRY
from openai_stub import CHAT_USAGE, RESPONSES_USAGE, WORDS, OpenAIStub
from purser_server import ADMIN_TOKEN, PurserServer

from purser_client import AsyncPurser, BudgetExhausted, Purser
from purser_client.openai import Price, wrap

MODEL = "gpt-test-1"
PRICES = {"gpt-test": Price(input_micros=2, output_micros=10), "*": (100, 100)}
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello to the world, please."},
]


@pytest.fixture()
def stub() -> Iterator[OpenAIStub]:
    running = OpenAIStub()
    yield running
    running.close()


@pytest.fixture()
def agent_account(admin: Purser, org: str) -> str:
    path = f"{org}/llm-agent"
    admin.put_account(path, limits={"tokens": 100_000, "cost_micros": 10_000_000})
    return path


def model_client(stub: OpenAIStub) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0)


def charged(admin: Purser, path: str) -> tuple[dict[str, int], dict[str, int]]:
    account = admin.account(path)
    return account.consumed, account.reserved


def expected_hold(max_tokens: int) -> dict[str, int]:
    chars = sum(len(message["content"]) for message in MESSAGES) + len("system") + len("user")
    prompt = math.ceil(chars / 4) + 4 * len(MESSAGES)
    return {"tokens": prompt + max_tokens, "cost_micros": prompt * 2 + max_tokens * 10}


def test_chat_completion_holds_then_settles_from_usage(
    admin: Purser, agent_account: str, stub: OpenAIStub
) -> None:
    held_during_call: list[dict[str, int]] = []
    stub.on_request = lambda body: held_during_call.append(admin.account(agent_account).reserved)
    llm = wrap(model_client(stub), account=agent_account, prices=PRICES, purser=admin)
    completion = llm.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=100)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "".join(WORDS)
    assert held_during_call == [expected_hold(100)]
    cost = CHAT_USAGE["prompt_tokens"] * 2 + CHAT_USAGE["completion_tokens"] * 10
    assert charged(admin, agent_account) == (
        {"tokens": CHAT_USAGE["total_tokens"], "cost_micros": cost},
        {"tokens": 0, "cost_micros": 0},
    )
    settlement = getattr(llm, "last_settlement")
    assert settlement is not None and settlement.enforcement.kind == "continue"
    assert llm.api_key == "sk-test"  # everything else passes through


def test_chat_stream_passes_chunks_and_settles_from_the_usage_chunk(
    admin: Purser, agent_account: str, stub: OpenAIStub
) -> None:
    llm = wrap(model_client(stub), account=agent_account, prices=PRICES, purser=admin)
    stream = llm.chat.completions.create(model=MODEL, messages=MESSAGES, max_completion_tokens=50, stream=True)  # type: ignore[arg-type]
    texts = []
    for chunk in stream:
        if chunk.choices:
            texts.append(chunk.choices[0].delta.content or "")
        else:
            assert chunk.usage is not None
        if len(texts) == 2:
            assert admin.account(agent_account).reserved["tokens"] == expected_hold(50)["tokens"]
    assert "".join(texts) == "".join(WORDS)
    assert stub.requests[0]["body"]["stream_options"] == {"include_usage": True}
    consumed, reserved = charged(admin, agent_account)
    assert consumed["tokens"] == CHAT_USAGE["total_tokens"] and reserved["tokens"] == 0


def test_responses_plain_and_streamed(admin: Purser, agent_account: str, stub: OpenAIStub) -> None:
    llm = wrap(model_client(stub), account=agent_account, prices=PRICES, purser=admin)
    response = llm.responses.create(model=MODEL, input="Say hello.", max_output_tokens=64)
    assert response.output_text == "".join(WORDS)
    with llm.responses.create(model=MODEL, input=[{"role": "user", "content": "Hi"}], stream=True) as events:
        kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "stream_options" not in stub.requests[1]["body"]
    consumed, reserved = charged(admin, agent_account)
    assert consumed["tokens"] == 2 * RESPONSES_USAGE["total_tokens"] and reserved["tokens"] == 0


def test_a_denied_hold_raises_before_the_model_sees_a_request(
    admin: Purser, org: str, stub: OpenAIStub
) -> None:
    poor = f"{org}/poor-agent"
    admin.put_account(poor, limits={"tokens": 500, "cost_micros": 1_000_000})
    llm = wrap(model_client(stub), account=poor, prices=PRICES, purser=admin)
    with pytest.raises(BudgetExhausted) as denied:
        llm.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4000)  # type: ignore[arg-type]
    assert denied.value.account == poor and denied.value.dimension == "tokens"
    with pytest.raises(ValueError, match="no price"):
        wrap(model_client(stub), account=poor, prices={}, purser=admin).responses.create(
            model=MODEL, input="x"
        )
    assert stub.requests == []
    assert charged(admin, poor) == ({"tokens": 0, "cost_micros": 0}, {"tokens": 0, "cost_micros": 0})


def test_a_failed_call_or_broken_stream_voids_the_hold(
    admin: Purser, agent_account: str, stub: OpenAIStub
) -> None:
    llm = wrap(model_client(stub), account=agent_account, prices=PRICES, purser=admin)
    stub.fail_status = 500
    with pytest.raises(openai.InternalServerError):
        llm.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=10)  # type: ignore[arg-type]
    stub.fail_status = None
    stub.break_stream = True
    stream = llm.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=10, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    assert len(stub.requests) == 2
    assert charged(admin, agent_account) == (
        {"tokens": 0, "cost_micros": 0},
        {"tokens": 0, "cost_micros": 0},
    )


def test_async_wrapper(server: PurserServer, agent_account: str, stub: OpenAIStub) -> None:
    async def calls() -> tuple[str, str]:
        async with AsyncPurser(server.url, ADMIN_TOKEN, retries=TEST_RETRY) as purser:
            model = openai.AsyncOpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0)
            llm = wrap(model, account=agent_account, prices=PRICES, purser=purser)
            completion = await llm.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
            streamed = []
            stream = await llm.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
            async for chunk in stream:
                if chunk.choices:
                    streamed.append(chunk.choices[0].delta.content or "")
            return completion.choices[0].message.content or "", "".join(streamed)

    plain, streamed = asyncio.run(calls())
    assert plain == streamed == "".join(WORDS)
    with Purser(server.url, ADMIN_TOKEN) as admin:
        consumed, reserved = charged(admin, agent_account)
    assert consumed["tokens"] == 2 * CHAT_USAGE["total_tokens"] and reserved["tokens"] == 0


def test_wrap_refuses_a_sync_async_mix(admin: Purser, stub: OpenAIStub) -> None:
    model = openai.AsyncOpenAI(base_url=stub.base_url, api_key="sk-test")
    with pytest.raises(TypeError):
        wrap(model, account="acme", prices=PRICES, purser=admin)  # type: ignore[call-overload]
    _: Any = None
