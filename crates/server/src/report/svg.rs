//! Inline SVG charts for the HTML report: consumption over time with the limit and the dashed
//! forecast, the levels over time as a coloured band, and the time each account spent at each
//! level. Plain SVG 1.1 with presentation attributes: no script, no external resource.

use std::fmt::Write;

use purser_core::level::Level;
use purser_core::report::{AccountRow, Chart};

use super::{digits, duration};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 36.0;
const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
const PLOT_HEIGHT: f64 = HEIGHT - TOP - BOTTOM;
/// Horizontal grid lines of the consumption chart.
const Y_TICKS: u32 = 4;
/// Accounts the level-time chart shows at most.
const LEVEL_ROWS_MAX: usize = 50;

/// Escapes text for SVG and HTML, in content and in quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

pub fn level_colour(level: Level) -> &'static str {
    match level {
        Level::Green => "#2f9e44",
        Level::Yellow => "#f5c518",
        Level::Orange => "#f08c00",
        Level::Red => "#e03131",
        Level::Black => "#212529",
    }
}

/// The time axis shared by the consumption chart and the levels band.
struct TimeAxis {
    start_ms: u64,
    span_ms: f64,
}

impl TimeAxis {
    fn of(chart: &Chart) -> TimeAxis {
        TimeAxis {
            start_ms: chart.start_ms,
            span_ms: chart.end_ms.saturating_sub(chart.start_ms).max(1) as f64,
        }
    }

    fn x(&self, at_ms: u64) -> f64 {
        LEFT + at_ms.saturating_sub(self.start_ms) as f64 / self.span_ms * PLOT_WIDTH
    }
}

/// A round step for `ticks` grid lines up to at least `top`.
fn nice_step(top: f64, ticks: u32) -> f64 {
    let rough = (top / f64::from(ticks)).max(1.0);
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|factor| factor * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude)
}

/// `950`, `12.5k`, `1.2M`: axis labels.
fn compact(value: f64) -> String {
    let trim = |text: String| text.trim_end_matches(".0").to_string();
    if value >= 1e9 {
        trim(format!("{:.1}", value / 1e9)) + "G"
    } else if value >= 1e6 {
        trim(format!("{:.1}", value / 1e6)) + "M"
    } else if value >= 1e3 {
        trim(format!("{:.1}", value / 1e3)) + "k"
    } else {
        format!("{value:.0}")
    }
}

/// The chart's height in value units: everything drawn fits, an unbounded interval is clipped.
fn value_top(chart: &Chart) -> f64 {
    let consumed = chart
        .consumption
        .iter()
        .map(|point| point.value)
        .fold(0.0, f64::max);
    let mut top = consumed.max(chart.limit.unwrap_or(0) as f64);
    if let Some(forecast) = &chart.forecast {
        top = top.max(forecast.projected_total as f64);
        let high = forecast.interval_high.unwrap_or(u64::MAX) as f64;
        top = top.max(high.min(top * 1.5));
    }
    top.max(1.0) * 1.05
}

/// Consumption over time (solid), the limit (red line), the forecast to the horizon end
/// (dashed) with its 80% interval (shaded), and a line at now.
pub fn consumption(chart: &Chart) -> String {
    let axis = TimeAxis::of(chart);
    let step = nice_step(value_top(chart), Y_TICKS);
    let y_max = step * (value_top(chart) / step).ceil();
    let y = |value: f64| TOP + PLOT_HEIGHT - (value.min(y_max) / y_max) * PLOT_HEIGHT;
    let dimension = escape(&chart.dimension);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{dimension} consumption over time"><title>{dimension} consumption over time, with the limit and the forecast</title>"#
    );
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" fill="#fbfbfc" stroke="#ced4da"/>"##
    );
    let mut tick = 0.0;
    while tick <= y_max + 0.5 {
        let at = y(tick);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{at:.1}" x2="{:.1}" y2="{at:.1}" stroke="#e9ecef"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#495057">{}</text>"##,
            LEFT + PLOT_WIDTH,
            LEFT - 6.0,
            at + 4.0,
            compact(tick)
        );
        tick += step;
    }
    if let Some(forecast) = &chart.forecast {
        let from_x = axis.x(chart.now_ms);
        let from_y = y(chart.consumption.last().map_or(0.0, |point| point.value));
        let to_x = axis.x(chart.end_ms);
        let high = forecast.interval_high.map_or(y_max, |high| high as f64);
        let _ = write!(
            svg,
            r##"<polygon points="{from_x:.1},{from_y:.1} {to_x:.1},{:.1} {to_x:.1},{:.1}" fill="#4dabf7" fill-opacity="0.18"><title>80% interval at the horizon end: {} to {}</title></polygon>"##,
            y(high),
            y(forecast.interval_low as f64),
            digits(forecast.interval_low),
            forecast
                .interval_high
                .map_or("unbounded".to_string(), digits),
        );
        let _ = write!(
            svg,
            r##"<line x1="{from_x:.1}" y1="{from_y:.1}" x2="{to_x:.1}" y2="{:.1}" stroke="#1c7ed6" stroke-width="2" stroke-dasharray="6 4"><title>{} forecast: {} {dimension} at the horizon end</title></line>"##,
            y(forecast.projected_total as f64),
            escape(forecast.method),
            digits(forecast.projected_total),
        );
    }
    let points: Vec<String> = chart
        .consumption
        .iter()
        .map(|point| format!("{:.1},{:.1}", axis.x(point.at_ms), y(point.value)))
        .collect();
    let _ = write!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#1864ab" stroke-width="2.5"/>"##,
        points.join(" ")
    );
    if let Some(limit) = chart.limit {
        let at = y(limit as f64);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{at:.1}" x2="{:.1}" y2="{at:.1}" stroke="#e03131" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#c92a2a">limit {}</text>"##,
            LEFT + PLOT_WIDTH,
            LEFT + 6.0,
            at - 5.0,
            digits(limit)
        );
    }
    let now_x = axis.x(chart.now_ms);
    let _ = write!(
        svg,
        r##"<line x1="{now_x:.1}" y1="{TOP}" x2="{now_x:.1}" y2="{:.1}" stroke="#868e96" stroke-dasharray="2 3"/>"##,
        TOP + PLOT_HEIGHT
    );
    time_labels(&mut svg, chart, &axis, TOP + PLOT_HEIGHT + 16.0);
    svg.push_str("</svg>");
    svg
}

