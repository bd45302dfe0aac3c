"""Workers running a DAG's tasks: submits a small build (fetch, then compile and test side by
side, then package), runs one worker per machine until the DAG is finished, and prints what
each task went through. `test` saves a checkpoint, fails its first attempt, and resumes from
the checkpoint on the second, as a flaky step would.

    PURSER_URL=http://127.0.0.1:7543 PURSER_TOKEN=... python examples/python/worker.py \\
        --machines local-0,local-1

Machines are POOL-INDEX names of the server's `[[pool]]` (`local-0` for the first machine of
pool `local`). Exits 0 when the DAG completed; Ctrl-C stops the workers after their tasks.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid

from purser_client import Forbidden, Purser, TaskRun, Worker

BUILD = [
    {"id": "fetch", "runtime_ms": 200},
    {"id": "compile", "depends_on": ["fetch"], "runtime_ms": 500},
    {"id": "test", "depends_on": ["fetch"], "runtime_ms": 500, "checkpointing": True},
    {"id": "package", "depends_on": ["compile", "test"], "runtime_ms": 200},
]


def handler(client: Purser) -> "object":
    def run_task(run: TaskRun) -> None:
        print(f"{run.task.machine}: {run.task.name} attempt {run.attempt}"
              + (f", resuming from {run.resume_from!r}" if run.resume_from else ""))
        time.sleep(run.task.runtime_ms / 1000 / 5)  # the work, five times faster than estimated
        if run.task.name == "test" and run.resume_from is None:
            run.checkpoint("unit tests passed")
            raise RuntimeError("integration tests flaked")
        if run.account:
            # The agent's own model usage lands on the task's account.
            client.usage(run.account, tokens=1200, cost_micros=3000, operation="llm_call", work_units=1)

    return run_task


def open_tenant(client: Purser, tenant: str) -> None:
    try:
        client.put_account(tenant.rsplit("/", 1)[0], limits={"tokens": 10**12, "cost_micros": 10**15})
        client.put_account(tenant, limits={"tokens": 1_000_000, "cost_micros": 100_000_000}, kind="dag")
    except Forbidden:
        print(f"this token may not create {tenant}: using it as it is")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="the server (default: $PURSER_URL)")
    parser.add_argument("--token", help="a bearer token (default: $PURSER_TOKEN)")
    parser.add_argument("--machines", default="local-0", help="comma-separated POOL-INDEX names")
    parser.add_argument("--tenant", default=f"examples/build-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--timeout-s", type=float, default=60.0)
    args = parser.parse_args()

    with Purser.from_env(args.url, args.token) as client:
        open_tenant(client, args.tenant)
        dag = client.submit_dag({"tenant": args.tenant, "name": "build", "tasks": BUILD})
        print(f"submitted {dag.id} ({len(dag.tasks)} tasks) for {args.tenant}")

        def finished() -> bool:
            return client.dag(dag.id).finished

        workers = [Worker(client, machine, idle_min_s=0.05, idle_max_s=0.5)
                   for machine in args.machines.split(",")]
        threads = [
            threading.Thread(target=worker.run, args=(handler(client),),
                             kwargs={"until": finished, "handle_signals": False})
            for worker in workers
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + args.timeout_s
        try:
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:
            print("stopping after the running tasks")
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join()

        final = client.dag(dag.id)
        for task in final.tasks:
            print(f"  {task.name:8} {task.state:10} attempts {task.attempts}"
                  + (f" (last error: {task.error})" if task.error else ""))
        print(f"{final.id}: {final.state}")
        return 0 if final.state == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
