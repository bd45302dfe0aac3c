//! Figures of one forecaster setup pooled over many runs (seeds, series), and how they print.

use purser_forecast::{EvaluationSetup, Figures, History, Method, ProfileLibrary, evaluate};

/// Figures pooled over runs: means of the MAPEs, shares pooled over all forecasts.
#[derive(Debug, Default, Clone)]
pub struct Pooled {
    pub n_runs: usize,
    pub sum_mape: f64,
    pub sum_baseline_mape: f64,
    /// The largest `mape - baseline_mape` of one run, relative to its `baseline_mape`.
    pub worst_excess: f64,
    pub n_forecasts: usize,
    pub n_contained: usize,
    pub n_confident: usize,
    pub n_confident_within: usize,
    pub n_before_exhaustion: usize,
    pub n_exhaustion_within: usize,
    pub method_counts: [usize; 4],
}

impl Pooled {
    pub fn add(&mut self, figures: &Figures) {
        let count = |share: f64, of: usize| (share * of as f64).round() as usize;
        self.n_runs += 1;
        self.sum_mape += figures.mape;
        self.sum_baseline_mape += figures.baseline_mape;
        let excess = (figures.mape - figures.baseline_mape) / figures.baseline_mape.max(1e-9);
        self.worst_excess = self.worst_excess.max(excess);
        self.n_forecasts += figures.n_forecasts;
        self.n_contained += count(figures.interval_coverage, figures.n_forecasts);
        self.n_confident += figures.n_confident;
        self.n_confident_within += figures
            .confident_within_share
            .map_or(0, |share| count(share, figures.n_confident));
        self.n_before_exhaustion += figures.n_before_exhaustion;
        self.n_exhaustion_within +=
            count(figures.exhaustion_within_share, figures.n_before_exhaustion);
        for (total, count) in self.method_counts.iter_mut().zip(figures.method_counts) {
            *total += count;
        }
    }

    pub fn mape(&self) -> f64 {
        self.sum_mape / self.n_runs as f64
    }

    pub fn baseline_mape(&self) -> f64 {
        self.sum_baseline_mape / self.n_runs as f64
    }

    pub fn coverage(&self) -> f64 {
        self.n_contained as f64 / self.n_forecasts as f64
    }

    /// `None` when no forecast was confident.
    pub fn confident_within(&self) -> Option<f64> {
        (self.n_confident > 0).then(|| self.n_confident_within as f64 / self.n_confident as f64)
    }

    pub fn exhaustion_within(&self) -> f64 {
        self.n_exhaustion_within as f64 / self.n_before_exhaustion.max(1) as f64
    }

    /// The header of `row`, a Markdown table.
    pub const HEADER: &str = "| trace | method | runs | MAPE | naive MAPE | worst run vs naive \
        | 80% interval coverage | confident within 10% | exhaustion time within 10% or 60 s \
        | methods chosen (avg/lin/holt/hist) |\n|---|---|---|---|---|---|---|---|---|---|";

    pub fn row(&self, trace: &str, method: &str) -> String {
        let confident = self
            .confident_within()
            .map_or("n/a (0)".to_owned(), |share| {
                format!("{share:.3} ({})", self.n_confident)
            });
        let [average, linear, holt, historical] = self.method_counts;
        format!(
            "| {trace} | {method} | {} | {:.3} | {:.3} | {:+.0}% | {:.3} | {confident} | {:.3} | \
             {average}/{linear}/{holt}/{historical} |",
            self.n_runs,
            self.mape(),
            self.baseline_mape(),
            100.0 * self.worst_excess,
            self.coverage(),
            self.exhaustion_within(),
        )
    }
}

/// The setups compared: the forecaster's own choice, then each method alone.
pub fn setups() -> Vec<(String, Option<Method>)> {
    let mut setups = vec![("chosen".to_owned(), None)];
    setups.extend(Method::ALL.map(|method| (method.name().to_owned(), Some(method))));
    setups
}

/// Evaluates `method` (or the forecaster's choice) on every run, the historical method with
/// the profile of `finished` runs of the same shape.
pub fn pool(
    runs: &[Vec<(u64, u64)>],
    finished: &[Vec<(u64, u64)>],
    method: Option<Method>,
) -> Pooled {
    let mut library = ProfileLibrary::new();
    for events in finished {
        let mut history = History::new(0);
        for &(at_ms, amount) in events {
            history.observe(at_ms, amount);
        }
        library.record_run("shape", &history, super::agents::HOUR_MS);
    }
    let mut setup = EvaluationSetup {
        profile: library.profile("shape"),
        ..EvaluationSetup::default()
    };
    setup.config.method = method;
    let mut pooled = Pooled::default();
    for events in runs {
        pooled.add(&evaluate(events, &setup).expect("a run has events"));
    }
    pooled
}
