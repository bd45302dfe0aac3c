#!/usr/bin/env python3
"""Check the Kubernetes manifests that `purser k8s render --out DIR` writes.

Usage: python3 scripts/k8s-check.py DIR [--kubernetes-version 1.33.0]

Every *.yaml and *.yml file under DIR (subfolders too, so DIR may hold production/ and
testing/) is read with PyYAML, a YAML 1.1 reader, and each object in it is checked:

  built-in    kinds of Kubernetes itself, with kubernetes-validate in strict mode (unknown
              fields are errors) against the Kubernetes version given (default 1.33.0, the
              oldest version the k8s-openapi feature of crates/k8s builds for).
  crd         custom resources (VerticalPodAutoscaler, PrometheusRule, ServiceMonitor) against
              the openAPIV3Schema of the served version of their CRD in
              ../shared/data/k8s-crds (beside the repository; skipped when that folder is
              absent), with jsonschema, plus no field the schema does not declare.
  promtool    each PrometheusRule's spec, written out as a plain rule file, passes
              `promtool check rules`, and every alert has a `for`, a severity label and summary
              and description annotations.

Prints one ok/FAILED line per check and a total; exits 0 when every check passes, 1 when one
fails, 2 on a usage error or a missing tool.

Needs promtool (Debian: apt-get install prometheus; or PROMTOOL=/path/to/promtool) and the
Python packages it was tested with:

  pip install pyyaml==6.0.4 jsonschema==4.26.0 kubernetes-validate==1.37.0

A rendered folder for a try: K8S_RENDER_DIR=/tmp/k8s-render cargo test -p purser-k8s --test
manifests writes the default profiles' manifests to /tmp/k8s-render/{production,testing}.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CRD_DIR = REPO.parent / "shared" / "data" / "k8s-crds"
DEFAULT_KUBERNETES_VERSION = "1.33.0"
# A Kubernetes object name: a DNS-1123 subdomain.
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

_missing = []
try:
    import yaml
except ImportError:
    _missing.append("pyyaml")
try:
    import jsonschema
except ImportError:
    _missing.append("jsonschema")
try:
    import kubernetes_validate
except ImportError:
    _missing.append("kubernetes-validate")
if _missing:
    print(
        f"k8s-check: missing Python packages: {', '.join(_missing)}. Install them with: "
        "pip install pyyaml==6.0.4 jsonschema==4.26.0 kubernetes-validate==1.37.0",
        file=sys.stderr,
    )
    sys.exit(2)

from checklib import Report, unknown_fields  # noqa: E402 (after the package check)


def load_objects(report: Report, root: Path) -> list[tuple[str, dict]]:
    """(file relative to root, object) for every object of every YAML file under root."""
    objects = []
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in files:
        name = str(path.relative_to(root))
        try:
            documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        except yaml.YAMLError as err:
            report.fail(f"{name} parses as YAML", str(err))
            continue
        for document in documents:
            if isinstance(document, dict):
                objects.append((name, document))
            else:
                report.fail(f"{name} holds Kubernetes objects", f"a document is a {type(document).__name__}")
    return objects


def describe(name: str, obj: dict) -> str:
    metadata = obj.get("metadata") or {}
    return f"{name} {obj.get('kind')}/{metadata.get('name')}"


def load_crds() -> list[dict]:
    crds = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crds += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return crds


def served_schema(crds: list[dict], obj: dict) -> tuple[dict | None, str]:
    """The openAPIV3Schema of the served version of the object's CRD, or why there is none."""
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    for crd in crds:
        spec = crd.get("spec") or {}
        if spec.get("group") != group or (spec.get("names") or {}).get("kind") != obj.get("kind"):
            continue
        for entry in spec.get("versions") or []:
            if entry.get("name") == version:
                if not entry.get("served"):
                    return None, f"version {version} of the CRD is not served"
                schema = (entry.get("schema") or {}).get("openAPIV3Schema")
                return (schema, "") if schema else (None, f"version {version} has no schema")
        return None, f"the CRD has no version {version}"
    return None, f"no CRD in {CRD_DIR} defines {obj.get('kind')} of group {group}"


def check_custom(report: Report, crds: list[dict] | None, name: str, obj: dict) -> None:
    what = f"{describe(name, obj)} against its CRD"
    if crds is None:
        report.skip(f"{what}: the CRD folder {CRD_DIR} is absent")
        return
    schema, why = served_schema(crds, obj)
    if schema is None:
        report.fail(what, why)
        return
    problems = []
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        problems.append(f"{where}: {error.message}")
    problems += unknown_fields(obj, schema, "")
    object_name = (obj.get("metadata") or {}).get("name")
    if not isinstance(object_name, str) or len(object_name) > 253 or not DNS_SUBDOMAIN.match(object_name):
        problems.append(f"metadata.name {object_name!r} is no DNS-1123 subdomain")
    report.check(what, problems)


def check_builtin(report: Report, version: str, name: str, obj: dict) -> bool:
    """Validates a built-in kind; False when kubernetes-validate has no schema for the kind."""
    what = f"{describe(name, obj)} against Kubernetes {version} (strict)"
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return False
    except kubernetes_validate.ValidationError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        report.fail(what, f"{where}: {err.message}")
        return True
    report.ok(what)
    return True


def check_rules(report: Report, promtool: str, name: str, obj: dict) -> None:
    """The PrometheusRule's spec as a rule file, through promtool, and each alert's fields."""
    spec = obj.get("spec") or {}
    with tempfile.TemporaryDirectory(prefix="k8s-check-") as tmp:
        rule_file = Path(tmp) / "rules.yml"
        rule_file.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        proc = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True)
    what = f"{describe(name, obj)}: promtool check rules"
    if proc.returncode == 0:
        report.ok(what)
    else:
        report.fail(what, proc.stdout + proc.stderr)
    problems = []
    for group in spec.get("groups") or []:
        for rule in group.get("rules") or []:
            if "alert" not in rule:
                continue
            annotations = rule.get("annotations") or {}
            missing = [key for key in ("summary", "description") if not annotations.get(key)]
            if not rule.get("for"):
                missing.append("for")
            if (rule.get("labels") or {}).get("severity") not in ("info", "warning", "critical"):
                missing.append("labels.severity (info, warning or critical)")
            if missing:
                problems.append(f"{rule['alert']}: missing {', '.join(missing)}")
    report.check(f"{describe(name, obj)}: every alert has for, severity, summary, description", problems)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Check rendered Kubernetes manifests.")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--kubernetes-version", default=DEFAULT_KUBERNETES_VERSION)
    args = parser.parse_args(argv[1:])
    if not args.dir.is_dir():
        print(f"k8s-check: {args.dir} is not a directory", file=sys.stderr)
        return 2
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not promtool:
        print(
            "k8s-check: promtool not found (Debian: apt-get install prometheus; "
            "or set PROMTOOL=/path/to/promtool)",
            file=sys.stderr,
        )
        return 2

    report = Report()
    objects = load_objects(report, args.dir)
    if not objects:
        report.fail(f"{args.dir} holds rendered manifests", "no YAML object found")
    crds = load_crds() if CRD_DIR.is_dir() else None
    for name, obj in objects:
        if not check_builtin(report, args.kubernetes_version, name, obj):
            check_custom(report, crds, name, obj)
        if obj.get("kind") == "PrometheusRule":
            check_rules(report, promtool, name, obj)

    tail = f", {report.skipped} skipped" if report.skipped else ""
    print(f"k8s-check: {report.passed} passed, {report.failed} failed{tail}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
