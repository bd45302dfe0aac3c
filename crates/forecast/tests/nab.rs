//! The NAB realAWSCloudwatch series (CPU, network, disk, request counts; 5-minute points) read as
//! consumption that is not LLM traffic: every method, and the forecaster's choice, over the
//! first day of each series, a forecast every half hour, the backtest's scales from 15 min to 32 h.

mod common;

use common::score::{Pooled, setups};
use purser_forecast::{EvaluationSetup, ForecastConfig, evaluate};

const DAY_MS: u64 = 86_400_000;

#[test]
fn nab_series_forecasts_are_no_worse_than_the_average_rate() {
    let Some(series) = common::read_nab() else {
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
    // Known shortfall: Holt wins the horizon-scale backtest by the margin on a few series and
    // then loses; over the series the chosen forecasts stay within the switch margin of the
    // average rate's (0.104 vs 0.095 when written), not at or below it.
    assert!(
        chosen.mape() <= chosen.baseline_mape() * (1.0 + purser_forecast::SWITCH_MARGIN),
        "MAPE {} vs {}",
        chosen.mape(),
        chosen.baseline_mape()
    );
    assert!(chosen.coverage() >= 0.70, "coverage {}", chosen.coverage());
}
