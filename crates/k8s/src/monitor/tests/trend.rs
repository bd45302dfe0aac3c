//! The trend: a robust line, the time until it crosses the critical threshold, and when a
//! forecast starts and ends.

use super::{MINUTE_MS, Noise, feed, monitor, pool_cpu};
use crate::monitor::{Forecast, ForecastState, Kind, MonitorConfig, Sample, TrendConfig, fit};

fn samples(step_ms: u64, values: &[f64]) -> Vec<Sample> {
    values
        .iter()
        .enumerate()
        .map(|(index, &value)| Sample {
            t_ms: index as u64 * step_ms,
            value,
        })
        .collect()
}

/// The forecasts of a series sampled every minute against a capacity of 100, as
/// (minute, forecast).
fn forecasts(values: &[f64]) -> Vec<(u64, Forecast)> {
    let mut monitor = monitor(MonitorConfig::default());
    feed(&mut monitor, &pool_cpu(), MINUTE_MS, values, Some(100.0))
        .into_iter()
        .filter_map(|finding| match finding.kind {
            Kind::Trend(forecast) => Some((finding.at_ms / MINUTE_MS, forecast)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_line_is_exact_on_a_line_and_unmoved_by_a_few_spikes() {
    let config = TrendConfig::default();
    // 12 per hour from 40, one sample a minute for an hour: 52 at the newest sample.
    let mut values: Vec<f64> = (0..=60).map(|minute| 40.0 + 0.2 * minute as f64).collect();
    let line = fit(&samples(MINUTE_MS, &values), &config).unwrap();
    assert!((line.slope_per_hour - 12.0).abs() < 1e-9, "{line:?}");
    assert!((line.level - 52.0).abs() < 1e-9, "{line:?}");
    assert_eq!((line.agreement, line.points), (1.0, 60));
    // Three wild samples, one of them the newest: a least-squares line would follow them.
    values[20] = 500.0;
    values[41] = -300.0;
    values[60] = 400.0;
    let line = fit(&samples(MINUTE_MS, &values), &config).unwrap();
    assert!((line.slope_per_hour - 12.0).abs() < 0.5, "{line:?}");
    assert!((line.level - 52.0).abs() < 1.0, "{line:?}");
}

#[test]
fn the_line_uses_the_window_thinned_and_needs_enough_of_it() {
    let config = TrendConfig::default();
    // Two hours at one sample every 15 s: the last hour's 241 samples thinned to 60.
    let values: Vec<f64> = (0..480).map(|index| index as f64).collect();
    let line = fit(&samples(15_000, &values), &config).unwrap();
    assert_eq!(line.points, 60);
    assert!((line.slope_per_hour - 240.0).abs() < 1e-9);
    // Seven samples are too few, and ten a minute apart span too little.
    assert_eq!(fit(&samples(5 * MINUTE_MS, &[1.0; 7]), &config), None);
    assert_eq!(fit(&samples(MINUTE_MS, &[1.0; 10]), &config), None);
}

#[test]
fn a_ramp_is_forecast_within_the_lead_time_and_reached_on_time() {
    // 30 points of capacity per hour from 20 %, with noise of 1 point: 95 % at minute 150.
    let mut noise = Noise::new(7);
    let values: Vec<f64> = (0..200)
        .map(|minute| 20.0 + 0.5 * minute as f64 + noise.normal())
        .collect();
    let found = forecasts(&values);
    let states: Vec<ForecastState> = found.iter().map(|(_, forecast)| forecast.state).collect();
    assert_eq!(
        states,
        [ForecastState::Heading, ForecastState::Reached],
        "{found:?}"
    );

    let (minute, heading) = &found[0];
    // The lead time is an hour: the forecast comes about 60 minutes before minute 150.
    assert!((88..=92).contains(minute), "forecast at minute {minute}");
    let eta_minutes = heading.eta_ms.unwrap() as f64 / MINUTE_MS as f64;
    assert!(
        (*minute as f64 + eta_minutes - 150.0).abs() < 3.0,
        "eta {eta_minutes} at {minute}"
    );
    assert!(
        (heading.line.slope_per_hour - 30.0).abs() < 2.0,
        "{heading:?}"
    );
    assert_eq!(heading.threshold, 95.0);

    let (minute, _) = &found[1];
    assert!((148..=152).contains(minute), "reached at minute {minute}");
}

#[test]
fn no_forecast_on_a_flat_a_falling_or_a_noisy_series() {
    let mut noise = Noise::new(11);
    // Flat at 90 % with noise of 2 points: close to 95 %, but going nowhere.
    let flat: Vec<f64> = (0..600).map(|_| 90.0 + 2.0 * noise.normal()).collect();
    assert_eq!(forecasts(&flat), []);
    let falling: Vec<f64> = (0..300).map(|minute| 94.0 - 0.1 * minute as f64).collect();
    assert_eq!(forecasts(&falling), []);
    // Rising, but at 10 points an hour from 20 %: the crossing is hours beyond the lead time.
    let slow: Vec<f64> = (0..240).map(|minute| 20.0 + minute as f64 / 6.0).collect();
    assert_eq!(forecasts(&slow), []);
}

#[test]
fn a_forecast_is_withdrawn_when_the_rise_stops() {
    // A ramp to 75 %, then a plateau: the forecast raised on the way is withdrawn.
    let values: Vec<f64> = (0..240)
        .map(|minute| (20.0 + 0.5 * minute as f64).min(75.0))
        .collect();
    let found = forecasts(&values);
    let states: Vec<ForecastState> = found.iter().map(|(_, forecast)| forecast.state).collect();
    assert_eq!(
        states,
        [ForecastState::Heading, ForecastState::Withdrawn],
        "{found:?}"
    );
    // The plateau starts at minute 110. The median slope falls as the plateau takes the window
    // over; it is zero once 71 % of the window (half its pairs) is level, at minute 153.
    let (withdrawn_at, _) = found[1];
    assert!(
        (120..=153).contains(&withdrawn_at),
        "withdrawn at minute {withdrawn_at}"
    );
}
