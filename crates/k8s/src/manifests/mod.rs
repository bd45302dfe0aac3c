//! Kubernetes manifests rendered from the agent profiles: what `purser k8s render` writes.
//!
//! Everything lives in one namespace: the namespace itself with its ResourceQuota and
//! LimitRange, the cluster's PriorityClasses for the tiers, Purser (a StatefulSet of one, its
//! Service and PodDisruptionBudget, a ServiceMonitor, a PrometheusRule over the agents'
//! resources) and, per profile, a workload with its HorizontalPodAutoscaler,
//! VerticalPodAutoscaler and PodDisruptionBudget.
//!
//! Built-in kinds are `k8s-openapi` structs, so a field that Kubernetes does not know does not
//! compile; the custom resources (VPA, Prometheus Operator) are serde structs in `crd.rs`, written
//! from their CRDs. Each object is turned into a `serde_json::Value` and written by [`yaml`].
//! Rendering is pure: the same profiles and options give the same bytes, in the same files.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext,
    SeccompProfile, SecurityContext, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

use crate::profile::{PROFILES_MAX, Profile, Resources, check_name};

mod agents;
mod alerts;
mod cluster;
mod crd;
mod purser;
pub mod yaml;

/// Which kind of cluster the manifests are for; it sizes the ResourceQuota.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Environment {
    /// Objects labelled `purser.dev/environment: production`.
    #[default]
    Production,
    /// Objects labelled `purser.dev/environment: testing`: a namespace of its own beside
    /// production's, with its own quota (every profile at `replicas_max` plus the buffer, as in
    /// production, so the HPAs can reach their bounds).
    Testing,
}

impl Environment {
    pub fn name(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Testing => "testing",
        }
    }
}

impl std::str::FromStr for Environment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "production" => Ok(Environment::Production),
            "testing" => Ok(Environment::Testing),
            other => Err(format!(
                "environment must be production or testing, not `{other}`"
            )),
        }
    }
}

/// Whether the VerticalPodAutoscalers only recommend or also apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VpaMode {
    /// Recommendations only (`updateMode: "Off"`): the HPAs scale the same workloads on CPU
    /// and memory utilization, and a VPA that changed the requests under them would move the
    /// HPAs' targets, so applying is a deliberate choice.
    #[default]
    Off,
    /// The VPA evicts pods to apply its recommendations (`updateMode: Auto`, which VPA 1.4
    /// deprecated as a name for `Recreate`; the CRD still accepts it).
    Auto,
}

impl VpaMode {
    pub fn name(self) -> &'static str {
        match self {
            VpaMode::Off => "Off",
            VpaMode::Auto => "Auto",
        }
    }
}

impl std::str::FromStr for VpaMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "off" => Ok(VpaMode::Off),
            "auto" => Ok(VpaMode::Auto),
            _ => Err(format!("vpa mode must be off or auto, not `{text}`")),
        }
    }
}

/// What `purser k8s render` takes besides the profiles.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderOptions {
    /// The namespace of every namespaced object (a DNS-1123 label).
    pub namespace: String,
    pub environment: Environment,
    /// The share added on top of the peak in the ResourceQuota (0.25 = 25 %): room for the
    /// surge pods of a rolling update and for Purser's own pod growing.
    pub quota_buffer: f64,
    pub vpa_mode: VpaMode,
    /// Purser's own container image.
    pub purser_image: String,
    /// The size of the claim holding Purser's data directory (journal and snapshots).
    pub purser_storage_bytes: u64,
    /// Purser's `[metrics] prefix`: the HPAs' external metric is `<prefix>_eligible_tasks`.
    pub metrics_prefix: String,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            namespace: "agents".into(),
            environment: Environment::Production,
            quota_buffer: 0.25,
            vpa_mode: VpaMode::Off,
            purser_image: DEFAULT_PURSER_IMAGE.into(),
            purser_storage_bytes: 10 << 30,
            metrics_prefix: "purser".into(),
        }
    }
}

pub const DEFAULT_PURSER_IMAGE: &str = "ghcr.io/purser/purser:latest";

