#!/usr/bin/env python3
"""Check the monitoring pack that `purser monitoring render --out DIR` writes.

Usage: python3 scripts/monitoring-check.py DIR

DIR holds rules.yml, prometheus-rule.yaml and grafana-dashboard.json. The checks:

  rules       promtool check rules DIR/rules.yml; every alert has a severity (warning or
              critical), a summary, a description and a runbook_url whose anchor is a heading of
              docs/monitoring.md.
  rule tests  crates/server/monitoring/rules_test.yml is copied into DIR and run with
              promtool test rules (it expects the defaults: prefix purser_, lead time 3600 s,
              job purser).
  object      prometheus-rule.yaml is a monitoring.coreos.com/v1 PrometheusRule with a valid
              metadata.name, and its spec.groups are rules.yml's groups.
  crd         prometheus-rule.yaml is valid against the served version's openAPIV3Schema of
              ../shared/data/k8s-crds/monitoring.coreos.com_prometheusrules.yaml (beside the
              repository; skipped when that folder is absent) and has no field the schema does
              not know.
  dashboard   grafana-dashboard.json parses, has panels, every panel has a target with an expr,
              and every expr parses as PromQL (promtool, Grafana's variables replaced).
  templates   no "{{" is left in any rendered file.

Needs promtool (Debian: apt-get install prometheus) and the Python packages pyyaml and jsonschema
(pip install pyyaml jsonschema). Exits 0 when every check passes, 1 when one fails, 2 on a usage
error or a missing tool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RULES_TEST = REPO / "crates" / "server" / "monitoring" / "rules_test.yml"
DOCS = REPO / "docs" / "monitoring.md"
CRD_DIR = REPO.parent / "shared" / "data" / "k8s-crds"
CRD_FILE = CRD_DIR / "monitoring.coreos.com_prometheusrules.yaml"
RENDERED = ("rules.yml", "prometheus-rule.yaml", "grafana-dashboard.json")
API_VERSION = "monitoring.coreos.com/v1"
KIND = "PrometheusRule"
SEVERITIES = {"warning", "critical"}
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
if _missing:
    print(
        f"monitoring-check: missing Python packages: {', '.join(_missing)}. "
        "Install them with: pip install pyyaml jsonschema",
        file=sys.stderr,
    )
    sys.exit(2)

from checklib import Report, unknown_fields  # noqa: E402 (after the package check)


def run(cmd: list[str]) -> tuple[bool, str]:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.returncode == 0, (proc.stdout + proc.stderr)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def doc_anchors() -> set[str] | None:
    if not DOCS.is_file():
        return None
    anchors = set()
    in_code = False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            anchors.add(github_anchor(m.group(1)))
    return anchors


def check_rules(report: Report, promtool: str, out: Path, rules: dict | None) -> None:
    ok, output = run([promtool, "check", "rules", str(out / "rules.yml")])
    if ok:
        report.ok("promtool check rules rules.yml")
    else:
        report.fail("promtool check rules rules.yml", output)

    if rules is None:
        return
    problems = []
    if set(rules) != {"groups"}:
        problems.append(f"top-level keys must be just groups, not {sorted(rules)}")
    anchors = doc_anchors()
    if anchors is None:
        problems.append(f"{DOCS} is missing: the runbook anchors cannot be checked")
    alerts = 0
    for group in rules.get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert")
            if name is None:
                continue
            alerts += 1
            labels = rule.get("labels") or {}
            notes = rule.get("annotations") or {}
            if labels.get("severity") not in SEVERITIES:
                problems.append(f"{name}: labels.severity must be warning or critical")
            for key in ("summary", "description", "runbook_url"):
                if not str(notes.get(key, "")).strip():
                    problems.append(f"{name}: annotations.{key} is missing")
            url = str(notes.get("runbook_url", ""))
            if "#" not in url:
                problems.append(f"{name}: runbook_url has no #anchor")
            elif anchors is not None and url.rsplit("#", 1)[1] not in anchors:
                problems.append(
                    f"{name}: runbook_url anchor #{url.rsplit('#', 1)[1]} is no heading "
                    f"of {DOCS.relative_to(REPO)}"
                )
    if alerts == 0:
        problems.append("rules.yml has no alert")
    report.check(f"{alerts} alerts carry severity, summary, description and runbook_url", problems)


def check_rule_tests(report: Report, promtool: str, out: Path) -> None:
    if not RULES_TEST.is_file():
        report.fail("promtool test rules", f"{RULES_TEST} is missing")
        return
    shutil.copyfile(RULES_TEST, out / "rules_test.yml")
    ok, output = run([promtool, "test", "rules", str(out / "rules_test.yml")])
    if ok:
        report.ok("promtool test rules rules_test.yml")
    else:
        report.fail(
            "promtool test rules rules_test.yml "
            "(the tests expect the defaults: prefix purser_, lead time 3600 s, job purser)",
            output,
        )


def served_schema(version: str) -> tuple[dict | None, str]:
    docs = [d for d in yaml.safe_load_all(CRD_FILE.read_text(encoding="utf-8")) if d]
    group, _ = API_VERSION.split("/")
    for doc in docs:
        spec = doc.get("spec") or {}
        if spec.get("group") != group or (spec.get("names") or {}).get("kind") != KIND:
            continue
        for entry in spec.get("versions") or []:
            if entry.get("name") == version:
                if not entry.get("served"):
                    return None, f"version {version} of the CRD is not served"
                schema = (entry.get("schema") or {}).get("openAPIV3Schema")
                if not schema:
                    return None, f"version {version} of the CRD has no openAPIV3Schema"
                return schema, ""
        return None, f"the CRD has no version {version}"
    return None, f"{CRD_FILE.name} defines no {KIND} of group {group}"


def check_rule_object(report: Report, obj, rules: dict | None) -> None:
    """The PrometheusRule's identity, and that it carries rules.yml's groups."""
    what = f"prometheus-rule.yaml is a {KIND} ({API_VERSION}) with rules.yml's groups"
    if not isinstance(obj, dict):
        report.fail(what, "prometheus-rule.yaml is not one YAML mapping")
        return
    problems = []
    if obj.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion is {obj.get('apiVersion')!r}, not {API_VERSION}")
    if obj.get("kind") != KIND:
        problems.append(f"kind is {obj.get('kind')!r}, not {KIND}")
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = metadata.get("name")
    if not name:
        problems.append("metadata.name is missing")
    elif not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        problems.append(f"metadata.name {name!r} is no DNS-1123 subdomain")
    for key, label in (metadata.get("labels") or {}).items():
        if not isinstance(label, str):
            problems.append(f"metadata.labels.{key} is not a string")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    groups = spec.get("groups")
    if not groups:
        problems.append("spec.groups is missing or empty")
    elif rules is not None and groups != rules.get("groups"):
        problems.append("spec.groups differ from rules.yml's groups")
    names = [g.get("name") for g in groups or [] if isinstance(g, dict)]
    if len(names) != len(set(names)):
        problems.append("spec.groups has two groups of the same name")
    report.check(what, problems)


def check_crd_schema(report: Report, obj) -> None:
    """The PrometheusRule against the served version's schema of the Prometheus-Operator CRD."""
    what = f"prometheus-rule.yaml is valid against the {KIND} CRD's openAPIV3Schema"
    if not CRD_DIR.is_dir():
        report.skip(f"{what}: the CRD folder {CRD_DIR} is absent")
        return
    if not CRD_FILE.is_file():
        report.fail(what, f"{CRD_FILE} is missing")
        return
    schema, why = served_schema(API_VERSION.split("/")[1])
    if schema is None:
        report.fail(what, why)
        return
    problems = []
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        problems.append(f"{where}: {error.message}")
    problems += unknown_fields(obj, schema, "")
    report.check(what, problems)


