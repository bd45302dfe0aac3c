//! The PrometheusRule over the agents' namespace: alerts on the metrics every cluster with the
//! usual monitoring stack has (cAdvisor's `container_*` and the kubelet's `kubelet_volume_*`
//! through the kubelet, `kube_*` from kube-state-metrics), not on Purser's own metrics, which
//! `purser monitoring render` covers. Each expression is limited to the namespace and
//! aggregated to the labels its description names, so a series gained or lost by a scrape
//! target (`instance`, `node`) does not split or end an alert.

use std::collections::BTreeMap;

use serde_json::Value;

use super::crd::{AlertingRule, PrometheusRule, PrometheusRuleSpec, RuleGroup};
use super::{COMPONENT_LABEL, NAME_LABEL, RenderOptions, metadata, to_value};

/// The PrometheusRule's name: `purser` is the one `purser monitoring render` writes.
const NAME: &str = "purser-agents";

/// A share of a limit or of a quota past which something will soon be refused or killed.
const NEAR_FULL: f64 = 0.9;
/// Throttled in a quarter of the CFS periods: kube-prometheus's `CPUThrottlingHigh` threshold.
const THROTTLED_SHARE: f64 = 0.25;
/// A claim that never used a fifth of its size in a day is sized for a different workload.
const OVER_PROVISIONED: f64 = 0.2;

struct Alert {
    name: &'static str,
    severity: &'static str,
    for_: &'static str,
    expr: String,
    summary: &'static str,
    description: &'static str,
}

pub(super) fn prometheus_rule(options: &RenderOptions) -> Value {
    let rules = alerts(&options.namespace)
        .into_iter()
        .map(|alert| AlertingRule {
            alert: alert.name.into(),
            expr: alert.expr,
            for_: alert.for_.into(),
            labels: BTreeMap::from([("severity".into(), alert.severity.into())]),
            annotations: BTreeMap::from([
                ("summary".into(), alert.summary.into()),
                ("description".into(), alert.description.into()),
            ]),
        })
        .collect();
    to_value(&PrometheusRule {
        api_version: PrometheusRule::API_VERSION,
        kind: PrometheusRule::KIND,
        metadata: metadata(
            NAME,
            options,
            &[(NAME_LABEL, "purser"), (COMPONENT_LABEL, "alerts")],
        ),
        spec: PrometheusRuleSpec {
            groups: vec![RuleGroup {
                name: NAME.into(),
                rules,
            }],
        },
    })
}

