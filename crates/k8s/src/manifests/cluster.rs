//! The namespace and what bounds it: the ResourceQuota sized from the profiles, the
//! LimitRange that gives stray containers a size and refuses outsized ones, and the
//! PriorityClasses of the tiers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::{
    PART_OF, PURSER_LIMITS, PURSER_REQUESTS, RenderOptions, bytes_quantity, common_labels,
    cpu_quantity, metadata, to_value,
};
use crate::profile::{PRIORITY_TIERS, Profile, Resources};

/// The name of the ResourceQuota and of the LimitRange.
const BOUNDS_NAME: &str = "purser";

const MIB: u128 = 1 << 20;

pub(super) fn namespace(options: &RenderOptions) -> Value {
    to_value(&Namespace {
        metadata: ObjectMeta {
            name: Some(options.namespace.clone()),
            labels: Some(common_labels(options)),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    })
}

/// One PriorityClass per tier, `purser-<tier>`. They are cluster-wide and shared by every
/// environment rendered into the cluster, so they carry no environment label; none is the
/// global default, so pods outside Purser keep the cluster's default priority.
pub(super) fn priority_classes() -> Vec<Value> {
    PRIORITY_TIERS
        .iter()
        .map(|tier| {
            to_value(&PriorityClass {
                metadata: ObjectMeta {
                    name: Some(priority_class_name(tier.name)),
                    labels: Some(BTreeMap::from([(PART_OF.into(), "purser".into())])),
                    ..ObjectMeta::default()
                },
                value: tier.value,
                description: Some(tier.description.into()),
                preemption_policy: Some(
                    if tier.preempts {
                        "PreemptLowerPriority"
                    } else {
                        "Never"
                    }
                    .into(),
                ),
                global_default: Some(false),
            })
        })
        .collect()
}

pub(super) fn priority_class_name(tier: &str) -> String {
    format!("purser-{tier}")
}

/// The namespace's aggregate figures at its peak, with the buffer on top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct QuotaFigures {
    pub requests: Resources,
    pub limits: Resources,
    pub storage_bytes: u64,
    pub pods: u64,
    pub claims: u64,
}

/// The peak is every profile at its `replicas_max` (what its HPA may reach) plus Purser's own
/// pod and claim, in either environment. Each figure is then:
///
/// * `requests.cpu`, `limits.cpu`: the sum over profiles of the container's figure times the
///   replicas, plus Purser's, times `1 + buffer`, rounded up to a millicore;
/// * `requests.memory`, `limits.memory`: the same in bytes, rounded up to a mebibyte;
/// * `requests.storage`: the sum of `storage_bytes` times the replicas, plus Purser's claim,
///   times `1 + buffer`, rounded up to a mebibyte;
/// * `pods`: the replicas plus one, times `1 + buffer`, rounded up;
/// * `persistentvolumeclaims`: the replicas of the profiles with storage plus one, times
///   `1 + buffer`, rounded up.
///
/// The buffer is applied exactly (in millionths), so `0.25` gives exactly five quarters.
pub(super) fn quota_figures(
    profiles: &[Profile],
    options: &RenderOptions,
) -> Result<QuotaFigures, String> {
    let mut requests_cpu: u128 = PURSER_REQUESTS.cpu_millicores.into();
    let mut requests_memory: u128 = PURSER_REQUESTS.memory_bytes.into();
    let mut limits_cpu: u128 = PURSER_LIMITS.cpu_millicores.into();
    let mut limits_memory: u128 = PURSER_LIMITS.memory_bytes.into();
    let mut storage: u128 = options.purser_storage_bytes.into();
    let mut pods: u128 = 1;
    let mut claims: u128 = 1;
    for profile in profiles {
        let replicas = u128::from(profile.replicas_max);
        requests_cpu += replicas * u128::from(profile.requests.cpu_millicores);
        requests_memory += replicas * u128::from(profile.requests.memory_bytes);
        limits_cpu += replicas * u128::from(profile.limits.cpu_millicores);
        limits_memory += replicas * u128::from(profile.limits.memory_bytes);
        storage += replicas * u128::from(profile.storage_bytes);
        pods += replicas;
        if profile.storage_bytes > 0 {
            claims += replicas;
        }
    }
    let buffer_millionths = (options.quota_buffer * 1e6).round() as u128;
    let buffered = |total: u128, step: u128, what: &str| {
        let scaled = (total * (1_000_000 + buffer_millionths)).div_ceil(1_000_000);
        u64::try_from(scaled.div_ceil(step) * step)
            .map_err(|_| format!("the quota's {what} is too large to write"))
    };
    Ok(QuotaFigures {
        requests: Resources {
            cpu_millicores: buffered(requests_cpu, 1, "requests.cpu")?,
            memory_bytes: buffered(requests_memory, MIB, "requests.memory")?,
        },
        limits: Resources {
            cpu_millicores: buffered(limits_cpu, 1, "limits.cpu")?,
            memory_bytes: buffered(limits_memory, MIB, "limits.memory")?,
        },
        storage_bytes: buffered(storage, MIB, "requests.storage")?,
        pods: buffered(pods, 1, "pods")?,
        claims: buffered(claims, 1, "persistentvolumeclaims")?,
    })
}

