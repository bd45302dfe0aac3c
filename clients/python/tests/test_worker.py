"""The worker loop against the real scheduler: leases, heartbeats that outlast the lease TTL
(1.5 s in the test server), checkpoints a retry resumes from, failures, and stopping.

The scheduler places a task on any machine of the pool whose worker has leased before, so each
test runs a worker per machine, as a real deployment would."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from conftest import fresh_name

from purser_client import Conflict, NotFound, PermanentFailure, Purser, TaskRun, Worker, WorkerStats

MACHINES = ("local-0", "local-1")


def submit(admin: Purser, tasks: list[dict[str, Any]]) -> str:
    tenant = fresh_name("dags")
    admin.put_account(tenant, limits={"cost_micros": 100_000_000})
    return admin.submit_dag({"tenant": tenant, "name": "build", "tasks": tasks}).id


def finished(admin: Purser, dag_id: str) -> bool:
    return admin.dag(dag_id).finished


def run_workers(admin: Purser, dag_id: str, handler: Any, **options: Any) -> WorkerStats:
    """A worker per machine until the DAG is finished; their stats summed."""
    workers = [Worker(admin, machine, idle_min_s=0.02, idle_max_s=0.2, **options) for machine in MACHINES]
    threads = [
        threading.Thread(
            target=worker.run,
            args=(handler,),
            kwargs={"until": lambda: finished(admin, dag_id), "handle_signals": False},
        )
        for worker in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    total = WorkerStats()
    for worker in workers:
        for name in ("completed", "failed", "lost", "idle_polls"):
            setattr(total, name, getattr(total, name) + getattr(worker.stats, name))
    return total


def test_worker_runs_a_dag_to_completion(admin: Purser) -> None:
    dag_id = submit(
        admin,
        [
            {"id": "fetch", "runtime_ms": 100},
            {"id": "compile", "depends_on": ["fetch"], "runtime_ms": 100},
            {"id": "test", "depends_on": ["fetch"], "runtime_ms": 100, "checkpointing": True},
        ],
    )
    seen: list[tuple[str, int, Any]] = []

    def handler(run: TaskRun) -> None:
        seen.append((run.task.name, run.attempt, run.resume_from))
        if run.task.name == "compile":
            # Longer than the lease TTL: only the heartbeats keep the lease.
            time.sleep(2.0)
        if run.task.name == "test" and run.attempt == 1:
            run.checkpoint("half way")
            raise RuntimeError("flaky")

    stats = run_workers(admin, dag_id, handler)
    dag = admin.dag(dag_id)
    assert dag.state == "completed", dag
    assert (stats.completed, stats.failed, stats.lost) == (3, 1, 0)
    assert ("test", 2, "half way") in seen
    test_task = next(task for task in dag.tasks if task.name == "test")
    assert test_task.attempts == 2 and test_task.checkpoint == "half way"
    compile_task = next(task for task in dag.tasks if task.name == "compile")
    assert compile_task.attempts == 1


def test_permanent_failure_fails_the_dag(admin: Purser) -> None:
    dag_id = submit(admin, [{"id": "only", "runtime_ms": 10, "max_attempts": 3}])

    def handler(run: TaskRun) -> None:
        raise PermanentFailure("the input is broken")

    stats = run_workers(admin, dag_id, handler)
    dag = admin.dag(dag_id)
    assert dag.state == "failed" and stats.failed == 1
    assert dag.tasks[0].error is not None and "the input is broken" in dag.tasks[0].error


def test_a_task_taken_away_is_reported_lost(admin: Purser) -> None:
    dag_id = submit(admin, [{"id": "long", "runtime_ms": 10}])
    cancelled = threading.Event()

    def handler(run: TaskRun) -> None:
        admin.cancel_dag(run.task.dag, "superseded")
        cancelled.set()
        assert run.lost.wait(3.0), "the heartbeat never noticed"

    stats = run_workers(admin, dag_id, handler, heartbeat_every_s=0.1)
    assert cancelled.is_set() and stats.lost == 1
    dag = admin.dag(dag_id)
    error = dag.tasks[0].error
    assert dag.state == "cancelled" and error is not None and "superseded" in error


def test_stop_ends_an_idle_worker_at_once(admin: Purser) -> None:
    worker = Worker(admin, "local-1", idle_min_s=0.5, idle_max_s=5.0)
    stopper = threading.Timer(0.2, worker.stop)
    stopper.start()
    started = time.monotonic()
    stats = worker.run(lambda run: None, handle_signals=False)
    assert time.monotonic() - started < 2.0 and stats.idle_polls >= 1


def test_dag_list_pages_and_cancel(admin: Purser) -> None:
    first = submit(admin, [{"id": "a", "runtime_ms": 10}])
    tenant = admin.dag(first).tenant
    second = admin.submit_dag({"tenant": tenant, "tasks": [{"id": "b"}]}, idempotency_key="dag-key")
    again = admin.submit_dag({"tenant": tenant, "tasks": [{"id": "b"}]}, idempotency_key="dag-key")
    assert again.duplicate and again.id == second.id
    page = admin.dags(tenant=tenant, limit=1)
    assert [dag.id for dag in page.dags] == [first] and page.next_after == first
    rest = admin.dags(tenant=tenant, after=page.next_after)
    assert [dag.id for dag in rest.dags] == [second.id]
    cancelled = admin.cancel_dag(second.id, "not needed")
    assert cancelled.state == "cancelled"
    assert [dag.id for dag in admin.dags(tenant=tenant, state="cancelled").dags] == [second.id]
    admin.cancel_dag(first)
    with pytest.raises(NotFound):
        admin.dag("dag_999999999")


def test_tasks_by_hand(admin: Purser) -> None:
    """The calls a worker makes, one by one: a lease of several tasks, heartbeat, checkpoint,
    complete, fail, and a spot interruption that hands the rest back."""
    dag_id = submit(admin, [{"id": f"t{n}", "runtime_ms": 10, "checkpointing": True} for n in range(3)])
    leased = admin.lease("local-0", max_tasks=3)
    tasks = leased.tasks or []
    assert leased.task is not None and leased.task.id == tasks[0].id
    assert {task.dag for task in tasks} == {dag_id} and len(tasks) >= 2
    first, second = tasks[0], tasks[1]
    assert admin.heartbeat(first.id, first.attempt).state == "RUNNING"
    assert admin.checkpoint(first.id, "step 1", first.attempt).state == "RUNNING"
    assert admin.complete(first.id, first.attempt).state == "COMPLETED"
    with pytest.raises(Conflict):
        admin.complete(first.id, first.attempt)
    assert admin.fail(second.id, "boom", attempt=second.attempt, retryable=True).state == "ELIGIBLE"
    returned = admin.interrupted("local-0", "spot reclaimed")
    assert returned.machine.startswith("local") and returned.returned >= len(tasks) - 2
    admin.cancel_dag(dag_id)
