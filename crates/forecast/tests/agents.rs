//! Every method, and the forecaster's choice among them, on seeded agent-shaped usage (see
//! `common/agents.rs`): over a run, the projected total must be no worse than the average
//! rate's, intervals must cover, and confident forecasts must be right.

mod common;

use common::agents::{SEEDS, SHAPES};
use common::score::{self, Pooled};

/// A run may lose to the average rate by up to the switch margin: a switch is made on evidence
/// that the method is that much better at the horizon's scale, and on a single run that evidence
/// can be luck.
/// Over the seeds of a shape, at most 1% worse (sessions are 0.07% worse: a few late switches).
const AGGREGATE_TOLERANCE: f64 = 0.01;

const PER_RUN_TOLERANCE: f64 = purser_forecast::SWITCH_MARGIN;

#[test]
fn every_method_on_every_agent_shape() {
    println!("{}", Pooled::HEADER);
    for (shape, generate) in SHAPES {
        let runs: Vec<_> = SEEDS.map(generate).collect();
        let finished: Vec<_> = (101..=104).map(generate).collect();
        for (name, method) in score::setups() {
            let pooled = score::pool(&runs, &finished, method);
            println!("{}", pooled.row(shape, &name));
            if method.is_some() {
                continue;
            }
            assert!(
                pooled.mape() <= pooled.baseline_mape() * (1.0 + AGGREGATE_TOLERANCE),
                "{shape}: MAPE {} vs naive {}",
                pooled.mape(),
                pooled.baseline_mape()
            );
            assert!(
                pooled.worst_excess <= PER_RUN_TOLERANCE,
                "{shape}: a run lost {:.3} to the average rate",
                pooled.worst_excess
            );
            if let Some(share) = pooled.confident_within() {
                assert!(share >= 0.80, "{shape}: confident and within 10%: {share}");
            }
        }
    }
}

#[test]
fn the_fallback_engages_on_sessions_and_the_switch_pays_on_acceleration() {
    let sessions = score::pool(
        &SEEDS.map(common::agents::sessions).collect::<Vec<_>>(),
        &[],
        None,
    );
    let n_average = sessions.method_counts[0];
    assert!(
        n_average * 10 >= sessions.n_forecasts * 9,
        "sessions: {:?}",
        sessions.method_counts
    );
    let accelerating = score::pool(
        &SEEDS.map(common::agents::accelerating).collect::<Vec<_>>(),
        &[],
        None,
    );
    assert!(
        accelerating.mape() <= 0.9 * accelerating.baseline_mape(),
        "accelerating: {} vs {}",
        accelerating.mape(),
        accelerating.baseline_mape()
    );
}
