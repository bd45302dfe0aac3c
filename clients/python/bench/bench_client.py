"""The client's two figures of merit, against a local server it starts itself
(`durability = "os"`, a temporary data directory):

(a) usage reports per second through `UsageBuffer` from one process: many accounts, a key on
    every report, counted at the end (the root's consumption must equal what was sent);
(b) the client's own overhead per `reserve` + `settle` pair: the p50 of the pair through
    `Purser`, minus the p50 of the same pair sent by a minimal `http.client` loop in the same
    run (which is as close to the server's own time as a client gets), interleaved pair by pair
    so that both see the same server. The same pair over bare `httpx` (no models, no retries)
    shows how much of the overhead is the HTTP library's.

    target/venv-client/bin/python clients/python/bench/bench_client.py [--binary PATH]

The binary is `--binary`, else `$PURSER_BINARY`, else `target/release/purser` when built,
else `target/debug/purser`. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import json

import httpx
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from purser_server import ADMIN_TOKEN, PurserServer  # noqa: E402

from purser_client import Purser, UsageBuffer  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def pick_binary(given: str | None) -> Path:
    if given:
        return Path(given)
    if os.environ.get("PURSER_BINARY"):
        return Path(os.environ["PURSER_BINARY"])
    release = REPO / "target" / "release" / "purser"
    return release if release.exists() else REPO / "target" / "debug" / "purser"


def open_accounts(client: Purser, root: str, n_accounts: int) -> list[str]:
    client.put_account(root, limits={"tokens": 10**15, "cost_micros": 10**15})
    names = [f"agent-{n}" for n in range(n_accounts)]
    for start in range(0, n_accounts, 500):
        client.allocate(root, "equal", names[start : start + 500], {"tokens": 10**12, "cost_micros": 10**12})
    return [f"{root}/{name}" for name in names]


# (batch_max, senders): one batch of 1,000 at a time; the backlog in one batch; and the
# defaults, with two batches on their way at once.
BUFFER_SETTINGS = ((1000, 1), (10_000, 1), (10_000, 2))


def buffer_throughput(
    client: Purser, n_reports: int, n_accounts: int, batch_max: int, senders: int
) -> tuple[float, int]:
    root = f"bench-{batch_max}-{senders}-{time.monotonic_ns() % 10**9}"
    accounts = open_accounts(client, root, n_accounts)
    started = time.perf_counter()
    with UsageBuffer(client, batch_max=batch_max, senders=senders) as buffer:
        for n in range(n_reports):
            buffer.add(accounts[n % n_accounts], tokens=3, cost_micros=7)
    elapsed = time.perf_counter() - started
    counted = client.account(root).consumed["tokens"] // 3
    assert buffer.book.n_errors == 0, buffer.errors[:3]
    return n_reports / elapsed, counted


class RawPair:
    """A reserve and a settle over one kept-alive http.client connection, nothing else."""

    def __init__(self, url: str, account: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {ADMIN_TOKEN}"}
        self.account = account
        self.n = 0

    def post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        self.connection.request("POST", path, json.dumps(body), self.headers)
        response = self.connection.getresponse()
        answer: dict[str, object] = json.loads(response.read())
        assert response.status < 300, answer
        return answer

    def pair(self) -> None:
        self.n += 1
        hold = self.post(
            "/v1/reservations",
            {"account": self.account, "amount": {"tokens": 400, "cost_micros": 900}, "idempotency_key": f"raw-{self.n}"},
        )
        self.post(f"/v1/reservations/{hold['id']}:settle", {"usage": {"tokens": 310, "cost_micros": 700}})


class HttpxPair:
    """The same pair over a bare httpx client: JSON in, JSON out, nothing else."""

    def __init__(self, url: str, account: str) -> None:
        headers = {"content-type": "application/json", "authorization": f"Bearer {ADMIN_TOKEN}"}
        self.http = httpx.Client(base_url=url, headers=headers)
        self.account = account
        self.n = 0

    def pair(self) -> None:
        self.n += 1
        body = {"account": self.account, "amount": {"tokens": 400, "cost_micros": 900}, "idempotency_key": f"httpx-{self.n}"}
        hold = self.http.post("/v1/reservations", content=json.dumps(body)).json()
        settle = json.dumps({"usage": {"tokens": 310, "cost_micros": 700}})
        self.http.post(f"/v1/reservations/{hold['id']}:settle", content=settle).json()


def pair_overhead(client: Purser, url: str, n_pairs: int) -> dict[str, float]:
    """p50 in microseconds of each way of sending the pair, interleaved pair by pair."""
    root = f"pairs-{time.monotonic_ns() % 10**9}"
    client_account, raw_account, httpx_account = open_accounts(client, root, 3)
    raw, bare = RawPair(url, raw_account), HttpxPair(url, httpx_account)

    def client_pair() -> None:
        with client.reserve(client_account, tokens=400, cost_micros=900) as hold:
            hold.settle(tokens=310, cost_micros=700)

    ways = {"purser": client_pair, "raw": raw.pair, "httpx": bare.pair}
    for _ in range(200):  # warm the connections and caches
        for send in ways.values():
            send()
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(n_pairs):
        for name, send in ways.items():
            started = time.perf_counter()
            send()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(samples) * 1e6 for name, samples in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary")
    parser.add_argument("--reports", type=int, default=300_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--pairs", type=int, default=2_000)
    args = parser.parse_args()
    binary = pick_binary(args.binary)
    os.environ["PURSER_BINARY"] = str(binary)

    server = PurserServer(Path(tempfile.mkdtemp(prefix="purser-bench-"))).start()
    try:
        with Purser(server.url, ADMIN_TOKEN, max_connections=8) as client:
            rows = []
            for batch_max, senders in BUFFER_SETTINGS:
                rate, counted = buffer_throughput(client, args.reports, args.accounts, batch_max, senders)
                assert counted == args.reports, f"{counted} counted of {args.reports}"
                rows.append((batch_max, senders, rate))
            p50 = pair_overhead(client, server.url, args.pairs)
    finally:
        server.stop()

    print(f"binary: {binary}; Python {platform.python_version()}; {os.cpu_count()} CPUs; "
          f"{args.reports} reports over {args.accounts} accounts per run, each counted once")
    print()
    print("| UsageBuffer (max_reports 1,000, flush 100 ms) | reports/s |")
    print("|---|---:|")
    for batch_max, senders, rate in rows:
        print(f"| batch_max {batch_max:,}, senders {senders} | {rate:,.0f} |")
    print()
    print(f"| reserve + settle, p50 over {args.pairs} pairs | µs |")
    print("|---|---:|")
    print(f"| through Purser | {p50['purser']:,.0f} |")
    print(f"| raw http.client loop (the server's time) | {p50['raw']:,.0f} |")
    print(f"| **client overhead** (Purser - raw) | **{p50['purser'] - p50['raw']:,.0f}** |")
    print(f"| of which bare httpx (httpx - raw) | {p50['httpx'] - p50['raw']:,.0f} |")
    print(f"| of which purser_client itself (Purser - httpx) | {p50['purser'] - p50['httpx']:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
