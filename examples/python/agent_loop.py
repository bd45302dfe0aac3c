"""An agent loop that obeys its budget: before each (fake) model call it holds an estimate,
after the call it settles what was used, and it does what the answer says: waits when
throttled, switches to a cheaper model when degraded, and ends when stopped or when a hold is
denied.

    PURSER_URL=http://127.0.0.1:7543 PURSER_TOKEN=... python examples/python/agent_loop.py

With a token that may create accounts, it opens `examples/loop-XXXX` with a small budget so that
the whole ladder shows within a second or two; with an agent's token, pass `--account` inside
its scope. Exits 0 once the budget has stopped the loop (or after `--max-steps`).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from dataclasses import dataclass

from purser_client import BudgetExhausted, Forbidden, Purser, Stopped

# Micro-units of money per token, input and output.
MODELS = {"big-model": (3, 15), "small-model": (1, 4)}
MAX_OUTPUT_TOKENS = 600


@dataclass
class Reply:
    text: str
    input_tokens: int
    output_tokens: int


def fake_llm(prompt: str, model: str, rng: random.Random) -> Reply:
    """Stands in for a model: a few milliseconds, and a usage like a real answer's."""
    time.sleep(0.005)
    output = rng.randint(150, MAX_OUTPUT_TOKENS if model == "big-model" else 250)
    return Reply(text=f"[{model}] {output} tokens about {prompt!r}", input_tokens=len(prompt) // 4 + 50, output_tokens=output)


def cost(model: str, input_tokens: int, output_tokens: int) -> int:
    input_price, output_price = MODELS[model]
    return input_tokens * input_price + output_tokens * output_price


def open_account(client: Purser, account: str, budget_tokens: int) -> None:
    """Creates the agent's account when the token may; an agent's token finds it in place."""
    try:
        parent = account.rsplit("/", 1)[0]
        if parent != account:
            client.put_account(parent, limits={"tokens": 10**12, "cost_micros": 10**15}, kind="examples")
        client.put_account(
            account, limits={"tokens": budget_tokens, "cost_micros": budget_tokens * 20}, kind="agent"
        )
    except Forbidden:
        print(f"this token may not create {account}: using it as it is")


def run(client: Purser, account: str, max_steps: int, seed: int) -> int:
    rng = random.Random(seed)
    levels_seen: list[str] = []
    for step in range(1, max_steps + 1):
        model = "small-model" if client.degraded else "big-model"
        prompt = f"step {step}: summarise the findings so far"
        estimate_in = len(prompt) // 4 + 50
        try:
            with client.reserve(
                account,
                tokens=estimate_in + MAX_OUTPUT_TOKENS,
                cost_micros=cost(model, estimate_in, MAX_OUTPUT_TOKENS),
            ) as hold:
                started = time.monotonic()
                reply = fake_llm(prompt, model, rng)
                settled = hold.settle(
                    tokens=reply.input_tokens + reply.output_tokens,
                    cost_micros=cost(model, reply.input_tokens, reply.output_tokens),
                    operation="llm_call",
                    work_units=1,
                )
            if not levels_seen or levels_seen[-1] != settled.level:
                levels_seen.append(settled.level)
                print(f"step {step}: {settled.level} -> {settled.enforcement.kind} ({model})")
            client.pace(settled, elapsed_s=time.monotonic() - started)
        except BudgetExhausted as denied:
            print(f"step {step}: hold denied in {denied.dimension} of {denied.account} "
                  f"({denied.requested} asked, {denied.available} left): done")
            break
        except Stopped as stopped:
            print(f"step {step}: {stopped}: done")
            break
    status = client.account(account)
    print(f"{account}: {status.consumed} consumed of {status.limits}, level {status.level}")
    print("levels: " + " -> ".join(levels_seen))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="the server (default: $PURSER_URL)")
    parser.add_argument("--token", help="a bearer token (default: $PURSER_TOKEN)")
    parser.add_argument("--account", default=f"examples/loop-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--budget-tokens", type=int, default=20_000)
    parser.add_argument("--max-steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with Purser.from_env(args.url, args.token) as client:
        open_account(client, args.account, args.budget_tokens)
        return run(client, args.account, args.max_steps, args.seed)


if __name__ == "__main__":
    sys.exit(main())
