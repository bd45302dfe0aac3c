"""Fixtures: the real `purser` binary (one for the session, one per module that kills and
restarts it), clients of it, and a fresh top-level account per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from purser_server import ADMIN_TOKEN, AGENT_TOKEN, PurserServer  # noqa: E402
from tcp_proxy import TcpProxy  # noqa: E402

from purser_client import Purser, RetryPolicy  # noqa: E402

# Short backoffs keep the retry tests fast; the deadline still bounds every call.
TEST_RETRY = RetryPolicy(attempts=8, backoff_base_s=0.05, backoff_max_s=0.5, deadline_s=15.0)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PurserServer]:
    running = PurserServer(tmp_path_factory.mktemp("purser")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PurserServer]:
    """A server of its own that a test may kill and restart (same port, same data)."""
    running = PurserServer(tmp_path_factory.mktemp("purser-restartable")).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def openapi(server: PurserServer) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(server.url + "/openapi.json", timeout=10).json()
    return document


def has_path(openapi: dict[str, Any], path: str) -> bool:
    return path in openapi["paths"]


def has_property(openapi: dict[str, Any], schema: str, name: str) -> bool:
    return name in openapi["components"]["schemas"].get(schema, {}).get("properties", {})


@pytest.fixture()
def admin(server: PurserServer) -> Iterator[Purser]:
    with Purser(server.url, ADMIN_TOKEN, retries=TEST_RETRY) as client:
        yield client


@pytest.fixture()
def agent(server: PurserServer) -> Iterator[Purser]:
    with Purser(server.url, AGENT_TOKEN, retries=TEST_RETRY) as client:
        yield client


def fresh_name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def org(admin: Purser) -> str:
    """A new top-level account with room for children: 1M tokens, 50 money units."""
    path = fresh_name("org")
    admin.put_account(path, limits={"tokens": 1_000_000, "cost_micros": 50_000_000}, kind="org")
    return path


@pytest.fixture()
def proxy(server: PurserServer) -> Iterator[TcpProxy]:
    port = int(server.url.rsplit(":", 1)[1])
    running = TcpProxy("127.0.0.1", port)
    yield running
    running.close()
