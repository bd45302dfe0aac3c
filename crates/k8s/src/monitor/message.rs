//! Findings in plain words: one line naming what was found, where, and the figures behind it, as
//! the audit log and the event stream show it.

use std::fmt;

use super::{Anomaly, Finding, Forecast, ForecastState, Kind, Level, PressureChange, Series};

impl Finding {
    /// One line, e.g. `pool/local cpu at 96.0% of capacity for 10m (critical)`.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Pressure(change) => pressure(formatter, &self.series, change),
            Kind::Trend(forecast) => trend(formatter, &self.series, forecast),
            Kind::Anomaly(anomaly) => self::anomaly(formatter, &self.series, anomaly),
        }
    }
}

fn pressure(
    formatter: &mut fmt::Formatter<'_>,
    series: &Series,
    change: &PressureChange,
) -> fmt::Result {
    let at = percent(change.fraction);
    let held = duration(change.held_ms);
    let (level, previous) = (change.level.name(), change.previous.name());
    if change.level > change.previous {
        write!(
            formatter,
            "{series} at {at} of capacity for {held} ({level})"
        )
    } else if change.level == Level::Ok {
        write!(
            formatter,
            "{series} back to ok at {at} of capacity, clear for {held} (was {previous})"
        )
    } else {
        write!(
            formatter,
            "{series} down to {at} of capacity, clear of {previous} for {held} ({level})"
        )
    }
}

fn trend(formatter: &mut fmt::Formatter<'_>, series: &Series, forecast: &Forecast) -> fmt::Result {
    let line = &forecast.line;
    let target = format!(
        "{} of capacity ({})",
        percent(forecast.threshold_fraction),
        figure(forecast.threshold)
    );
    let trend = format!(
        "trend {} now, {} per hour over {} points",
        figure(line.level),
        signed(line.slope_per_hour),
        line.points
    );
    match (forecast.state, forecast.eta_ms) {
        (ForecastState::Heading, Some(eta_ms)) => {
            write!(
                formatter,
                "{series} heading for {target} in {}: {trend}",
                duration(eta_ms)
            )
        }
        (ForecastState::Reached, _) => {
            write!(formatter, "{series} reached {target} as forecast: {trend}")
        }
        _ => write!(
            formatter,
            "{series} no longer heading for {target}: {trend}"
        ),
    }
}

fn anomaly(formatter: &mut fmt::Formatter<'_>, series: &Series, anomaly: &Anomaly) -> fmt::Result {
    let deviation = &anomaly.deviation;
    let (direction, bound) = if deviation.score > 0.0 {
        ("high", anomaly.range.map(|(_, high)| ("above", high)))
    } else {
        ("low", anomaly.range.map(|(low, _)| ("below", low)))
    };
    write!(
        formatter,
        "{series} anomalously {direction}: {} against a median of {} (MAD {}, scale {}, \
         score {:.1}; {} of the last {} samples anomalous",
        figure(deviation.value),
        figure(deviation.median),
        figure(deviation.mad),
        figure(deviation.scale),
        deviation.score,
        anomaly.anomalous,
        anomaly.window,
    )?;
    if let Some((side, bound)) = bound {
        let range = duration(anomaly.range_ms);
        write!(
            formatter,
            "; {side} the {range} {direction} of {}",
            figure(bound)
        )?;
    }
    write!(formatter, ")")
}

/// `0.96` as `96.0%`.
pub(super) fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A figure with four significant digits and no trailing zeros: `0.066`, `42.93`, `656`,
/// `3.204e6`.
pub(super) fn figure(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor();
    if !(-3.0..6.0).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let decimals = (3.0 - magnitude).max(0.0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A figure with its sign always shown: `+34.2`, `-0.5`.
fn signed(value: f64) -> String {
    if value >= 0.0 {
        format!("+{}", figure(value))
    } else {
        figure(value)
    }
}

/// A duration as people write it: `45s`, `10m`, `1h05m`, `2d3h`.
pub(super) fn duration(ms: u64) -> String {
    let seconds = ms.div_ceil(1000);
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    if days > 0 && hours > 0 {
        format!("{days}d{hours}h")
    } else if days > 0 {
        format!("{days}d")
    } else if hours > 0 && minutes > 0 {
        format!("{hours}h{minutes:02}m")
    } else if hours > 0 {
        format!("{hours}h")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        format!("{seconds}s")
    }
}