/// Purser's container: one writer applying batches and serving HTTP. The journal's group
/// commit keeps it mostly waiting on the disk, and memory holds the ledger's state. These
/// count in the ResourceQuota and the LimitRange beside the profiles'.
pub const PURSER_REQUESTS: Resources = Resources {
    cpu_millicores: 500,
    memory_bytes: 512 << 20,
};
pub const PURSER_LIMITS: Resources = Resources {
    cpu_millicores: 2000,
    memory_bytes: 2 << 30,
};

/// The largest quota buffer accepted: ten times the peak is already no quota at all.
pub const QUOTA_BUFFER_MAX: f64 = 10.0;

/// One rendered file: a single object, written as YAML.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The file name, numbered so that `kubectl apply -f DIR` creates what others refer to
    /// first (`00-namespace.yaml`, ..., `21-statefulset-testing.yaml`).
    pub file: String,
    pub kind: String,
    pub name: String,
    /// The object the YAML was written from.
    pub object: Value,
    pub yaml: String,
}

/// The objects for `profiles` in the order and files they are applied in; an error names the
/// option or profile that cannot be rendered.
pub fn render(profiles: &[Profile], options: &RenderOptions) -> Result<Vec<Manifest>, String> {
    check_options(options)?;
    check_profiles(profiles)?;
    let mut objects: Vec<(u8, Value)> = vec![
        (0, cluster::namespace(options)),
        (2, cluster::resource_quota(profiles, options)?),
        (3, cluster::limit_range(profiles, options)),
        (10, purser::service(options)),
        (11, purser::stateful_set(options)),
        (12, purser::pod_disruption_budget(options)),
        (13, purser::service_monitor(options)),
        (14, alerts::prometheus_rule(options)),
    ];
    for priority_class in cluster::priority_classes() {
        objects.push((1, priority_class));
    }
    for profile in profiles {
        if profile.storage_bytes > 0 {
            objects.push((20, agents::headless_service(profile, options)));
        }
        objects.push((21, agents::workload(profile, options)));
        objects.push((22, agents::horizontal_pod_autoscaler(profile, options)));
        objects.push((23, agents::vertical_pod_autoscaler(profile, options)));
        objects.push((24, agents::pod_disruption_budget(profile, options)));
    }
    // Sorted by file name, so the order does not depend on the order the profiles came in.
    let mut manifests: Vec<Manifest> = objects
        .into_iter()
        .map(|(rank, object)| manifest(rank, object))
        .collect();
    manifests.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(manifests)
}

/// Every manifest in one multi-document stream (for `kubectl apply -f -`), each document
/// preceded by a `# Source:` comment naming its file, as `helm template` does.
pub fn to_stream(manifests: &[Manifest]) -> String {
    let documents: Vec<String> = manifests
        .iter()
        .map(|manifest| format!("# Source: {}\n{}", manifest.file, manifest.yaml))
        .collect();
    yaml::join_documents(documents.iter().map(String::as_str))
}

fn manifest(rank: u8, object: Value) -> Manifest {
    let text = |key: &str| object[key].as_str().unwrap_or_default().to_string();
    let kind = text("kind");
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let file = match kind.as_str() {
        "Namespace" => format!("{rank:02}-namespace.yaml"),
        _ => format!("{rank:02}-{}-{name}.yaml", kind.to_ascii_lowercase()),
    };
    Manifest {
        yaml: yaml::to_yaml(&object),
        file,
        kind,
        name,
        object,
    }
}