/// The namespace's ResourceQuota, sized by [`quota_figures`]. With it in place every pod must
/// name its CPU and memory requests and limits; the LimitRange fills them in for pods that do
/// not.
pub(super) fn resource_quota(
    profiles: &[Profile],
    options: &RenderOptions,
) -> Result<Value, String> {
    let figures = quota_figures(profiles, options)?;
    let hard = BTreeMap::from([
        (
            "requests.cpu".into(),
            cpu_quantity(figures.requests.cpu_millicores),
        ),
        (
            "requests.memory".into(),
            bytes_quantity(figures.requests.memory_bytes),
        ),
        (
            "limits.cpu".into(),
            cpu_quantity(figures.limits.cpu_millicores),
        ),
        (
            "limits.memory".into(),
            bytes_quantity(figures.limits.memory_bytes),
        ),
        (
            "requests.storage".into(),
            bytes_quantity(figures.storage_bytes),
        ),
        ("pods".into(), Quantity(figures.pods.to_string())),
        (
            "persistentvolumeclaims".into(),
            Quantity(figures.claims.to_string()),
        ),
    ]);
    Ok(to_value(&ResourceQuota {
        metadata: metadata(BOUNDS_NAME, options, &[]),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }))
}

/// The LimitRange over the containers rendered here, the profiles' and Purser's:
///
/// * `min` is the smallest request and `max` the largest limit, so every rendered container
///   is admitted and nothing larger than the largest profile is;
/// * `defaultRequest` and `default` (what a container that names no resources gets, such as a
///   debugging pod) are the smallest requests and the smallest limits, so a stray container
///   takes no more of the quota than the smallest container Purser runs;
/// * for claims, `min` and `max` are the smallest and largest storage rendered.
pub(super) fn limit_range(profiles: &[Profile], options: &RenderOptions) -> Value {
    let containers = || {
        profiles
            .iter()
            .map(|profile| (profile.requests, profile.limits))
            .chain([(PURSER_REQUESTS, PURSER_LIMITS)])
    };
    let smallest = |pick: fn(&(Resources, Resources)) -> Resources| Resources {
        cpu_millicores: containers()
            .map(|c| pick(&c).cpu_millicores)
            .min()
            .unwrap_or(0),
        memory_bytes: containers()
            .map(|c| pick(&c).memory_bytes)
            .min()
            .unwrap_or(0),
    };
    let min_requests = smallest(|c| c.0);
    let min_limits = smallest(|c| c.1);
    let max_limits = Resources {
        cpu_millicores: containers().map(|c| c.1.cpu_millicores).max().unwrap_or(0),
        memory_bytes: containers().map(|c| c.1.memory_bytes).max().unwrap_or(0),
    };
    let storages = || {
        profiles
            .iter()
            .map(|profile| profile.storage_bytes)
            .filter(|bytes| *bytes > 0)
            .chain([options.purser_storage_bytes])
    };
    let storage = |bytes: Option<u64>| {
        BTreeMap::from([("storage".into(), bytes_quantity(bytes.unwrap_or(0)))])
    };
    let container = LimitRangeItem {
        type_: "Container".into(),
        min: Some(resource_map(min_requests)),
        max: Some(resource_map(max_limits)),
        default_request: Some(resource_map(min_requests)),
        default: Some(resource_map(min_limits)),
        ..LimitRangeItem::default()
    };
    let claim = LimitRangeItem {
        type_: "PersistentVolumeClaim".into(),
        min: Some(storage(storages().min())),
        max: Some(storage(storages().max())),
        ..LimitRangeItem::default()
    };
    to_value(&LimitRange {
        metadata: metadata(BOUNDS_NAME, options, &[]),
        spec: Some(LimitRangeSpec {
            limits: vec![container, claim],
        }),
    })
}