fn alerts(namespace: &str) -> Vec<Alert> {
    // Selectors: the namespace, and real containers only (cAdvisor also reports the pod's
    // cgroup with `container=""` and the pause container as `POD`).
    let ns = format!("namespace=\"{namespace}\"");
    let containers = format!("{ns}, container!=\"\", container!=\"POD\"");
    let by_container = "by (namespace, pod, container)";
    let by_claim = "by (namespace, persistentvolumeclaim)";
    let by_quota = "by (namespace, resourcequota, resource)";
    vec![
        Alert {
            name: "PurserAgentMemoryNearLimit",
            severity: "warning",
            for_: "15m",
            expr: format!(
                "max {by_container} (container_memory_working_set_bytes{{{containers}}}) \
                 / max {by_container} (\
                 kube_pod_container_resource_limits{{{ns}, resource=\"memory\"}}) \
                 > {NEAR_FULL}"
            ),
            summary: "Container {{ $labels.container }} of {{ $labels.pod }} is near its memory \
                limit",
            description: "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) \
                has used {{ $value | humanizePercentage }} of its memory limit for 15 minutes \
                and is OOM-killed at 100 %. Raise the profile's memory limit, or read the \
                VerticalPodAutoscaler's recommendation.",
        },
        Alert {
            name: "PurserAgentCPUThrottled",
            severity: "warning",
            for_: "15m",
            expr: format!(
                "sum {by_container} (\
                 increase(container_cpu_cfs_throttled_periods_total{{{containers}}}[5m])) \
                 / sum {by_container} (\
                 increase(container_cpu_cfs_periods_total{{{containers}}}[5m])) \
                 > {THROTTLED_SHARE}"
            ),
            summary: "Container {{ $labels.container }} of {{ $labels.pod }} is CPU-throttled",
            description: "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) \
                was throttled in {{ $value | humanizePercentage }} of its CPU periods for 15 \
                minutes: its CPU limit slows it down. Raise the profile's CPU limit.",
        },
        Alert {
            name: "PurserAgentCPUNearLimit",
            severity: "warning",
            for_: "15m",
            expr: format!(
                "sum {by_container} (rate(container_cpu_usage_seconds_total{{{containers}}}[5m])) \
                 / max {by_container} (\
                 kube_pod_container_resource_limits{{{ns}, resource=\"cpu\"}}) \
                 > {NEAR_FULL}"
            ),
            summary: "Container {{ $labels.container }} of {{ $labels.pod }} runs near its CPU \
                limit",
            description: "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) \
                has used {{ $value | humanizePercentage }} of its CPU limit for 15 minutes. If \
                the HorizontalPodAutoscaler is already at its maximum, raise the profile's CPU \
                limit or replicas_max.",
        },
        Alert {
            name: "PurserQuotaNearlyFull",
            severity: "warning",
            for_: "15m",
            expr: quota_ratio(&ns, by_quota, &format!("> {NEAR_FULL}")),
            summary: "Quota {{ $labels.resourcequota }} is nearly used up for {{ \
                $labels.resource }}",
            description: "The namespace {{ $labels.namespace }} uses {{ $value | \
                humanizePercentage }} of its ResourceQuota for {{ $labels.resource }}: new \
                agents will soon be refused. Render the manifests again with more replicas or a \
                larger buffer, or lower replicas_max.",
        },
        Alert {
            name: "PurserQuotaExhausted",
            severity: "critical",
            for_: "5m",
            expr: quota_ratio(&ns, by_quota, ">= 1"),
            summary: "Quota {{ $labels.resourcequota }} is used up for {{ $labels.resource }}",
            description: "The namespace {{ $labels.namespace }} uses all of its ResourceQuota \
                for {{ $labels.resource }}: the autoscalers cannot add agents and a restarted \
                Purser may not be admitted.",
        },
        Alert {
            name: "PurserVolumeNearlyFull",
            severity: "warning",
            for_: "10m",
            expr: format!(
                "max {by_claim} (kubelet_volume_stats_used_bytes{{{ns}}}) \
                 / max {by_claim} (kubelet_volume_stats_capacity_bytes{{{ns}}}) \
                 > {NEAR_FULL}"
            ),
            summary: "Volume {{ $labels.persistentvolumeclaim }} is nearly full",
            description: "The claim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} \
                is {{ $value | humanizePercentage }} full. For an agent's workspace raise the \
                profile's storage; for Purser's data-purser-0, its journal stops when the disk \
                is full.",
        },
        Alert {
            name: "PurserVolumeOverProvisioned",
            severity: "info",
            for_: "1h",
            // The peak of the last day, for claims at least a day old (a new workspace starts
            // empty); `for` then keeps one scrape gap from raising and clearing it.
            expr: format!(
                "max {by_claim} (max_over_time(kubelet_volume_stats_used_bytes{{{ns}}}[1d])) \
                 / max {by_claim} (kubelet_volume_stats_capacity_bytes{{{ns}}}) \
                 < {OVER_PROVISIONED} \
                 and on (namespace, persistentvolumeclaim) \
                 max {by_claim} (kubelet_volume_stats_capacity_bytes{{{ns}}} offset 1d)"
            ),
            summary: "Volume {{ $labels.persistentvolumeclaim }} is mostly unused",
            description: "The claim {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} \
                used at most {{ $value | humanizePercentage }} of its capacity over the last \
                day. Lower the profile's storage so the storage quota and the bill follow what \
                agents use.",
        },
        Alert {
            name: "PurserAgentOOMKilled",
            severity: "warning",
            for_: "0m",
            expr: format!(
                "max {by_container} (\
                 increase(kube_pod_container_status_restarts_total{{{ns}}}[15m])) > 0 \
                 and on (namespace, pod, container) \
                 max {by_container} (\
                 kube_pod_container_status_last_terminated_reason{{{ns}, reason=\"OOMKilled\"}}) \
                 == 1"
            ),
            summary: "Container {{ $labels.container }} of {{ $labels.pod }} was OOM-killed",
            description: "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) \
                restarted {{ $value | humanize }} times in 15 minutes, the last time killed for \
                exceeding its memory limit. Raise the profile's memory limit.",
        },
    ]
}

/// Used over hard for each quota and resource; quotas whose hard figure is zero are left out
/// rather than divided by.
fn quota_ratio(ns: &str, by_quota: &str, comparison: &str) -> String {
    format!(
        "max {by_quota} (kube_resourcequota{{{ns}, type=\"used\"}}) \
         / max {by_quota} (kube_resourcequota{{{ns}, type=\"hard\"}} > 0) \
         {comparison}"
    )
}