fn check_options(options: &RenderOptions) -> Result<(), String> {
    let namespace = &options.namespace;
    let label_ok = !namespace.is_empty()
        && namespace.len() <= 63
        && namespace
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !namespace.starts_with('-')
        && !namespace.ends_with('-');
    if !label_ok {
        return Err(format!(
            "namespace `{namespace}` must be 1 to 63 lowercase letters, digits or '-', not starting or ending with '-'"
        ));
    }
    let buffer = options.quota_buffer;
    if !(0.0..=QUOTA_BUFFER_MAX).contains(&buffer) {
        return Err(format!(
            "quota buffer must be 0 to {QUOTA_BUFFER_MAX}, not {buffer}"
        ));
    }
    if options.purser_image.trim().is_empty() {
        return Err("purser image must not be empty".into());
    }
    if options.purser_storage_bytes == 0 {
        return Err("purser storage must be above zero: the journal lives there".into());
    }
    let prefix = &options.metrics_prefix;
    let prefix_ok = prefix
        .chars()
        .enumerate()
        .all(|(index, c)| c == '_' || c.is_ascii_alphabetic() || (index > 0 && c.is_ascii_digit()));
    if prefix.is_empty() || !prefix_ok {
        return Err(format!(
            "metrics prefix `{prefix}` must be letters, digits and '_', not starting with a digit"
        ));
    }
    Ok(())
}

/// Profile names become object names beside Purser's own, so they must differ from each other
/// and from `purser`.
fn check_profiles(profiles: &[Profile]) -> Result<(), String> {
    if profiles.len() > PROFILES_MAX {
        return Err(format!(
            "at most {PROFILES_MAX} profiles, not {}",
            profiles.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for profile in profiles {
        check_name(&profile.name).map_err(|err| format!("profile name: {err}"))?;
        if profile.name == purser::NAME {
            return Err(format!(
                "profile `{}` would collide with Purser's own objects: rename it",
                profile.name
            ));
        }
        if !seen.insert(profile.name.as_str()) {
            return Err(format!("profile `{}` is given twice", profile.name));
        }
    }
    Ok(())
}

/// The labels every object carries: it is part of Purser and of this environment.
fn common_labels(options: &RenderOptions) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PART_OF.into(), "purser".into()),
        (ENVIRONMENT_LABEL.into(), options.environment.name().into()),
    ])
}

const PART_OF: &str = "app.kubernetes.io/part-of";
const NAME_LABEL: &str = "app.kubernetes.io/name";
const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
const ENVIRONMENT_LABEL: &str = "purser.dev/environment";
const ROLE_LABEL: &str = "purser.dev/role";

/// Metadata of a namespaced object named `name`, with the common labels and `extra_labels`.
fn metadata(name: &str, options: &RenderOptions, extra_labels: &[(&str, &str)]) -> ObjectMeta {
    let mut labels = common_labels(options);
    for (key, value) in extra_labels {
        labels.insert((*key).into(), (*value).into());
    }
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(options.namespace.clone()),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

/// The pods a workload selects: its name within Purser. Selectors are immutable, so they hold
/// only what never changes (not the environment or role).
fn selector_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.into(), name.into()),
        (PART_OF.into(), "purser".into()),
    ])
}

/// A claim template of `storage_bytes`, mounted once (`ReadWriteOnce`) on the cluster's default
/// storage class.
fn claim_template(name: &str, storage_bytes: u64) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".into(),
                    bytes_quantity(storage_bytes),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// The pod's security context: the runtime's default seccomp profile, and for images whose
/// user is known (Purser's), that user, with volumes writable by its group.
fn pod_security_context(user_id: Option<i64>) -> PodSecurityContext {
    PodSecurityContext {
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        }),
        run_as_non_root: user_id.map(|_| true),
        run_as_user: user_id,
        run_as_group: user_id,
        fs_group: user_id,
        ..PodSecurityContext::default()
    }
}

/// No privilege escalation and no Linux capabilities: neither Purser nor an agent needs them.
fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

fn cpu_quantity(millicores: u64) -> Quantity {
    Quantity(crate::profile::format_cpu(millicores))
}

fn bytes_quantity(bytes: u64) -> Quantity {
    Quantity(crate::profile::format_bytes(bytes))
}

/// The object as a JSON value; the k8s-openapi structs write their `apiVersion` and `kind`.
fn to_value(object: &impl Serialize) -> Value {
    // Invariant: every object here has string keys and finite numbers, which JSON can hold.
    serde_json::to_value(object).expect("a manifest serializes to JSON")
}
