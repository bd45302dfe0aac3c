//! Purser itself in the namespace: a StatefulSet of exactly one pod with its data directory on
//! a claim, the Service agents and Prometheus reach it by, its PodDisruptionBudget and the
//! ServiceMonitor that scrapes `/metrics`.

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::cluster::{priority_class_name, resource_map};
use super::crd::{Endpoint, ServiceMonitor, ServiceMonitorSpec};
use super::{
    COMPONENT_LABEL, NAME_LABEL, PURSER_LIMITS, PURSER_REQUESTS, RenderOptions, claim_template,
    common_labels, container_security_context, metadata, pod_security_context, selector_labels,
    to_value,
};

/// The name of Purser's StatefulSet, Service, PodDisruptionBudget and ServiceMonitor.
pub(super) const NAME: &str = "purser";
pub(super) const PORT: i32 = 7543;
/// The Service port's name, which the ServiceMonitor scrapes by.
const PORT_NAME: &str = "http";
const DATA_DIR: &str = "/var/lib/purser";
/// The user and group of the `purser` account in the image the repository's Dockerfile builds.
const USER_ID: i64 = 10001;

/// Where agents reach Purser, through its Service; the short `.svc` form works whatever the
/// cluster's domain.
pub(super) fn url(options: &RenderOptions) -> String {
    format!("http://{NAME}.{}.svc:{PORT}", options.namespace)
}

fn labels() -> [(&'static str, &'static str); 2] {
    [(NAME_LABEL, NAME), (COMPONENT_LABEL, "server")]
}

pub(super) fn service(options: &RenderOptions) -> Value {
    to_value(&Service {
        metadata: metadata(NAME, options, &labels()),
        spec: Some(ServiceSpec {
            selector: Some(selector_labels(NAME)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: PORT,
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

/// Purser is the journal's single writer, so it runs as a StatefulSet of one: a StatefulSet
/// never starts `purser-0` again before the old `purser-0` is gone, where a Deployment's
/// rollout would run two pods on the same journal for a while. Its data directory is a claim
/// that outlives the pod and, by the retention policy, the StatefulSet too.
pub(super) fn stateful_set(options: &RenderOptions) -> Value {
    let http_probe = |path: &str, period_seconds: i32, failure_threshold: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(PORT_NAME.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    let container = Container {
        name: NAME.into(),
        image: Some(options.purser_image.clone()),
        args: Some(
            [
                "serve",
                "--listen",
                &format!("0.0.0.0:{PORT}"),
                "--data-dir",
                DATA_DIR,
            ]
            .map(String::from)
            .to_vec(),
        ),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        // Replaying a long journal at start-up may take minutes: the liveness probe waits
        // until the startup probe has passed (up to 5 minutes), then restarts a Purser that
        // stops answering for 30 seconds; readiness takes it out of the Service meanwhile.
        startup_probe: Some(http_probe("/healthz", 5, 60)),
        liveness_probe: Some(http_probe("/healthz", 10, 3)),
        readiness_probe: Some(http_probe("/readyz", 5, 2)),
        resources: Some(ResourceRequirements {
            requests: Some(resource_map(PURSER_REQUESTS)),
            limits: Some(resource_map(PURSER_LIMITS)),
            ..ResourceRequirements::default()
        }),
        security_context: Some(k8s_openapi::api::core::v1::SecurityContext {
            read_only_root_filesystem: Some(true),
            ..container_security_context()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "data".into(),
                mount_path: DATA_DIR.into(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "tmp".into(),
                mount_path: "/tmp".into(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    };
    let mut pod_labels = common_labels(options);
    pod_labels.extend(labels().map(|(key, value)| (key.to_string(), value.to_string())));
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container],
            // Every agent waits on Purser: it takes the highest tier.
            priority_class_name: Some(priority_class_name("high")),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(pod_security_context(Some(USER_ID))),
            volumes: Some(vec![Volume {
                name: "tmp".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            }]),
            ..PodSpec::default()
        }),
    };
    to_value(&StatefulSet {
        metadata: metadata(NAME, options, &labels()),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(NAME.into()),
            selector: LabelSelector {
                match_labels: Some(selector_labels(NAME)),
                ..LabelSelector::default()
            },
            template,
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_scaled: Some("Retain".into()),
                    when_deleted: Some("Retain".into()),
                },
            ),
            volume_claim_templates: Some(vec![claim_template(
                "data",
                options.purser_storage_bytes,
            )]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    })
}

/// `minAvailable: 1` on a single pod: a drain, or the cluster autoscaler emptying a node, does
/// not move Purser by itself; an operator moves it with `kubectl delete pod purser-0` when a
/// minute of API downtime suits. A Purser that is not ready may always be evicted, so a broken
/// one never holds a node.
pub(super) fn pod_disruption_budget(options: &RenderOptions) -> Value {
    to_value(&PodDisruptionBudget {
        metadata: metadata(NAME, options, &labels()),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(NAME)),
                ..LabelSelector::default()
            }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

/// The Prometheus Operator scrapes Purser's Service on its `http` port every 30 seconds; the
/// Service's name, `purser`, becomes the `job` label that Purser's own alerts expect.
pub(super) fn service_monitor(options: &RenderOptions) -> Value {
    to_value(&ServiceMonitor {
        api_version: ServiceMonitor::API_VERSION,
        kind: ServiceMonitor::KIND,
        metadata: metadata(NAME, options, &labels()),
        spec: ServiceMonitorSpec {
            selector: LabelSelector {
                match_labels: Some(selector_labels(NAME)),
                ..LabelSelector::default()
            },
            endpoints: vec![Endpoint {
                port: PORT_NAME.into(),
                path: "/metrics".into(),
                interval: "30s".into(),
            }],
        },
    })
}