/// `cpu` and `memory` as quantities, the shape of requests, limits and LimitRange bounds.
pub(super) fn resource_map(resources: Resources) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".into(), cpu_quantity(resources.cpu_millicores)),
        ("memory".into(), bytes_quantity(resources.memory_bytes)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::Environment;
    use crate::profile::ProfileConfig;

    fn profile(name: &str, replicas: (u32, u32), storage: &str) -> Profile {
        ProfileConfig {
            name: name.into(),
            requests: crate::profile::QuantitiesConfig {
                cpu: Some("333m".into()),
                memory: Some("1000".into()),
            },
            storage: Some(storage.into()),
            replicas_min: Some(replicas.0),
            replicas_max: Some(replicas.1),
            ..ProfileConfig::default()
        }
        .resolve()
        .unwrap()
    }

    fn check(environment: Environment, buffer: f64, expected: QuotaFigures) {
        let profiles = [
            profile("small", (1, 3), "1000"),
            profile("bare", (2, 5), "0"),
        ];
        let options = RenderOptions {
            environment,
            quota_buffer: buffer,
            purser_storage_bytes: 1 << 30,
            ..RenderOptions::default()
        };
        assert_eq!(quota_figures(&profiles, &options).unwrap(), expected);
    }

    #[test]
    fn quota_rounds_each_figure_up_after_the_buffer() {
        let gib = 1u64 << 30;
        // Production: 8 agent replicas of 333m and 1000 bytes requested, 2 cores and 8Gi limits
        // (the `any` role's), 3 claims of 1000 bytes; Purser adds 500m/512Mi, 2/2Gi and 1Gi.
        check(
            Environment::Production,
            0.1,
            QuotaFigures {
                // (8 x 333 + 500) x 1.1 = 3480.4, rounded up.
                requests: Resources {
                    cpu_millicores: 3481,
                    memory_bytes: 564 << 20,
                },
                limits: Resources {
                    cpu_millicores: 19_800,
                    // 66Gi x 1.1 = 72.6Gi: 72Gi and 614.4Mi, rounded up to 615Mi.
                    memory_bytes: (72 * 1024 + 615) << 20,
                },
                storage_bytes: 1127 << 20,
                pods: 10,
                claims: 5,
            },
        );
        // Testing sizes to the same peak; without a buffer only the mebibyte rounds.
        check(
            Environment::Testing,
            0.0,
            QuotaFigures {
                requests: Resources {
                    cpu_millicores: 8 * 333 + 500,
                    memory_bytes: 513 << 20,
                },
                limits: Resources {
                    cpu_millicores: 18_000,
                    memory_bytes: 66 * gib,
                },
                storage_bytes: (1 << 30) + (1 << 20),
                pods: 9,
                claims: 4,
            },
        );
    }

    #[test]
    fn quota_too_large_to_write_is_refused() {
        let mut huge = profile("huge", (1, 10_000), "1000");
        huge.limits.memory_bytes = 9_000_000_000_000_000_000;
        let err = quota_figures(&[huge], &RenderOptions::default()).unwrap_err();
        assert!(err.contains("limits.memory"), "{err}");
    }
}