/// Labels under a time axis: the series start, now, and the horizon end, relative to now.
fn time_labels(svg: &mut String, chart: &Chart, axis: &TimeAxis, at_y: f64) {
    let mut labels = vec![(chart.now_ms, "middle", "now".to_string())];
    if chart.now_ms > chart.start_ms {
        labels.push((
            chart.start_ms,
            "start",
            format!("-{}", duration(chart.now_ms - chart.start_ms)),
        ));
    }
    if chart.end_ms > chart.now_ms {
        labels.push((
            chart.end_ms,
            "end",
            format!("+{} (horizon end)", duration(chart.end_ms - chart.now_ms)),
        ));
    }
    for (at_ms, anchor, text) in labels {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{at_y:.1}" font-size="11" text-anchor="{anchor}" fill="#495057">{}</text>"##,
            axis.x(at_ms),
            escape(&text)
        );
    }
}

/// The levels from the series start to now, on the consumption chart's time axis.
pub fn levels(chart: &Chart) -> String {
    let axis = TimeAxis::of(chart);
    let height = 64.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="levels over time"><title>Enforcement levels over time</title>"#
    );
    for span in &chart.levels {
        let x = axis.x(span.from_ms);
        let width = (axis.x(span.to_ms) - x).max(1.0);
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="8" width="{width:.1}" height="24" fill="{}"><title>{} for {}</title></rect>"#,
            level_colour(span.level),
            span.level.as_str(),
            duration(span.to_ms - span.from_ms)
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="24" font-size="11" text-anchor="end" fill="#495057">level</text>"##,
        LEFT - 6.0
    );
    time_labels(&mut svg, chart, &axis, 48.0);
    svg.push_str("</svg>");
    svg
}

/// One stacked bar per account: the share of its time spent at each level.
pub fn level_times(rows: &[AccountRow]) -> String {
    let label_width = 150.0;
    let bar_width = WIDTH - label_width - RIGHT;
    let shown: Vec<&AccountRow> = rows
        .iter()
        .filter(|row| row.level_time_ms.iter().any(|ms| *ms > 0))
        .take(LEVEL_ROWS_MAX)
        .collect();
    let row_height = 22.0;
    let height = row_height * shown.len() as f64 + 30.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="time at each level per account"><title>Share of time at each level, per account</title>"#
    );
    for (idx, row) in shown.iter().enumerate() {
        let top = 4.0 + row_height * idx as f64;
        let total: u64 = row.level_time_ms.iter().sum();
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#212529">{}</text>"##,
            label_width - 8.0,
            top + 13.0,
            escape(row.label())
        );
        let mut x = label_width;
        for level in Level::ALL {
            let ms = row.level_time_ms[level as usize];
            if ms == 0 {
                continue;
            }
            let width = ms as f64 / total as f64 * bar_width;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{top:.1}" width="{width:.1}" height="16" fill="{}"><title>{}: {} at {}</title></rect>"#,
                level_colour(level),
                escape(row.label()),
                duration(ms),
                level.as_str()
            );
            x += width;
        }
    }
    let legend_y = height - 10.0;
    for (idx, level) in Level::ALL.iter().enumerate() {
        let x = label_width + idx as f64 * 90.0;
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{legend_y:.1}" font-size="11" fill="#495057">{}</text>"##,
            legend_y - 9.0,
            level_colour(*level),
            x + 14.0,
            level.as_str()
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_markup_and_attributes() {
        assert_eq!(
            escape(r#"<b class="x">Tom & Jerry's</b>"#),
            "&lt;b class=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/b&gt;"
        );
    }

    #[test]
    fn axis_steps_are_round() {
        for (top, step) in [
            (100.0, 25.0),
            (105_000.0, 50_000.0),
            (3.0, 1.0),
            (9_500.0, 2_500.0),
        ] {
            assert_eq!(nice_step(top, 4), step, "{top}");
        }
        assert_eq!(compact(125_000.0), "125k");
        assert_eq!(compact(1_240_000.0), "1.2M");
        assert_eq!(compact(950.0), "950");
    }
}
