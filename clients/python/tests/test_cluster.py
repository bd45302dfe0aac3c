"""Two servers on one PostgreSQL journal: the client talks to the standby, whose writes are
redirected (307) to the leader; the client follows with its token and the same idempotency key,
and reads at the standby reflect them once it caught up. Needs `psql` and the machine's
PostgreSQL (`PURSER_TEST_POSTGRES`, `off` to skip)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest

from purser_client import AsyncPurser, Purser
from purser_client.errors import NotFound
from purser_server import ADMIN_TOKEN, PurserServer

SERVER = os.environ.get("PURSER_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")


def psql(sql: str) -> None:
    subprocess.run(["psql", SERVER, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


@pytest.fixture()
def database() -> Iterator[str]:
    if SERVER == "off":
        pytest.skip("PURSER_TEST_POSTGRES=off")
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed: the cluster test creates its database with it")
    name = f"purser_pytest_{uuid.uuid4().hex[:12]}"
    psql(f'CREATE DATABASE "{name}"')
    base, _, _ = SERVER.rpartition("/")
    yield f"{base}/{name}"
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def role(server: PurserServer) -> str:
    return str(httpx.get(server.url + "/readyz", timeout=5).json()["role"])


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def leader_and_standby(tmp_path: Path, database: str) -> Iterator[tuple[PurserServer, PurserServer]]:
    """A leader (once it holds the lease) and a standby following it, stopped on the way out."""
    cluster = "[cluster]\nlease_ttl_ms = 1000\nfollow_every_ms = 20\n"
    env = {"PURSER_STORE": database}
    for name in ("leader", "standby"):
        (tmp_path / name).mkdir()
    leader = PurserServer(tmp_path / "leader", cluster, env).start()
    try:
        wait_for("a leader", lambda: role(leader) == "leader")
        standby = PurserServer(tmp_path / "standby", cluster, env).start()
        try:
            assert role(standby) == "standby"
            yield leader, standby
        finally:
            standby.stop()
    finally:
        leader.stop()


def test_the_client_follows_a_standby_to_the_leader(tmp_path: Path, database: str) -> None:
    with leader_and_standby(tmp_path, database) as (_, standby):
        with Purser(standby.url, ADMIN_TOKEN) as client:
            client.put_account("acme", limits={"tokens": 10_000})
            first = client.usage("acme", {"tokens": 250}, idempotency_key="k-1")
            again = client.usage("acme", {"tokens": 250}, idempotency_key="k-1")
            assert (first.duplicate, again.duplicate) == (False, True)
            assert again.seq == first.seq

            def caught_up() -> bool:
                try:
                    return client.account("acme").consumed.get("tokens") == 250
                except NotFound:  # the standby has not read the account's creation yet
                    return False

            wait_for("the standby to catch up", caught_up)
        answer = httpx.get(
            standby.url + "/v1/accounts/acme", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert int(answer.headers["purser-seq"]) >= first.seq
        assert answer.headers["purser-role"] == "standby"


@pytest.mark.asyncio
async def test_the_async_client_follows_too(tmp_path: Path, database: str) -> None:
    with leader_and_standby(tmp_path, database) as (_, standby):
        async with AsyncPurser(standby.url, ADMIN_TOKEN) as client:
            await client.put_account("globex", limits={"tokens": 1_000})
            answer = await client.usage("globex", {"tokens": 40}, idempotency_key="a-1")
            assert answer.remaining["tokens"] == 960
