"""The fleet from Python: profiles with the guide's defaults, an agent registering against one
(its account opened with the profile's budget when the profile has one), heartbeats, what the
HPA and the VPA would do, and the errors of bad input."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from purser_server import ADMIN_TOKEN, PurserServer

from purser_client import AsyncPurser, InvalidInput, NotFound, Purser


def test_profiles_have_the_guides_defaults(admin: Purser) -> None:
    by_name = {profile.name: profile for profile in admin.profiles()}
    assert set(by_name) >= {"implementation", "quality", "testing"}
    implementation = by_name["implementation"]
    assert (implementation.requests.cpu, implementation.requests.memory) == ("2", "8Gi")
    assert (implementation.limits.cpu, implementation.limits.memory) == ("4", "16Gi")
    assert implementation.storage == "10Gi" and implementation.priority_class == "high"
    assert admin.profile("testing").storage == "50Gi"
    with pytest.raises(NotFound):
        admin.profile("astronaut")


def test_an_agent_registers_beats_and_is_scaled(admin: Purser) -> None:
    name = f"py-{uuid.uuid4().hex[:8]}"
    agent = admin.register_agent(name, "quality", version="2.0.1", labels={"team": "docs"})
    assert agent.healthy and agent.profile == "quality" and agent.labels == {"team": "docs"}
    beat = admin.agent_heartbeat(name, status="busy", cpu_millicores=400, memory_bytes=2 << 30)
    assert (beat.status, beat.cpu_millicores) == ("busy", 400)
    assert admin.agent(name).memory_bytes == 2 << 30
    listed = admin.agents(profile="quality", limit=1000)
    assert name in [a.name for a in listed.agents]
    decision = admin.scale("quality")
    assert decision.current_replicas >= 1
    assert decision.replicas_min <= decision.desired_replicas <= decision.replicas_max
    assert [m.metric for m in decision.metrics][-1] == "purser_eligible_tasks"
    assert {c.kind for c in decision.conditions} >= {"AbleToScale"}
    with pytest.raises(InvalidInput) as refused:
        admin.agent_heartbeat(name, cpu_millicores=1 << 60)
    assert refused.value.field == "cpu_millicores"
    with pytest.raises(InvalidInput) as refused:
        admin.register_agent(f"{name}-2", "astronaut")
    assert refused.value.field == "profile"
    assert admin.forget_agent(name).name == name
    with pytest.raises(NotFound):
        admin.agent_heartbeat(name)


def test_samples_give_requests(admin: Purser) -> None:
    start = datetime.now(timezone.utc) - timedelta(hours=6)
    samples = [
        {
            "container": "agent",
            "at": (start + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z"),
            "cpu_millicores": 300 + minute % 5 * 10,
            "memory_bytes": 1 << 30,
        }
        for minute in range(0, 360, 2)
    ]
    answer = admin.samples("testing", samples)
    assert answer.accepted + answer.dropped == len(samples)
    advice = admin.rightsize("testing")
    agent = next(c for c in advice.containers if c.container == "agent")
    assert agent.target.cpu_millicores is not None and agent.target.cpu_millicores >= 300
    assert agent.lower_bound.cpu_millicores is not None
    assert agent.lower_bound.cpu_millicores <= agent.target.cpu_millicores
    with pytest.raises(InvalidInput) as refused:
        admin.samples("testing", [{"container": "agent"}])
    assert refused.value.field == "samples[0].cpu_millicores"


def test_the_async_client_has_the_same_calls(server: PurserServer) -> None:
    async def run() -> None:
        async with AsyncPurser(server.url, ADMIN_TOKEN) as client:
            name = f"py-async-{uuid.uuid4().hex[:8]}"
            assert (await client.register_agent(name, "implementation")).healthy
            assert (await client.agent_heartbeat(name, cpu_millicores=100)).cpu_millicores == 100
            assert len(await client.profiles()) >= 3
            assert (await client.scale("implementation")).profile == "implementation"
            assert (await client.forget_agent(name)).name == name

    asyncio.run(run())
