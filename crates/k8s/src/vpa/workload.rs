//! A workload's usage samples by container, and the recommendation from them: what
//! `POST /v1/profiles/{name}/samples`, `GET /v1/profiles/{name}:rightsize` and
//! `purser recommend rightsize --samples FILE` share.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use super::ResourceList;
use super::aggregate::{AggregateContainerState, AggregationConfig};
use super::capping::apply_policy;
use super::container::ContainerHistory;
use super::policy::PodResourcePolicy;
use super::recommender::{
    ContainerRecommendation, PodResourceRecommender, RecommendationConfig, RecommendationFormat,
    recommendation_list,
};

/// The whole of upstream's recommendation step for one pod, as `GET /v1/profiles/{name}:rightsize`
/// needs it: estimate every container, list the results rounded to `format`, and cap them to
/// `policy` (with `global_max_allowed` for maxima it leaves out). Which resources each container
/// gets comes from its state (see [`AggregateContainerState::update_from_policy`]).
pub fn rightsize<S: Borrow<AggregateContainerState>>(
    containers: &BTreeMap<String, S>,
    config: &RecommendationConfig,
    format: RecommendationFormat,
    policy: Option<&PodResourcePolicy>,
    global_max_allowed: ResourceList,
) -> Vec<ContainerRecommendation> {
    let recommended = PodResourceRecommender::new(config).recommend(containers);
    apply_policy(
        &recommendation_list(&recommended, format),
        policy,
        global_max_allowed,
    )
}

/// One usage sample of one container. CPU, memory or both; `oom` marks an out-of-memory kill,
/// when `memory_bytes` is what the container had (its request or its usage at the kill).
#[derive(Clone, Debug, PartialEq)]
pub struct UsageSample {
    pub container: String,
    pub t_ms: i64,
    pub cpu_millicores: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub oom: bool,
}

/// The samples of one workload (a profile's agents), by container name.
#[derive(Clone, Debug)]
pub struct Workload {
    config: AggregationConfig,
    containers: BTreeMap<String, ContainerHistory>,
    containers_max: usize,
    accepted: u64,
    dropped: u64,
}

impl Workload {
    /// An empty workload keeping at most `containers_max` containers.
    pub fn new(containers_max: usize) -> Workload {
        Workload {
            config: AggregationConfig::default(),
            containers: BTreeMap::new(),
            containers_max,
            accepted: 0,
            dropped: 0,
        }
    }

    /// Adds `sample`; false when the recommender drops it (older than the container's last
    /// sample, negative). Errs, adding nothing, on a container beyond the cap or an empty name.
    pub fn add(&mut self, sample: &UsageSample) -> Result<bool, String> {
        if sample.container.is_empty() || sample.container.len() > 253 {
            return Err("a container name must be 1 to 253 characters".into());
        }
        if !self.containers.contains_key(&sample.container)
            && self.containers.len() >= self.containers_max
        {
            return Err(format!(
                "at most {} containers per workload; {} would be one more",
                self.containers_max, sample.container
            ));
        }
        let config = self.config.clone();
        let history = self
            .containers
            .entry(sample.container.clone())
            .or_insert_with(|| ContainerHistory::new(&config, sample.t_ms));
        let mut kept = false;
        if let Some(cpu) = sample.cpu_millicores {
            kept |= history.add_cpu_sample(sample.t_ms, cpu);
        }
        if let Some(memory) = sample.memory_bytes {
            if sample.oom {
                kept |= history.record_oom(sample.t_ms, memory).is_ok();
            } else {
                kept |= history.add_memory_sample(sample.t_ms, memory);
            }
        }
        if kept {
            self.accepted += 1;
        } else {
            self.dropped += 1;
        }
        Ok(kept)
    }

    /// Samples kept and dropped so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.accepted, self.dropped)
    }

    /// The containers and how long each has been sampled, in ms.
    pub fn lifespans(&self) -> Vec<(String, i64)> {
        self.containers
            .iter()
            .map(|(name, history)| (name.clone(), history.aggregate.lifespan_ms()))
            .collect()
    }

    /// The VPA recommender's requests per container, with upstream's defaults and no policy.
    pub fn recommend(&self) -> Vec<ContainerRecommendation> {
        let states: BTreeMap<String, &AggregateContainerState> = self
            .containers
            .iter()
            .map(|(name, history)| (name.clone(), &history.aggregate))
            .collect();
        rightsize(
            &states,
            &RecommendationConfig::default(),
            RecommendationFormat::default(),
            None,
            ResourceList::default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_steady_day_recommends_above_the_usage_and_an_oom_raises_memory() {
        let mut workload = Workload::new(4);
        for minute in 0..24 * 60 {
            let sample = UsageSample {
                container: "agent".into(),
                t_ms: minute * 60_000,
                cpu_millicores: Some(500),
                memory_bytes: Some(1 << 30),
                oom: false,
            };
            assert!(workload.add(&sample).unwrap());
        }
        let before = workload.recommend();
        let target = before[0].target;
        assert!(target.cpu_millicores.unwrap() >= 500, "{target:?}");
        assert!(target.memory_bytes.unwrap() >= 1 << 30, "{target:?}");
        let oom = UsageSample {
            container: "agent".into(),
            t_ms: 24 * HOUR + 1,
            cpu_millicores: None,
            memory_bytes: Some(2 << 30),
            oom: true,
        };
        assert!(workload.add(&oom).unwrap());
        let after = workload.recommend()[0].target;
        assert!(
            after.memory_bytes.unwrap() > target.memory_bytes.unwrap(),
            "{after:?}"
        );
        assert_eq!(workload.counts(), (24 * 60 + 1, 0));
    }

    #[test]
    fn containers_beyond_the_cap_are_refused_and_old_samples_dropped() {
        let mut workload = Workload::new(1);
        let sample = |container: &str, t_ms| UsageSample {
            container: container.into(),
            t_ms,
            cpu_millicores: Some(100),
            memory_bytes: None,
            oom: false,
        };
        assert!(workload.add(&sample("a", 10_000)).unwrap());
        assert!(workload.add(&sample("b", 10_000)).is_err());
        assert!(!workload.add(&sample("a", 5_000)).unwrap());
        assert_eq!(workload.counts(), (1, 1));
    }
}
