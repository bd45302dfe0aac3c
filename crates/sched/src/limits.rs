//! Per-tenant, per-pool request defaults and bounds, like a Kubernetes LimitRange.

use std::collections::HashMap;

use crate::SchedError;
use crate::resources::{Dimension, Resources};

/// Defaults fill a request's zero dimensions; min and max bound every dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitRange {
    pub default: Resources,
    pub min: Resources,
    pub max: Resources,
}

impl Default for LimitRange {
    fn default() -> Self {
        LimitRange {
            default: Resources::ZERO,
            min: Resources::ZERO,
            max: Resources::UNBOUNDED,
        }
    }
}

/// Limit ranges keyed by (tenant, pool); a pair without an entry is unbounded.
#[derive(Debug, Clone, Default)]
pub struct LimitRanges {
    ranges: HashMap<(String, String), LimitRange>,
}

impl LimitRanges {
    pub fn set(&mut self, tenant: &str, pool: &str, range: LimitRange) {
        self.ranges
            .insert((tenant.to_string(), pool.to_string()), range);
    }

    /// The request with defaults applied, or an error naming tenant, pool and dimension.
    pub fn admit(
        &self,
        tenant: &str,
        pool: &str,
        request: Resources,
    ) -> Result<Resources, SchedError> {
        let Some(range) = self.ranges.get(&(tenant.to_string(), pool.to_string())) else {
            return Ok(request);
        };
        let mut effective = request;
        // Ranges bound the built-in dimensions; custom ones pass as requested.
        for dimension in Dimension::ALL[..3].iter().copied() {
            if effective.get(dimension) == 0 {
                effective.set(dimension, range.default.get(dimension));
            }
            let requested = effective.get(dimension);
            let (min, max) = (range.min.get(dimension), range.max.get(dimension));
            if requested < min || requested > max {
                return Err(SchedError::LimitRange {
                    tenant: tenant.to_string(),
                    pool: pool.to_string(),
                    dimension: dimension.name().to_string(),
                    requested,
                    min,
                    max,
                });
            }
        }
        Ok(effective)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges() -> LimitRanges {
        let mut ranges = LimitRanges::default();
        ranges.set(
            "acme",
            "gpu-pool",
            LimitRange {
                default: Resources {
                    cores: 2,
                    memory_bytes: 1 << 30,
                    gpu: 0,
                    ..Resources::ZERO
                },
                min: Resources {
                    cores: 1,
                    memory_bytes: 0,
                    gpu: 0,
                    ..Resources::ZERO
                },
                max: Resources {
                    cores: 8,
                    memory_bytes: 16 << 30,
                    gpu: 2,
                    ..Resources::ZERO
                },
            },
        );
        ranges
    }

    fn check(tenant: &str, pool: &str, request: Resources, expected: Result<Resources, &str>) {
        match (ranges().admit(tenant, pool, request), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(err), Err(fragment)) => {
                assert!(err.to_string().contains(fragment), "{err} lacks {fragment}")
            }
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn defaults_fill_and_bounds_reject() {
        let defaulted = Resources {
            cores: 2,
            memory_bytes: 1 << 30,
            gpu: 0,
            ..Resources::ZERO
        };
        check("acme", "gpu-pool", Resources::ZERO, Ok(defaulted));
        check(
            "acme",
            "gpu-pool",
            Resources::cores(8),
            Ok(Resources {
                cores: 8,
                ..defaulted
            }),
        );
        check(
            "acme",
            "gpu-pool",
            Resources::cores(16),
            Err("request of 16 cores for tenant acme on pool gpu-pool is outside [1, 8]"),
        );
        check(
            "acme",
            "gpu-pool",
            Resources {
                cores: 1,
                memory_bytes: 1,
                gpu: 3,
                ..Resources::ZERO
            },
            Err("3 gpu for tenant acme on pool gpu-pool"),
        );
        check(
            "other",
            "gpu-pool",
            Resources::cores(64),
            Ok(Resources::cores(64)),
        );
    }
}
