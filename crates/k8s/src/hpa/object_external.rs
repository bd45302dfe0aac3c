//! Object and External metrics: one value for the whole target (an object's metric, or the sum
//! of the external series the selector matches). A `Value` target scales it by the ready pods;
//! an `AverageValue` target divides it among the replicas that exist.

use super::error::{HpaError, MetricsApi};
use super::pods::Pod;
use super::replicas::{ReplicaCalculator, Tolerances, ceil_to_replicas};

impl ReplicaCalculator {
    /// An `Object` metric with a `Value` target: one value for the whole object, scaled by the
    /// number of ready pods. From zero replicas the tolerance does not apply, so an object can
    /// scale a target up from zero (`HPAScaleToZero`).
    pub fn object_value_replicas(
        &self,
        current_replicas: i32,
        target_milli: i64,
        object_value_milli: i64,
        pods: &[Pod],
        tolerances: Tolerances,
    ) -> Result<i32, HpaError> {
        if target_milli <= 0 {
            return Err(HpaError::InvalidTarget {
                metric: "object metric value".to_string(),
            });
        }
        let usage_ratio = object_value_milli as f64 / target_milli as f64;
        usage_ratio_replicas(current_replicas, usage_ratio, pods, tolerances)
    }

    /// An `Object` metric with an `AverageValue` target: the object's value divided among the
    /// replicas that exist (`status_replicas`). Returns the replicas and the value per replica.
    pub fn object_average_replicas(
        &self,
        status_replicas: i32,
        target_average_milli: i64,
        object_value_milli: i64,
        tolerances: Tolerances,
    ) -> Result<(i32, i64), HpaError> {
        if target_average_milli <= 0 {
            return Err(HpaError::InvalidTarget {
                metric: "object metric average value".to_string(),
            });
        }
        Ok(per_replica_replicas(
            status_replicas,
            target_average_milli,
            object_value_milli,
            tolerances,
        ))
    }

    /// An `External` metric with a `Value` target: the sum of the matching series, scaled by
    /// the number of ready pods like an object value. Returns the replicas and the sum.
    pub fn external_value_replicas(
        &self,
        current_replicas: i32,
        target_milli: i64,
        values_milli: &[i64],
        pods: &[Pod],
        tolerances: Tolerances,
    ) -> Result<(i32, i64), HpaError> {
        if target_milli <= 0 {
            return Err(HpaError::InvalidTarget {
                metric: "external metric value".to_string(),
            });
        }
        let total = external_total(values_milli)?;
        let usage_ratio = total as f64 / target_milli as f64;
        let replicas = usage_ratio_replicas(current_replicas, usage_ratio, pods, tolerances)?;
        Ok((replicas, total))
    }

    /// An `External` metric with an `AverageValue` target: the sum of the matching series
    /// divided among the replicas that exist. Returns the replicas and the value per replica.
    pub fn external_average_replicas(
        &self,
        status_replicas: i32,
        target_average_milli: i64,
        values_milli: &[i64],
        tolerances: Tolerances,
    ) -> Result<(i32, i64), HpaError> {
        if target_average_milli <= 0 {
            return Err(HpaError::InvalidTarget {
                metric: "external metric average value".to_string(),
            });
        }
        let total = external_total(values_milli)?;
        Ok(per_replica_replicas(
            status_replicas,
            target_average_milli,
            total,
            tolerances,
        ))
    }
}

/// Upstream caps a sum that overflows at the largest value rather than wrapping.
fn external_total(values_milli: &[i64]) -> Result<i64, HpaError> {
    if values_milli.is_empty() {
        return Err(HpaError::NoMetrics {
            api: MetricsApi::External,
        });
    }
    Ok(values_milli
        .iter()
        .fold(0i64, |total, value| total.saturating_add(*value)))
}

/// Object and External `Value` targets: the ratio times the ready pods, or from zero replicas
/// the ratio alone.
fn usage_ratio_replicas(
    current_replicas: i32,
    usage_ratio: f64,
    pods: &[Pod],
    tolerances: Tolerances,
) -> Result<i32, HpaError> {
    if current_replicas == 0 {
        return Ok(ceil_to_replicas(usage_ratio));
    }
    if tolerances.contains(usage_ratio) {
        return Ok(current_replicas);
    }
    if pods.is_empty() {
        return Err(HpaError::NoPods);
    }
    let ready_count = pods.iter().filter(|pod| pod.is_running_and_ready()).count();
    Ok(ceil_to_replicas(usage_ratio * ready_count as f64))
}

/// Object and External `AverageValue` targets: `ceil(total / target)` when the per-replica
/// value strays beyond the tolerance. The per-replica value is rounded up, as upstream reports.
fn per_replica_replicas(
    status_replicas: i32,
    target_average_milli: i64,
    total_milli: i64,
    tolerances: Tolerances,
) -> (i32, i64) {
    let target = target_average_milli as f64;
    let total = total_milli as f64;
    let usage_ratio = total / (target * f64::from(status_replicas));
    let replicas = if tolerances.contains(usage_ratio) {
        status_replicas
    } else {
        ceil_to_replicas(total / target)
    };
    // From zero replicas the division is infinite and saturates, where upstream's conversion
    // of an infinite float is undefined.
    let per_replica = if total >= i64::MAX as f64 {
        i64::MAX
    } else {
        (total / f64::from(status_replicas)).ceil() as i64
    };
    (replicas, per_replica)
}