def grafana_vars_to_promql(expr: str) -> str:
    """An expr with Grafana's variables replaced so that promtool can parse it."""
    expr = re.sub(r"\$\{?(__rate_interval|__interval|__range)\}?", "5m", expr)
    expr = re.sub(r"\$\{?__\w+\}?", "1", expr)
    return re.sub(r"\$\{[^}]*\}|\$\w+", ".*", expr)


def check_dashboard(report: Report, promtool: str, out: Path) -> None:
    what = "grafana-dashboard.json has panels, each with a target with an expr"
    try:
        dashboard = json.loads((out / "grafana-dashboard.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        report.fail(what, f"grafana-dashboard.json does not parse: {err}")
        return
    if not isinstance(dashboard, dict):
        report.fail(what, "grafana-dashboard.json is not a JSON object")
        return

    panels = []

    def collect(items) -> None:
        for p in items or []:
            if p.get("type") == "row":
                collect(p.get("panels"))
            else:
                panels.append(p)

    collect(dashboard.get("panels"))
    problems = []
    exprs = []
    if not panels:
        problems.append("no panels")
    for index, panel in enumerate(panels):
        title = panel.get("title") or f"panel {index}"
        targets = [t for t in panel.get("targets") or [] if str(t.get("expr", "")).strip()]
        if not targets:
            problems.append(f"{title!r}: no target with an expr")
        exprs += [(title, t.get("refId", "?"), t["expr"]) for t in targets]
    if not dashboard.get("uid"):
        problems.append("no uid")
    report.check(f"{what} ({len(panels)} panels)", problems)

    if not exprs:
        return
    with tempfile.TemporaryDirectory() as tmp:
        rules = [
            {"record": f"dashboard:panel_{i}", "expr": grafana_vars_to_promql(expr)}
            for i, (_, _, expr) in enumerate(exprs)
        ]
        path = Path(tmp) / "dashboard-exprs.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        ok, output = run([promtool, "check", "rules", str(path)])
    if ok:
        report.ok(f"the dashboard's {len(exprs)} exprs parse as PromQL")
    else:
        bad = sorted({int(i) for i in re.findall(r'"dashboard:panel_(\d+)"', output)})
        where = [f"panel {exprs[i][0]!r}, target {exprs[i][1]}: {exprs[i][2]}" for i in bad]
        report.fail("the dashboard's exprs parse as PromQL", "\n".join(where) or output)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = Path(argv[1])
    if not out.is_dir():
        print(f"monitoring-check: {out} is not a directory", file=sys.stderr)
        return 2
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not promtool:
        print(
            "monitoring-check: promtool not found (Debian: apt-get install prometheus; "
            "or set PROMTOOL=/path/to/promtool)",
            file=sys.stderr,
        )
        return 2

    report = Report()
    missing = [name for name in RENDERED if not (out / name).is_file()]
    if missing:
        report.fail(f"{out} holds the rendered files", "missing: " + ", ".join(missing))
        print(f"monitoring: {report.passed} passed, {report.failed} failed")
        return 1

    texts = {name: (out / name).read_text(encoding="utf-8") for name in RENDERED}
    report.check(
        'no "{{" is left in the rendered files',
        [
            f"{name}:{n}: ...{line[max(0, m.start() - 40) : m.start() + 40].strip()}..."
            for name, text in texts.items()
            for n, line in enumerate(text.splitlines(), 1)
            for m in re.finditer(r"\{\{", line)
        ],
    )

    rules = None
    try:
        rules = yaml.safe_load(texts["rules.yml"])
        if not isinstance(rules, dict):
            raise ValueError("not a YAML mapping")
    except (yaml.YAMLError, ValueError) as err:
        report.fail("rules.yml parses as YAML", str(err))
        rules = None
    obj = None
    try:
        docs = [d for d in yaml.safe_load_all(texts["prometheus-rule.yaml"]) if d is not None]
        if len(docs) != 1:
            raise ValueError(f"{len(docs)} YAML documents, not 1")
        obj = docs[0]
    except (yaml.YAMLError, ValueError) as err:
        report.fail("prometheus-rule.yaml parses as one YAML document", str(err))

    check_rules(report, promtool, out, rules)
    check_rule_tests(report, promtool, out)
    if obj is not None:
        check_rule_object(report, obj, rules)
        check_crd_schema(report, obj)
    check_dashboard(report, promtool, out)

    tail = f", {report.skipped} skipped" if report.skipped else ""
    print(f"monitoring: {report.passed} passed, {report.failed} failed{tail}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
