//! The objects of one agent profile: its workload (a StatefulSet when its agents keep a
//! workspace, else a Deployment), the headless Service a StatefulSet needs, and its
//! HorizontalPodAutoscaler, VerticalPodAutoscaler and PodDisruptionBudget.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment, StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::autoscaling::v2::{
    self as hpa, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, PodSpec, PodTemplateSpec, ResourceRequirements,
    SecretKeySelector, Service, ServiceSpec, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::cluster::{priority_class_name, resource_map};
use super::crd::{
    ContainerResourcePolicy, CrossVersionObjectReference, PodResourcePolicy, PodUpdatePolicy,
    VerticalPodAutoscaler, VerticalPodAutoscalerSpec,
};
use super::{
    COMPONENT_LABEL, NAME_LABEL, ROLE_LABEL, RenderOptions, bytes_quantity, claim_template,
    container_security_context, cpu_quantity, metadata, pod_security_context, purser,
    selector_labels, to_value,
};
use crate::profile::Profile;

/// The name of the agent's container in every profile's pods.
pub(super) const CONTAINER: &str = "agent";
const WORKSPACE: &str = "workspace";
const WORKSPACE_PATH: &str = "/workspace";
/// The Secret whose `token` key, when it exists, agents send to Purser as `PURSER_TOKEN`.
pub(super) const TOKEN_SECRET: &str = "purser-token";
/// An agent told to stop (scaled down, evicted) has two minutes to finish its step and report
/// its usage to Purser before it is killed.
const TERMINATION_GRACE_SECONDS: i64 = 120;
/// The smallest recommendations the VPA recommender gives (its `pod-recommendation-min-cpu-
/// millicores` and `pod-recommendation-min-memory-mb` defaults); a lower minAllowed is moot.
const VPA_MIN_CPU_MILLICORES: u64 = 25;
const VPA_MIN_MEMORY_BYTES: u64 = 250 << 20;

fn labels(profile: &Profile) -> [(&'static str, &str); 3] {
    [
        (NAME_LABEL, profile.name.as_str()),
        (COMPONENT_LABEL, "agent"),
        (ROLE_LABEL, profile.role.name()),
    ]
}

fn has_workspace(profile: &Profile) -> bool {
    profile.storage_bytes > 0
}

fn workload_kind(profile: &Profile) -> &'static str {
    if has_workspace(profile) {
        "StatefulSet"
    } else {
        "Deployment"
    }
}

/// The profile's workload. Neither kind names `replicas`: the HPA owns the count, and a
/// re-apply would otherwise reset it.
pub(super) fn workload(profile: &Profile, options: &RenderOptions) -> Value {
    let metadata = metadata(&profile.name, options, &labels(profile));
    let selector = LabelSelector {
        match_labels: Some(selector_labels(&profile.name)),
        ..LabelSelector::default()
    };
    let template = pod_template(profile, options);
    if !has_workspace(profile) {
        // A rollout adds pods before it removes any, so agents busy on tasks are not stopped
        // before their replacements run; the quota buffer leaves room for the surge.
        let strategy = DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(IntOrString::String("25%".into())),
                max_unavailable: Some(IntOrString::Int(0)),
            }),
        };
        return to_value(&Deployment {
            metadata,
            spec: Some(DeploymentSpec {
                selector,
                template,
                strategy: Some(strategy),
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        });
    }
    to_value(&StatefulSet {
        metadata,
        spec: Some(StatefulSetSpec {
            service_name: Some(profile.name.clone()),
            selector,
            template,
            // Agents are independent of each other: scaling up starts them all at once rather
            // than one after another becomes ready.
            pod_management_policy: Some("Parallel".into()),
            // A scaled-down agent's workspace would otherwise hold its share of the storage
            // quota forever; deleting the StatefulSet keeps the claims for a person to review.
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_scaled: Some("Delete".into()),
                    when_deleted: Some("Retain".into()),
                },
            ),
            volume_claim_templates: Some(vec![claim_template(WORKSPACE, profile.storage_bytes)]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    })
}

fn pod_template(profile: &Profile, options: &RenderOptions) -> PodTemplateSpec {
    let env = vec![
        env_value("PURSER_URL", &purser::url(options)),
        env_value("PURSER_PROFILE", &profile.name),
        EnvVar {
            name: "PURSER_TOKEN".into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: TOKEN_SECRET.into(),
                    key: "token".into(),
                    optional: Some(true),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        },
    ];
    let volume_mounts = has_workspace(profile).then(|| {
        vec![VolumeMount {
            name: WORKSPACE.into(),
            mount_path: WORKSPACE_PATH.into(),
            ..VolumeMount::default()
        }]
    });
    let container = Container {
        name: CONTAINER.into(),
        image: Some(profile.image.clone()),
        env: Some(env),
        resources: Some(ResourceRequirements {
            requests: Some(resource_map(profile.requests)),
            limits: Some(resource_map(profile.limits)),
            ..ResourceRequirements::default()
        }),
        security_context: Some(container_security_context()),
        volume_mounts,
        ..Container::default()
    };
    let mut pod_labels = super::common_labels(options);
    pod_labels.extend(
        labels(profile)
            .into_iter()
            .map(|(key, value)| (key.to_string(), value.to_string())),
    );
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container],
            priority_class_name: Some(priority_class_name(&profile.priority_class)),
            termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
            // Agents talk to Purser, not to the Kubernetes API.
            automount_service_account_token: Some(false),
            // Service links would inject PURSER_SERVICE_HOST, PURSER_PORT and the like from the
            // `purser` Service, into the variable names Purser's tools read.
            enable_service_links: Some(false),
            security_context: Some(pod_security_context(None)),
            ..PodSpec::default()
        }),
    }
}

