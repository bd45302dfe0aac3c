//! Reports on the wire: `GET /v1/accounts/{path}:report?format=json|markdown|html`.
//!
//! The engine thread builds the core's [`Report`] (it alone reads the ledger and the watch);
//! the request's task renders it here, as JSON ([`ReportOut`]), Markdown ([`markdown`]) or a
//! self-contained HTML page with inline SVG charts ([`html`], [`svg`]).

pub mod html;
pub mod json;
pub mod markdown;
pub mod svg;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use purser_core::AccountPath;
use purser_core::report::Report;

use crate::engine::{Engine, Op, Reply};
use crate::error::ApiError;

pub use json::{
    ChartOut, ChartPointOut, EfficiencyOut, FairnessOut, IntervalOut, LevelSpanOut, LevelTimesOut,
    RecommendationOut, ReportAccountOut, ReportDimensionOut, ReportForecastOut, ReportOut,
    UtilizationOut, WasteOut,
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

/// The query of a report request: `format`, nothing else.
pub fn parse_query(raw: Option<&str>) -> Result<Format, ApiError> {
    let mut format = Format::Json;
    for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "format" => {
                format = Format::parse(value).ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_field",
                        "format",
                        "format must be one of json, markdown, html",
                    )
                })?;
            }
            other => {
                return Err(ApiError::invalid(
                    "unknown_field",
                    other,
                    format!("unknown query parameter {other}"),
                ));
            }
        }
    }
    Ok(format)
}

/// Renders a report in `format`, with its content type.
pub fn render(report: &Report, format: Format) -> Response {
    let body = match format {
        Format::Json => return axum::Json(ReportOut::from(report)).into_response(),
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report),
    };
    ([(CONTENT_TYPE, format.content_type())], body).into_response()
}

/// Asks the engine for the report of `path` and renders it here, off the engine thread.
#[utoipa::path(get, path = "/v1/accounts/{path}:report",
    params(("path" = String, Path, description = "The account path"),
           ("format" = Option<String>, Query, description = "json (default), markdown or html")),
    responses(
        (status = 200, description = "The report of the account and its children",
         content((ReportOut = "application/json"), (String = "text/markdown"), (String = "text/html"))),
        (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn report(
    engine: &Engine,
    path: AccountPath,
    raw_query: Option<&str>,
) -> Result<Response, ApiError> {
    let format = parse_query(raw_query)?;
    match engine.call(Op::Report(path)).await {
        Reply::Report(report) => Ok(render(&report, format)),
        Reply::Error(err) => Err(err),
        _ => Err(ApiError::new(
            500,
            "internal",
            "the engine answered a report with something else",
        )),
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

    #[test]
    fn the_query_names_a_format_or_nothing() {
        assert_eq!(parse_query(None), Ok(Format::Json));
        assert_eq!(parse_query(Some("format=html")), Ok(Format::Html));
        assert_eq!(parse_query(Some("format=markdown")), Ok(Format::Markdown));
        let err = parse_query(Some("format=pdf")).unwrap_err();
        assert_eq!(
            (err.status, err.detail.field.as_deref()),
            (400, Some("format"))
        );
        let err = parse_query(Some("fromat=html")).unwrap_err();
        assert_eq!(err.detail.field.as_deref(), Some("fromat"));
    }
}
