//! Resource vectors: what a task requests and what a machine offers, per dimension.

use serde::{Deserialize, Serialize};

/// A dimension that machines offer and tasks hold while they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Cores,
    MemoryBytes,
    Gpu,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [Dimension::Cores, Dimension::MemoryBytes, Dimension::Gpu];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Cores => "cores",
            Dimension::MemoryBytes => "memory_bytes",
            Dimension::Gpu => "gpu",
        }
    }
}

/// Amounts per dimension. Capacities use `u64::MAX` memory for "not constrained".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    pub cores: u64,
    pub memory_bytes: u64,
    pub gpu: u64,
}

impl Resources {
    pub const ZERO: Resources = Resources {
        cores: 0,
        memory_bytes: 0,
        gpu: 0,
    };

    pub fn cores(cores: u64) -> Self {
        Resources {
            cores,
            ..Resources::ZERO
        }
    }

    pub fn get(&self, dimension: Dimension) -> u64 {
        match dimension {
            Dimension::Cores => self.cores,
            Dimension::MemoryBytes => self.memory_bytes,
            Dimension::Gpu => self.gpu,
        }
    }

    pub fn set(&mut self, dimension: Dimension, amount: u64) {
        match dimension {
            Dimension::Cores => self.cores = amount,
            Dimension::MemoryBytes => self.memory_bytes = amount,
            Dimension::Gpu => self.gpu = amount,
        }
    }

    /// True when `self` fits within `capacity` in every dimension.
    pub fn fits_in(&self, capacity: &Resources) -> bool {
        self.cores <= capacity.cores
            && self.memory_bytes <= capacity.memory_bytes
            && self.gpu <= capacity.gpu
    }

    /// True when `self + extra` fits within `capacity`, without overflowing.
    pub fn fits_with(&self, extra: &Resources, capacity: &Resources) -> bool {
        match self.checked_add(extra) {
            Some(sum) => sum.fits_in(capacity),
            None => false,
        }
    }

    pub fn checked_add(&self, other: &Resources) -> Option<Resources> {
        Some(Resources {
            cores: self.cores.checked_add(other.cores)?,
            memory_bytes: self.memory_bytes.checked_add(other.memory_bytes)?,
            gpu: self.gpu.checked_add(other.gpu)?,
        })
    }

    pub fn checked_sub(&self, other: &Resources) -> Option<Resources> {
        Some(Resources {
            cores: self.cores.checked_sub(other.cores)?,
            memory_bytes: self.memory_bytes.checked_sub(other.memory_bytes)?,
            gpu: self.gpu.checked_sub(other.gpu)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(used: Resources, extra: Resources, capacity: Resources, expected: bool) {
        assert_eq!(
            used.fits_with(&extra, &capacity),
            expected,
            "{used:?} + {extra:?} in {capacity:?}"
        );
    }

    #[test]
    fn fits_with_checks_every_dimension() {
        let cap = Resources {
            cores: 8,
            memory_bytes: 100,
            gpu: 1,
        };
        check(Resources::cores(7), Resources::cores(1), cap, true);
        check(Resources::cores(7), Resources::cores(2), cap, false);
        check(
            Resources::ZERO,
            Resources {
                cores: 1,
                memory_bytes: 101,
                gpu: 0,
            },
            cap,
            false,
        );
        check(
            Resources::ZERO,
            Resources {
                cores: 1,
                memory_bytes: 0,
                gpu: 2,
            },
            cap,
            false,
        );
        check(
            Resources {
                cores: 0,
                memory_bytes: u64::MAX,
                gpu: 0,
            },
            Resources {
                cores: 0,
                memory_bytes: 1,
                gpu: 0,
            },
            cap,
            false,
        );
    }
}