fn env_value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// The headless Service that gives a StatefulSet's agents their stable DNS names
/// (`<profile>-0.<profile>.<namespace>.svc`); it has no ports because nothing connects to the
/// agents, they connect to Purser.
pub(super) fn headless_service(profile: &Profile, options: &RenderOptions) -> Value {
    to_value(&Service {
        metadata: metadata(&profile.name, options, &labels(profile)),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector_labels(&profile.name)),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

/// The HPA: between the profile's replica bounds, on CPU and memory utilization of the
/// requests and on Purser's eligible queue (through a metrics adapter serving it as the
/// external metric `<prefix>_eligible_tasks`), whichever asks for the most replicas.
///
/// Scaling up waits 5 minutes of steady demand and at most doubles per minute; scaling down
/// waits 15 minutes and at most halves per minute, because a new agent costs a start-up and a
/// stopped one may have been busy.
pub(super) fn horizontal_pod_autoscaler(profile: &Profile, options: &RenderOptions) -> Value {
    let utilization = |resource: &str, percent: u32| MetricSpec {
        type_: "Resource".into(),
        resource: Some(hpa::ResourceMetricSource {
            name: resource.into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(percent as i32),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    };
    let eligible_tasks = MetricSpec {
        type_: "External".into(),
        external: Some(hpa::ExternalMetricSource {
            metric: hpa::MetricIdentifier {
                name: format!("{}_eligible_tasks", options.metrics_prefix),
                selector: None,
            },
            target: MetricTarget {
                type_: "AverageValue".into(),
                average_value: Some(Quantity(profile.eligible_tasks_per_replica.to_string())),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    };
    let rules = |window_seconds: i32, percent: i32| HPAScalingRules {
        stabilization_window_seconds: Some(window_seconds),
        policies: Some(vec![HPAScalingPolicy {
            type_: "Percent".into(),
            value: percent,
            period_seconds: 60,
        }]),
        ..HPAScalingRules::default()
    };
    to_value(&HorizontalPodAutoscaler {
        metadata: metadata(&profile.name, options, &labels(profile)),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: hpa::CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: workload_kind(profile).into(),
                name: profile.name.clone(),
            },
            min_replicas: Some(profile.replicas_min as i32),
            max_replicas: profile.replicas_max as i32,
            metrics: Some(vec![
                utilization("cpu", profile.cpu_utilization),
                utilization("memory", profile.memory_utilization),
                eligible_tasks,
            ]),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_up: Some(rules(300, 100)),
                scale_down: Some(rules(900, 50)),
            }),
        }),
        ..HorizontalPodAutoscaler::default()
    })
}

/// The VPA recommends the agent container's requests between the recommender's minimums and
/// the profile's limits; the limits stay the profile's (`RequestsOnly`), the ceiling an agent
/// was promised. With `VpaMode::Off` it only recommends (see [`super::VpaMode`]).
pub(super) fn vertical_pod_autoscaler(profile: &Profile, options: &RenderOptions) -> Value {
    let min_allowed = [
        ("cpu".to_string(), cpu_quantity(VPA_MIN_CPU_MILLICORES)),
        ("memory".to_string(), bytes_quantity(VPA_MIN_MEMORY_BYTES)),
    ];
    to_value(&VerticalPodAutoscaler {
        api_version: VerticalPodAutoscaler::API_VERSION,
        kind: VerticalPodAutoscaler::KIND,
        metadata: metadata(&profile.name, options, &labels(profile)),
        spec: VerticalPodAutoscalerSpec {
            target_ref: CrossVersionObjectReference {
                api_version: "apps/v1".into(),
                kind: workload_kind(profile).into(),
                name: profile.name.clone(),
            },
            update_policy: PodUpdatePolicy {
                update_mode: options.vpa_mode.name(),
            },
            resource_policy: PodResourcePolicy {
                container_policies: vec![ContainerResourcePolicy {
                    container_name: CONTAINER.into(),
                    min_allowed: min_allowed.into_iter().collect(),
                    max_allowed: resource_map(profile.limits),
                    controlled_resources: vec!["cpu".into(), "memory".into()],
                    controlled_values: "RequestsOnly",
                }],
            },
        },
    })
}

/// At most a quarter of a profile's agents may be evicted at once by a drain (rounded up, so
/// one at a time up to four replicas). A share rather than `minAvailable` keeps working as the
/// HPA changes the count, and never blocks a drain at `replicas_min`; pods that are not ready
/// may always be evicted, so a crash-looping agent cannot hold a node.
pub(super) fn pod_disruption_budget(profile: &Profile, options: &RenderOptions) -> Value {
    to_value(&PodDisruptionBudget {
        metadata: metadata(&profile.name, options, &labels(profile)),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::String("25%".into())),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(&profile.name)),
                ..LabelSelector::default()
            }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}
