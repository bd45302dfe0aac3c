//! The usage of one machine over virtual time: a step function, for insertion-based placement.

use crate::resources::Resources;

/// `usage[i]` holds on `[times[i], times[i + 1])`; the last step lasts forever and is zero.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    times: Vec<f64>,
    usage: Vec<Resources>,
}

impl Profile {
    pub(crate) fn new() -> Self {
        Profile {
            times: vec![0.0],
            usage: vec![Resources::ZERO],
        }
    }

    fn step_at(&self, time: f64) -> usize {
        // Last step starting at or before `time` (step 0 starts at 0).
        self.times
            .partition_point(|&start| start <= time)
            .saturating_sub(1)
    }

    /// Usage at one instant.
    pub(crate) fn usage_at(&self, time: f64) -> Resources {
        self.usage[self.step_at(time)]
    }

    /// Earliest start at or after `from` where `request` fits under `capacity` for `duration`.
    /// Infinite when the request exceeds the capacity.
    pub(crate) fn earliest_fit(
        &self,
        from: f64,
        duration: f64,
        request: &Resources,
        capacity: &Resources,
    ) -> f64 {
        if !request.fits_in(capacity) {
            return f64::INFINITY;
        }
        let mut step = self.step_at(from);
        let mut start = from;
        loop {
            let end = start + duration;
            let mut blocked = None;
            let mut probe = step;
            while probe < self.times.len() && (probe == step || self.times[probe] < end) {
                if !self.usage[probe].fits_with(request, capacity) {
                    blocked = Some(probe);
                    break;
                }
                probe += 1;
            }
            match blocked {
                None => return start,
                // The last step is zero, so a blocked step always has a successor.
                Some(blocked_step) => {
                    step = blocked_step + 1;
                    start = self.times[step];
                }
            }
        }
    }

    fn split_at(&mut self, time: f64) -> usize {
        let step = self.step_at(time);
        if self.times[step] == time {
            return step;
        }
        self.times.insert(step + 1, time);
        self.usage.insert(step + 1, self.usage[step]);
        step + 1
    }

    /// Holds `request` on `[start, end)`. The caller checked the fit.
    pub(crate) fn add(&mut self, start: f64, end: f64, request: &Resources) {
        if end <= start {
            return;
        }
        let first = self.split_at(start);
        let last = self.split_at(end);
        for usage in &mut self.usage[first..last] {
            *usage = usage.checked_add(request).unwrap_or(*usage);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(busy: &[(f64, f64, u64)]) -> Profile {
        let mut profile = Profile::new();
        for &(start, end, cores) in busy {
            profile.add(start, end, &Resources::cores(cores));
        }
        profile
    }

    fn check(busy: &[(f64, f64, u64)], from: f64, duration: f64, cores: u64, expected: f64) {
        let got = profile(busy).earliest_fit(
            from,
            duration,
            &Resources::cores(cores),
            &Resources::cores(2),
        );
        assert_eq!(
            got, expected,
            "busy {busy:?} from {from} for {duration} with {cores} cores"
        );
    }

    #[test]
    fn finds_gaps_and_respects_capacity() {
        check(&[], 3.0, 5.0, 2, 3.0);
        check(&[(0.0, 10.0, 2)], 0.0, 1.0, 1, 10.0);
        check(&[(0.0, 10.0, 1)], 0.0, 1.0, 1, 0.0);
        // A gap of 5 between two full blocks takes a 5 s task, not a 6 s one.
        check(&[(0.0, 10.0, 2), (15.0, 20.0, 2)], 0.0, 5.0, 2, 10.0);
        check(&[(0.0, 10.0, 2), (15.0, 20.0, 2)], 0.0, 6.0, 2, 20.0);
        check(&[(0.0, 10.0, 1), (5.0, 8.0, 1)], 0.0, 2.0, 1, 0.0);
        check(&[(0.0, 10.0, 1), (5.0, 8.0, 1)], 0.0, 6.0, 1, 8.0);
        check(&[(0.0, 10.0, 2)], 4.0, 0.0, 1, 10.0);
        check(&[], 0.0, 1.0, 3, f64::INFINITY);
    }

    #[test]
    fn usage_adds_up_and_returns_to_zero() {
        let profile = profile(&[(1.0, 4.0, 1), (2.0, 3.0, 1)]);
        assert_eq!(profile.usage_at(0.5).cores, 0);
        assert_eq!(profile.usage_at(1.0).cores, 1);
        assert_eq!(profile.usage_at(2.5).cores, 2);
        assert_eq!(profile.usage_at(3.0).cores, 1);
        assert_eq!(profile.usage_at(100.0).cores, 0);
    }
}
