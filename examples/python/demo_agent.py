"""The Python agent of `purser demo`: a documentation writer on the purser_client package.

Each step holds an estimate before its (simulated) model call, settles what the call used,
and does what the answer says: `client.pace` sleeps when throttled and flags degrade, when it
switches to the small model; a denied hold or a stop ends it. One line per change of level, so
the demo can show them next to its Rust agents.

    python examples/python/demo_agent.py --url http://127.0.0.1:7543 --account acme/wf-demo/docs
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from purser_client import BudgetExhausted, Purser, Stopped

# Micro-dollars per token of the large model and the small one.
PRICES = {"large": 10, "small": 2}


def say(line: str) -> None:
    print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tokens-per-call", type=int, default=2_000)
    parser.add_argument("--pause-ms", type=int, default=300)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.seconds
    level = "green"
    calls = 0
    with Purser(args.url) as client:
        while calls < args.calls and time.monotonic() < deadline:
            model = "small" if client.degraded else "large"
            mean = args.tokens_per_call // 2 if model == "small" else args.tokens_per_call
            estimate = mean * 6 // 5
            try:
                with client.reserve(
                    args.account, tokens=estimate, cost_micros=estimate * PRICES[model]
                ) as hold:
                    started = time.monotonic()
                    time.sleep(rng.uniform(0.85, 1.15) * args.pause_ms / 1000)
                    used = rng.randint(mean * 85 // 100, mean * 115 // 100)
                    settled = hold.settle(
                        tokens=used, cost_micros=used * PRICES[model], operation="llm_call",
                        work_units=1,
                    )
                calls += 1
                if settled.level != level:
                    say(f"{level} -> {settled.level}: {settled.enforcement.kind} ({model} model)")
                    level = settled.level
                client.pace(settled, elapsed_s=time.monotonic() - started)
            except BudgetExhausted as denied:
                say(f"STOP: a hold of {denied.requested} {denied.dimension} denied: "
                    f"{denied.account} would reach its stop threshold ({denied.available} available)")
                break
            except Stopped as stopped:
                say(f"STOP: {stopped}")
                break
    say(f"finished: {calls} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
