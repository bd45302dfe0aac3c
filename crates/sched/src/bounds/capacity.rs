//! How fast the platform can get through a set of tasks, ignoring the order among them: as a
//! fluid (every core busy from the end of its pool's start-up), and as whole tasks packed on
//! cores (a task cannot be split, so `cores + 1` long tasks need a core to run two).

use crate::platform::Platform;

/// Bound on the pieces the packing bound looks at, so that it stays cheap on large platforms.
const MAX_PIECES: usize = 96;

/// The cores of one pool: all become available at its start-up and run at its speed.
#[derive(Debug, Clone, Copy)]
struct CoreGroup {
    available_s: f64,
    speed: f64,
    cores: usize,
}

/// The platform's cores, by pool.
#[derive(Debug, Clone)]
pub(super) struct Capacity {
    groups: Vec<CoreGroup>,
    total_cores: usize,
}

impl Capacity {
    pub(super) fn new(platform: &Platform) -> Self {
        let mut groups: Vec<CoreGroup> = platform
            .pools
            .iter()
            .map(|pool| CoreGroup {
                available_s: pool.startup_s,
                speed: pool.speed,
                cores: pool.machines as usize * pool.capacity.cores as usize,
            })
            .collect();
        groups.sort_by(|a, b| a.available_s.total_cmp(&b.available_s));
        let total_cores = groups.iter().map(|group| group.cores).sum();
        Capacity {
            groups,
            total_cores,
        }
    }

    /// How many of a set's largest pieces (one per core a task holds) the packing bound needs:
    /// enough to see any core forced to run two of them.
    pub(super) fn pieces_wanted(&self) -> usize {
        (2 * self.total_cores + 1).min(MAX_PIECES)
    }

    /// The earliest time by which `work` core-seconds at speed 1 can be done from `from`, as a
    /// fluid: a group does `cores x speed` per second once available.
    pub(super) fn fluid_done_by(&self, from: f64, work: f64) -> f64 {
        if work <= 0.0 {
            return from;
        }
        let (mut time, mut rate, mut done) = (from, 0.0, 0.0);
        // Between two start-ups the platform works at a constant rate.
        for (idx, group) in self.groups.iter().enumerate() {
            if group.available_s > time {
                done += rate * (group.available_s - time);
                time = group.available_s;
            }
            rate += group.cores as f64 * group.speed;
            let next = self
                .groups
                .get(idx + 1)
                .map_or(f64::INFINITY, |next| next.available_s.max(time));
            if rate > 0.0 && done + rate * (next - time) >= work {
                return time + (work - done) / rate;
            }
        }
        unreachable!("the last segment never ends and its rate is positive")
    }

    /// The earliest time by which whole pieces can be done from `from`, each on one core.
    /// `largest` holds a set's largest pieces (work at speed 1), in decreasing order.
    ///
    /// For each `j`, the `j` largest pieces need `j` core slots by time `T`; a core of a group
    /// fits `i` of them only if even the `i` smallest of them fit in its time until `T`. The
    /// first `T` where the slots add up to `j` is a bound; the result is the largest over `j`.
    pub(super) fn packed_by(&self, from: f64, largest: &[f64]) -> f64 {
        let mut prefix = Vec::with_capacity(largest.len() + 1);
        prefix.push(0.0);
        for piece in largest {
            prefix.push(prefix.last().copied().unwrap_or(0.0) + piece);
        }
        let mut bound = from;
        let mut slots: Vec<(f64, usize)> = Vec::new();
        for n_pieces in 1..=largest.len() {
            slots.clear();
            for group in &self.groups {
                if group.cores == 0 {
                    continue;
                }
                let start = group.available_s.max(from);
                // The i-th slot of every core of the group opens once the i smallest of the
                // top pieces fit; more than n_pieces / cores slots per core are never needed.
                let per_core = n_pieces.div_ceil(group.cores);
                for i in 1..=per_core {
                    let smallest_i = prefix[n_pieces] - prefix[n_pieces - i];
                    slots.push((start + smallest_i / group.speed, group.cores));
                }
            }
            slots.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut open = 0;
            for &(time, cores) in &slots {
                open += cores;
                if open >= n_pieces {
                    bound = bound.max(time);
                    break;
                }
            }
        }
        bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Pool;
    use crate::resources::Resources;

    fn capacity(groups: &[(u32, u64, f64, f64)]) -> Capacity {
        let pools = groups
            .iter()
            .enumerate()
            .map(|(idx, &(machines, cores, speed, startup_s))| Pool {
                name: format!("p{idx}"),
                machines,
                capacity: Resources::cores(cores),
                speed,
                on_demand_per_hour_micros: 0,
                spot_per_hour_micros: None,
                startup_s,
                interruptions_per_hour: 0.0,
                kind: Default::default(),
            })
            .collect();
        Capacity::new(&Platform {
            bandwidth_mbps: 1.0,
            pools,
        })
    }

    fn check_packed(groups: &[(u32, u64, f64, f64)], from: f64, largest: &[f64], expected: f64) {
        let got = capacity(groups).packed_by(from, largest);
        assert!(
            (got - expected).abs() < 1e-9,
            "{groups:?} {largest:?}: got {got}, want {expected}"
        );
    }

    #[test]
    fn packing_sees_a_core_running_two_tasks() {
        // Two 10 s tasks on one core: 20 s; on two cores: 10 s.
        check_packed(&[(1, 1, 1.0, 0.0)], 0.0, &[10.0, 10.0], 20.0);
        check_packed(&[(1, 2, 1.0, 0.0)], 0.0, &[10.0, 10.0], 10.0);
        // Nine tasks of 50 s, eight local cores and a fast pool that starts at 60: the ninth
        // runs on the fast pool (60 + 50 / 2 = 85) rather than after another (100).
        let nine = [50.0; 9];
        check_packed(&[(1, 8, 1.0, 0.0), (4, 8, 2.0, 60.0)], 0.0, &nine, 85.0);
        // Without the fast pool it waits for a local core.
        check_packed(&[(1, 8, 1.0, 0.0)], 0.0, &nine, 100.0);
        // The largest piece alone: on its fastest core, after `from`.
        check_packed(&[(1, 1, 1.0, 0.0), (1, 1, 4.0, 10.0)], 5.0, &[40.0], 20.0);
    }

    #[test]
    fn fluid_follows_the_start_ups() {
        let capacity = capacity(&[(1, 5, 1.0, 0.0), (4, 1, 2.0, 60.0)]);
        assert_eq!(capacity.fluid_done_by(0.0, 100.0), 20.0);
        assert_eq!(capacity.fluid_done_by(0.0, 300.0), 60.0);
        // 300 by 60 s, then 13 per second.
        assert_eq!(capacity.fluid_done_by(0.0, 430.0), 70.0);
        // From 100 s both pools work: 13 per second.
        assert_eq!(capacity.fluid_done_by(100.0, 130.0), 110.0);
        assert_eq!(capacity.fluid_done_by(7.0, 0.0), 7.0);
    }
}
