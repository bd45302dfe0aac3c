//! Reports on the wire: `GET /v1/accounts/{path}:report?format=json|markdown|html`.
//!
//! The engine builds the core's [`Report`] (it alone reads the ledger and the watch); the
//! request's task renders it here, as JSON ([`ReportOut`]), Markdown ([`markdown`]) or a
//! self-contained HTML page with inline SVG charts ([`html`], [`svg`]). Rendering only: this
//! module never reaches into the engine.

pub mod html;
pub mod json;
pub mod markdown;
pub mod svg;

use purser_core::report::Report;

pub use json::{
    ChartOut, ChartPointOut, EfficiencyOut, FairnessOut, IntervalOut, LevelSpanOut, LevelTimesOut,
    RecommendationOut, ReportAccountOut, ReportDimensionOut, ReportForecastOut, ReportOut,
    ReportRequestOut, ReportRulesOut, UtilizationOut, WasteOut,
};

/// How a report is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Markdown,
    Html,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "json" => Some(Format::Json),
            "markdown" | "md" => Some(Format::Markdown),
            "html" => Some(Format::Html),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

/// Renders a report in `format` (whose content type is `Format::content_type`).
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => {
            serde_json::to_string(&ReportOut::from(report)).expect("a report always encodes")
        }
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report),
    }
}

/// `1234567` as `1,234,567`.
pub fn digits(value: u64) -> String {
    purser_core::amount::group_digits(value)
}

/// A duration for people: `45s`, `12m 05s`, `3h 02m`, `2d 04h`.
pub fn duration(ms: u64) -> String {
    let seconds = ms / 1000;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        3_600..86_400 => format!("{}h {:02}m", seconds / 3_600, seconds / 60 % 60),
        _ => format!("{}d {:02}h", seconds / 86_400, seconds / 3_600 % 24),
    }
}

/// A ratio as a percentage with one decimal.
pub fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_largest_units() {
        for (ms, expected) in [
            (0, "0s"),
            (45_999, "45s"),
            (60_000, "1m 00s"),
            (725_000, "12m 05s"),
            (10_920_000, "3h 02m"),
            (187_200_000, "2d 04h"),
        ] {
            assert_eq!(duration(ms), expected, "{ms} ms");
        }
    }
}
