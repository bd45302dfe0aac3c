//! The custom resources the manifests use, as serde structs holding only the fields Purser
//! sets. Field names and types follow the CRDs (kept offline in `shared/data/k8s-crds/`):
//! `autoscaling.k8s.io/v1` VerticalPodAutoscaler from kubernetes/autoscaler and
//! `monitoring.coreos.com/v1` PrometheusRule and ServiceMonitor from the Prometheus Operator.
//! The integration tests check every rendered object against those schemas.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerticalPodAutoscaler {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: VerticalPodAutoscalerSpec,
}

impl VerticalPodAutoscaler {
    pub const API_VERSION: &'static str = "autoscaling.k8s.io/v1";
    pub const KIND: &'static str = "VerticalPodAutoscaler";
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerticalPodAutoscalerSpec {
    pub target_ref: CrossVersionObjectReference,
    pub update_policy: PodUpdatePolicy,
    pub resource_policy: PodResourcePolicy,
}

/// The workload a VPA acts on, by API version, kind and name.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CrossVersionObjectReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PodUpdatePolicy {
    /// `Off` or `Auto` (the CRD also knows `Initial`, `Recreate`, `InPlaceOrRecreate`).
    pub update_mode: &'static str,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PodResourcePolicy {
    pub container_policies: Vec<ContainerResourcePolicy>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ContainerResourcePolicy {
    pub container_name: String,
    pub min_allowed: BTreeMap<String, Quantity>,
    pub max_allowed: BTreeMap<String, Quantity>,
    pub controlled_resources: Vec<String>,
    /// `RequestsAndLimits` or `RequestsOnly`.
    pub controlled_values: &'static str,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PrometheusRule {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: PrometheusRuleSpec,
}

impl PrometheusRule {
    pub const API_VERSION: &'static str = "monitoring.coreos.com/v1";
    pub const KIND: &'static str = "PrometheusRule";
}

/// The body of a Prometheus rule file: `promtool check rules` reads it as it is.
#[derive(Clone, Debug, Serialize)]
pub(super) struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

#[derive(Clone, Debug, Serialize)]
pub(super) struct RuleGroup {
    pub name: String,
    pub rules: Vec<AlertingRule>,
}

#[derive(Clone, Debug, Serialize)]
pub(super) struct AlertingRule {
    pub alert: String,
    pub expr: String,
    /// How long the condition holds before the alert fires (`15m`, `1h`).
    #[serde(rename = "for")]
    pub for_: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServiceMonitor {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: ServiceMonitorSpec,
}

impl ServiceMonitor {
    pub const API_VERSION: &'static str = "monitoring.coreos.com/v1";
    pub const KIND: &'static str = "ServiceMonitor";
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServiceMonitorSpec {
    pub selector: LabelSelector,
    pub endpoints: Vec<Endpoint>,
}

/// One scraped port of the selected Services.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Endpoint {
    /// The Service port's name.
    pub port: String,
    pub path: String,
    pub interval: String,
}
