//! Resource vectors: what a task requests and what a machine offers, per dimension: cores,
//! memory and GPUs, and up to [`CUSTOM_DIMS_MAX`] dimensions named by the configuration
//! (`licenses`, ...), which pools offer in their `capacity` table.

use serde::{Deserialize, Serialize};

/// Custom dimensions a configuration may name at most.
pub const CUSTOM_DIMS_MAX: usize = 4;

/// A dimension that machines offer and tasks hold while they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Cores,
    MemoryBytes,
    Gpu,
    /// The configuration's custom dimension of this index (its name is there).
    Custom(u8),
}

impl Dimension {
    pub const ALL: [Dimension; 3 + CUSTOM_DIMS_MAX] = [
        Dimension::Cores,
        Dimension::MemoryBytes,
        Dimension::Gpu,
        Dimension::Custom(0),
        Dimension::Custom(1),
        Dimension::Custom(2),
        Dimension::Custom(3),
    ];

    /// The built-in dimensions' names; a custom one is named by the configuration
    /// ([`Dimension::name_in`]).
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Cores => "cores",
            Dimension::MemoryBytes => "memory_bytes",
            Dimension::Gpu => "gpu",
            Dimension::Custom(_) => "custom",
        }
    }

    /// The name, custom dimensions' from `custom` (the configuration's table).
    pub fn name_in(self, custom: &[String]) -> String {
        match self {
            Dimension::Custom(idx) => custom
                .get(idx as usize)
                .cloned()
                .unwrap_or_else(|| format!("custom{idx}")),
            builtin => builtin.name().to_string(),
        }
    }

    /// The dimension of a name: a built-in one, or one of `custom`.
    pub fn named(name: &str, custom: &[String]) -> Option<Dimension> {
        Dimension::ALL[..3]
            .iter()
            .copied()
            .find(|dimension| dimension.name() == name)
            .or_else(|| {
                custom
                    .iter()
                    .position(|candidate| candidate == name)
                    .map(|idx| Dimension::Custom(idx as u8))
            })
    }
}

/// Amounts per dimension. Capacities use `u64::MAX` memory for "not constrained"; a pool that
/// does not offer a custom dimension has none of it. Custom amounts are not serialized with the
/// rest (the journal keeps the three built-ins here; custom requests travel in their own event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    pub cores: u64,
    pub memory_bytes: u64,
    pub gpu: u64,
    #[serde(skip)]
    pub custom: [u64; CUSTOM_DIMS_MAX],
}

impl Resources {
    pub const ZERO: Resources = Resources {
        cores: 0,
        memory_bytes: 0,
        gpu: 0,
        custom: [0; CUSTOM_DIMS_MAX],
    };

    /// No bound in any dimension.
    pub const UNBOUNDED: Resources = Resources {
        cores: u64::MAX,
        memory_bytes: u64::MAX,
        gpu: u64::MAX,
        custom: [u64::MAX; CUSTOM_DIMS_MAX],
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
            Dimension::Custom(idx) => self.custom.get(idx as usize).copied().unwrap_or(0),
        }
    }

    pub fn set(&mut self, dimension: Dimension, amount: u64) {
        match dimension {
            Dimension::Cores => self.cores = amount,
            Dimension::MemoryBytes => self.memory_bytes = amount,
            Dimension::Gpu => self.gpu = amount,
            Dimension::Custom(idx) => {
                if let Some(slot) = self.custom.get_mut(idx as usize) {
                    *slot = amount;
                }
            }
        }
    }

    /// True when `self` fits within `capacity` in every dimension.
    pub fn fits_in(&self, capacity: &Resources) -> bool {
        self.cores <= capacity.cores
            && self.memory_bytes <= capacity.memory_bytes
            && self.gpu <= capacity.gpu
            && self
                .custom
                .iter()
                .zip(&capacity.custom)
                .all(|(amount, offered)| amount <= offered)
    }

    /// True when `self + extra` fits within `capacity`, without overflowing.
    pub fn fits_with(&self, extra: &Resources, capacity: &Resources) -> bool {
        match self.checked_add(extra) {
            Some(sum) => sum.fits_in(capacity),
            None => false,
        }
    }

    pub fn checked_add(&self, other: &Resources) -> Option<Resources> {
        let mut custom = [0; CUSTOM_DIMS_MAX];
        for (idx, slot) in custom.iter_mut().enumerate() {
            *slot = self.custom[idx].checked_add(other.custom[idx])?;
        }
        Some(Resources {
            cores: self.cores.checked_add(other.cores)?,
            memory_bytes: self.memory_bytes.checked_add(other.memory_bytes)?,
            gpu: self.gpu.checked_add(other.gpu)?,
            custom,
        })
    }

    pub fn checked_sub(&self, other: &Resources) -> Option<Resources> {
        let mut custom = [0; CUSTOM_DIMS_MAX];
        for (idx, slot) in custom.iter_mut().enumerate() {
            *slot = self.custom[idx].checked_sub(other.custom[idx])?;
        }
        Some(Resources {
            cores: self.cores.checked_sub(other.cores)?,
            memory_bytes: self.memory_bytes.checked_sub(other.memory_bytes)?,
            gpu: self.gpu.checked_sub(other.gpu)?,
            custom,
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
            ..Resources::ZERO
        };
        check(Resources::cores(7), Resources::cores(1), cap, true);
        check(Resources::cores(7), Resources::cores(2), cap, false);
        check(
            Resources::ZERO,
            Resources {
                cores: 1,
                memory_bytes: 101,
                gpu: 0,
                ..Resources::ZERO
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
                ..Resources::ZERO
            },
            cap,
            false,
        );
        check(
            Resources {
                cores: 0,
                memory_bytes: u64::MAX,
                gpu: 0,
                ..Resources::ZERO
            },
            Resources {
                cores: 0,
                memory_bytes: 1,
                gpu: 0,
                ..Resources::ZERO
            },
            cap,
            false,
        );
    }
}
