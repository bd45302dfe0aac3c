"""The Python client of Purser, the budget and resource manager for fleets of AI agents.

    from purser_client import Purser

    client = Purser("http://127.0.0.1:7543", token="...")
    with client.reserve("acme/wf-1/impl-1", tokens=4000, cost_micros=60000) as hold:
        answer = call_the_model()
        settled = hold.settle(tokens=3100, cost_micros=52000)
    client.pace(settled)        # sleeps on throttle, sets client.degraded, raises Stopped
                                # (its subclass Paused when the account pauses at stop)

`Purser` and `AsyncPurser` (the same methods, awaited) speak the API of `/openapi.json` with
pydantic models (`purser_client.models`), retry what may be retried with one idempotency key per
logical call (`purser_client.retry`), and raise `PurserError`s (`purser_client.errors`).
`UsageBuffer` batches reports, `Worker` runs DAG tasks, `purser_client.openai.wrap` meters an
OpenAI client.
"""

from .aio import AsyncPurser
from .buffer import AsyncUsageBuffer, UsageBuffer
from .client import Purser
from .errors import (
    BudgetExhausted,
    Conflict,
    Forbidden,
    Halted,
    InvalidInput,
    NotFound,
    PurserError,
    ServerError,
    Unauthorized,
    Unavailable,
)
from .events import AsyncEventStream, Event, EventStream
from .holds import AsyncHold, Hold
from .models import Action
from .pacing import Pacer, Paused, Stopped
from .retry import RetryPolicy
from .worker import (
    AsyncTaskRun,
    AsyncWorker,
    LeaseLost,
    PermanentFailure,
    TaskRun,
    Worker,
    WorkerStats,
)

__version__ = "0.1.0"

__all__ = [
    "Action",
    "AsyncEventStream",
    "AsyncHold",
    "AsyncPurser",
    "AsyncTaskRun",
    "AsyncUsageBuffer",
    "AsyncWorker",
    "BudgetExhausted",
    "Conflict",
    "Event",
    "EventStream",
    "Forbidden",
    "Halted",
    "Hold",
    "InvalidInput",
    "LeaseLost",
    "NotFound",
    "Pacer",
    "Paused",
    "PermanentFailure",
    "Purser",
    "PurserError",
    "RetryPolicy",
    "ServerError",
    "Stopped",
    "TaskRun",
    "Unauthorized",
    "Unavailable",
    "UsageBuffer",
    "Worker",
    "WorkerStats",
]
