"""What the repository's check scripts share (`k8s-check.py`, `monitoring-check.py`): a report
that prints one ok/FAILED line per check, and the structural-schema check the Kubernetes API
server applies to custom resources (fields a CRD does not declare are pruned)."""

from __future__ import annotations


class Report:
    """Counts checks and prints one line for each."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"ok: {what}")

    def fail(self, what: str, detail: str = "") -> None:
        self.failed += 1
        print(f"FAILED: {what}")
        for line in detail.rstrip().splitlines():
            print(f"    {line}")

    def skip(self, what: str) -> None:
        self.skipped += 1
        print(f"skipped: {what}")

    def check(self, what: str, problems: list[str]) -> None:
        if problems:
            self.fail(what, "\n".join(problems))
        else:
            self.ok(what)


def unknown_fields(value, schema: dict, path: str) -> list[str]:
    """Fields the API server would prune: keys that a structural schema does not declare."""
    problems = []
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return problems
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if props is not None and key in props:
                problems += unknown_fields(item, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                problems += unknown_fields(item, extra, f"{path}.{key}")
            elif props is not None and extra is not True:
                problems.append(f"{path}.{key}: unknown field")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problems += unknown_fields(item, schema["items"], f"{path}[{index}]")
    return problems
