"""The async client's main paths: accounts, usage, holds with `async with`, pacing, events
resumed after a drop, the usage buffer and the worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from conftest import TEST_RETRY, fresh_name
from purser_server import ADMIN_TOKEN, PurserServer
from tcp_proxy import TcpProxy

from purser_client import (
    AsyncPurser,
    AsyncTaskRun,
    AsyncUsageBuffer,
    AsyncWorker,
    BudgetExhausted,
    Event,
    NotFound,
    Stopped,
)


@pytest_asyncio.fixture()
async def client(server: PurserServer) -> AsyncIterator[AsyncPurser]:
    async with AsyncPurser(server.url, ADMIN_TOKEN, retries=TEST_RETRY) as running:
        yield running


@pytest.mark.asyncio
async def test_accounts_and_usage(client: AsyncPurser, org: str) -> None:
    allocated = await client.allocate(org, "equal", ["a", "b"], {"tokens": 200_000})
    assert [allocation.path for allocation in allocated.allocations] == [f"{org}/a", f"{org}/b"]
    assert [account.path for account in await client.accounts(prefix=org)] == [org, f"{org}/a", f"{org}/b"]
    first = await client.usage(f"{org}/a", tokens=450, idempotency_key="async-77")
    again = await client.usage(f"{org}/a", tokens=450, idempotency_key="async-77")
    assert not first.duplicate and again.duplicate
    results = await client.usage_batch([{"account": f"{org}/b", "usage": {"tokens": 5}},
                                        {"account": f"{org}/zz", "usage": {"tokens": 5}}])
    assert isinstance(results[1], NotFound)
    assert (await client.account(org)).consumed["tokens"] == 455
    assert (await client.put_account(f"{org}/a", kind="agent")).kind == "agent"
    assert (await client.close_account(f"{org}/b")).closed
    assert (await client.forecast(f"{org}/a", "tokens")).consumed == 450
    assert (await client.report(org)).path == org
    assert len(await client.audit(prefix=org, limit=2)) == 2
    assert (await client.optimize(dry_run=True)).dry_run


@pytest.mark.asyncio
async def test_holds_with_async_with(client: AsyncPurser, org: str) -> None:
    async with client.reserve(org, tokens=4000, cost_micros=60_000) as hold:
        assert (await client.account(org)).reserved["tokens"] == 4000
        await hold.settle(tokens=3100, cost_micros=52_000)
    with pytest.raises(KeyError):
        async with client.reserve(org, tokens=4000) as failed:
            raise KeyError("the tool failed")
    async with client.reserve(org, tokens=4000) as unsettled:
        pass
    plain = await client.reserve(org, tokens=10)
    await plain.void()
    assert (hold.state, failed.state, unsettled.state, plain.state) == ("settled", "void", "void", "void")
    account = await client.account(org)
    assert account.consumed["tokens"] == 3100 and account.reserved["tokens"] == 0
    with pytest.raises(BudgetExhausted):
        async with client.reserve(org, tokens=10_000_000):
            pass


@pytest.mark.asyncio
async def test_pace(client: AsyncPurser, org: str) -> None:
    path = f"{org}/paced"
    await client.put_account(path, limits={"tokens": 1000})
    throttle = await client.usage(path, tokens=800)
    started = time.monotonic()
    assert (await client.pace(throttle, elapsed_s=0.1)).kind == "throttle"
    assert time.monotonic() - started >= 0.09
    await client.pace(await client.usage(path, tokens=110))
    assert client.degraded
    with pytest.raises(Stopped):
        await client.pace(await client.usage(path, tokens=100))


@pytest.mark.asyncio
async def test_events_resume_after_a_drop(admin_url_proxy: tuple[AsyncPurser, TcpProxy, AsyncPurser]) -> None:
    client, proxy, direct = admin_url_proxy
    parent = fresh_name("aevents")
    since = (await direct.put_account(parent, limits={"tokens": 1_000_000})).seq
    for n in range(4):
        await direct.put_account(f"{parent}/a{n}", limits={"tokens": 10})
    got: list[Event] = []
    async with client.events(prefix=parent, last_event_id=since, read_timeout_s=5) as stream:
        async for event in stream:
            got.append(event)
            if len(got) == 2:
                proxy.sever()
                for n in range(4, 8):
                    await direct.put_account(f"{parent}/a{n}", limits={"tokens": 10})
            if len(got) == 8:
                break
        assert stream.reconnects >= 1
    expected = [entry.seq for entry in await direct.audit(prefix=parent, since_seq=since)]
    assert [event.seq for event in got] == expected


@pytest_asyncio.fixture()
async def admin_url_proxy(
    server: PurserServer, proxy: TcpProxy
) -> AsyncIterator[tuple[AsyncPurser, TcpProxy, AsyncPurser]]:
    async with AsyncPurser(proxy.url, ADMIN_TOKEN, retries=TEST_RETRY) as through, AsyncPurser(
        server.url, ADMIN_TOKEN, retries=TEST_RETRY
    ) as direct:
        yield through, proxy, direct


@pytest.mark.asyncio
async def test_usage_buffer(client: AsyncPurser, org: str) -> None:
    async with AsyncUsageBuffer(client, max_reports=500) as buffer:
        for n in range(1200):
            await buffer.add(org, tokens=1)
        await buffer.add(f"{org}/nobody", tokens=1)
    assert buffer.book.n_sent == 1200 and len(buffer.errors) == 1
    assert (await client.account(org)).consumed["tokens"] == 1200


@pytest.mark.asyncio
async def test_worker(client: AsyncPurser) -> None:
    tenant = fresh_name("adags")
    await client.put_account(tenant, limits={"cost_micros": 1_000_000})
    dag = await client.submit_dag({"tenant": tenant, "tasks": [
        {"id": "a", "runtime_ms": 10}, {"id": "b", "depends_on": ["a"], "runtime_ms": 10}]})
    ran: list[str] = []

    async def handler(run: AsyncTaskRun) -> None:
        if run.task.dag == dag.id:
            ran.append(run.task.name)
        await asyncio.sleep(0.01)

    async def finished() -> bool:
        return (await client.dag(dag.id)).finished

    workers = [AsyncWorker(client, machine, idle_min_s=0.02, idle_max_s=0.2) for machine in ("local-0", "local-1")]
    stats = await asyncio.wait_for(
        asyncio.gather(*(worker.run(handler, until=finished, handle_signals=False) for worker in workers)),
        timeout=20,
    )
    assert sorted(ran) == ["a", "b"] and sum(stat.completed for stat in stats) == 2
    assert (await client.dag(dag.id)).state == "completed"
    assert (await client.dags(tenant=tenant)).dags[0].id == dag.id
