//! Evaluation of the forecasts on the real Mooncake (FAST'25) conversation trace: one account,
//! one hour, limit at the usage at 80% of the hour, a forecast every minute from 10% on.

mod common;

use purser_forecast::{EvaluationSetup, evaluate};

#[test]
fn mooncake_forecasts_are_honest_and_beat_the_average_rate() {
    let Some(events) = common::read_mooncake() else {
        return;
    };
    let figures = evaluate(&events, &EvaluationSetup::default()).expect("the trace has events");
    println!(
        "Mooncake conversation trace, {} requests\n{figures}",
        events.len()
    );

    assert!(
        figures.n_forecasts >= 50,
        "{} forecasts",
        figures.n_forecasts
    );
    // (c) the 80% intervals contain the real total at least 75% of the time ...
    assert!(
        figures.interval_coverage >= 0.75,
        "coverage {}",
        figures.interval_coverage
    );
    // ... and a confidence of 0.85 or more is right at least 85% of the time.
    if let Some(share) = figures.confident_within_share {
        assert!(share >= 0.85, "confident and within 10%: {share}");
    }
    // (d) no worse than extrapolating the average rate.
    assert!(
        figures.mape <= figures.baseline_mape,
        "MAPE {} vs baseline {}",
        figures.mape,
        figures.baseline_mape
    );
}
