//! Scoring a CPU recommendation against the usage that followed it: how often the request would
//! have been exceeded, and how much would have been left idle, for the VPA's target and for two
//! static requests a person might pick instead (the training peak and the training mean).

use std::collections::BTreeMap;

use super::aggregate::AggregationConfig;
use super::container::ContainerHistory;
use super::recommender::{PodResourceRecommender, RecommendationConfig};

/// One CPU usage sample of a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSample {
    pub t_ms: i64,
    pub cpu_millicores: i64,
}

/// How one request fares over the scored samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestScore {
    /// The request, in millicores (fractional for the training mean).
    pub request_millicores: f64,
    /// The share of scored samples whose usage is above the request, in [0, 1].
    pub exceed_share: f64,
    /// The mean of request minus usage: idle capacity when positive, a shortfall when negative.
    pub mean_slack_millicores: f64,
}

/// The figures of one replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayScore {
    /// Samples the recommendation was computed from.
    pub n_training_samples: usize,
    /// Samples it was scored on.
    pub n_scored_samples: usize,
    /// The VPA's CPU target from the training samples.
    pub vpa_target: RequestScore,
    /// A static request at the highest training sample.
    pub training_peak: RequestScore,
    /// A static request at the mean of the training samples.
    pub training_mean: RequestScore,
}

/// Recommends a CPU request from the samples of the first `training_ms` (counted from the first
/// sample), then scores it on the samples after. Samples are expected in time order; like
/// upstream, the recommender drops any that go back in time. Returns None when either part is
/// empty.
pub fn replay(
    samples: &[CpuSample],
    training_ms: i64,
    recommendation: &RecommendationConfig,
    aggregation: &AggregationConfig,
) -> Option<ReplayScore> {
    let start_ms = samples.first()?.t_ms;
    let split_ms = start_ms.saturating_add(training_ms);
    let (training, scored): (Vec<CpuSample>, Vec<CpuSample>) =
        samples.iter().partition(|sample| sample.t_ms < split_ms);
    if training.is_empty() || scored.is_empty() {
        return None;
    }

    let mut history = ContainerHistory::new(aggregation, start_ms);
    for sample in &training {
        history.add_cpu_sample(sample.t_ms, sample.cpu_millicores);
    }
    let containers = BTreeMap::from([("replayed".to_string(), &history.aggregate)]);
    let recommended = PodResourceRecommender::new(recommendation).recommend(&containers);
    let vpa_target_millicores = recommended["replayed"]
        .target
        .cpu_millicores
        .expect("a fresh aggregate controls cpu");

    let training_peak_millicores = training
        .iter()
        .map(|s| s.cpu_millicores)
        .max()
        .expect("training is not empty");
    let training_mean_millicores = training
        .iter()
        .map(|s| s.cpu_millicores as f64)
        .sum::<f64>()
        / training.len() as f64;

    Some(ReplayScore {
        n_training_samples: training.len(),
        n_scored_samples: scored.len(),
        vpa_target: score_request(vpa_target_millicores as f64, &scored),
        training_peak: score_request(training_peak_millicores as f64, &scored),
        training_mean: score_request(training_mean_millicores, &scored),
    })
}

fn score_request(request_millicores: f64, scored: &[CpuSample]) -> RequestScore {
    let n_exceeding = scored
        .iter()
        .filter(|s| s.cpu_millicores as f64 > request_millicores)
        .count();
    let total_slack: f64 = scored
        .iter()
        .map(|s| request_millicores - s.cpu_millicores as f64)
        .sum();
    RequestScore {
        request_millicores,
        exceed_share: n_exceeding as f64 / scored.len() as f64,
        mean_slack_millicores: total_slack / scored.len() as f64,
    }
}
