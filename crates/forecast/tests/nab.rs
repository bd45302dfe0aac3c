//! The NAB realAWSCloudwatch series (CPU, network, disk, request counts; 5-minute points) read as
//! consumption that is not LLM traffic: every method, and the forecaster's choice, over the
//! first day of each series, a forecast every half hour, the backtest's scales from 15 min to 32 h.

mod common;

use common::score::{Pooled, setups};
use purser_forecast::{EvaluationSetup, ForecastConfig, evaluate};

const DAY_MS: u64 = 86_400_000;

/// Pooled over the series, the chosen forecasts' MAPE may exceed the average rate's by this.
const POOLED_TOLERANCE: f64 = 0.02;

/// One series may lose this much to the average rate (the switch margin, as in `tests/agents.rs`).
const PER_SERIES_TOLERANCE: f64 = purser_forecast::SWITCH_MARGIN;

#[test]
fn nab_series_forecasts_are_no_worse_than_the_average_rate() {
    let Some(series) = common::nab::read_nab() else {
        return;
    };
    assert!(series.len() >= 10, "{} series", series.len());
    println!("{}", Pooled::HEADER);
    let mut chosen = Pooled::default();
    for (name, method) in setups() {
        let mut pooled = Pooled::default();
        for (_, events) in &series {
            let setup = EvaluationSetup {
                horizon_ms: DAY_MS,
                forecast_every_ms: 1_800_000,
                config: ForecastConfig {
                    pseudo_horizon_ms: 900_000,
                    method,
                },
                ..EvaluationSetup::default()
            };
            pooled.add(&evaluate(events, &setup).expect("a series has points"));
        }
        println!("{}", pooled.row("nab (11 series, first day)", &name));
        if method.is_none() {
            chosen = pooled;
        }
    }
    // Known shortfall: on `iio_us-east-1_i-a2eb1cd9_NetworkIn` Holt wins the horizon-scale
    // backtest in a quiet spell, a burst comes, and once the backtest has seen a rise the
    // switch may follow the burst's tail; the shrink toward the average rate (see
    // `evidence::departure_seen` and `combination_weight`) bounds the loss but does not remove it.
    println!(
        "pooled MAPE {:.4} vs naive {:.4} ({:+.2}%)",
        chosen.mape(),
        chosen.baseline_mape(),
        100.0 * (chosen.mape() / chosen.baseline_mape() - 1.0)
    );
    assert!(
        chosen.mape() <= chosen.baseline_mape() * (1.0 + POOLED_TOLERANCE),
        "MAPE {} vs {}",
        chosen.mape(),
        chosen.baseline_mape()
    );
    assert!(
        chosen.worst_excess <= PER_SERIES_TOLERANCE,
        "a series lost {:.3} to the average rate",
        chosen.worst_excess
    );
    assert!(chosen.coverage() >= 0.70, "coverage {}", chosen.coverage());
}
