//! The report as Markdown: padded tables that read well in a terminal and render anywhere.

use std::fmt::Write;

use purser_core::level::Level;
use purser_core::report::{AccountRow, Report, Role};

use super::{digits, duration, percent};
use purser_engine::time::rfc3339;

/// Right-aligned (numbers) or left-aligned (names) columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table of plain text; each renderer escapes it its own way.
#[derive(Clone, Debug)]
pub struct Table {
    pub header: Vec<(&'static str, Align)>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[(&'static str, Align)]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    /// As Markdown, each column padded to its widest cell.
    fn write(&self, out: &mut String) {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(|cell| cell_text(cell)).collect())
            .collect();
        let widths: Vec<usize> = self
            .header
            .iter()
            .enumerate()
            .map(|(idx, (title, _))| {
                rows.iter()
                    .map(|row| row[idx].chars().count())
                    .chain([title.len(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = (&str, Align, usize)>| {
            out.push('|');
            for (cell, align, width) in cells {
                let pad = " ".repeat(width - cell.chars().count());
                match align {
                    Align::Left => {
                        let _ = write!(out, " {cell}{pad} |");
                    }
                    Align::Right => {
                        let _ = write!(out, " {pad}{cell} |");
                    }
                }
            }
            out.push('\n');
        };
        let aligns = self.header.iter().map(|(_, align)| *align);
        line(
            out,
            &mut self
                .header
                .iter()
                .zip(&widths)
                .map(|((title, align), width)| (*title, *align, *width)),
        );
        out.push('|');
        for (align, width) in aligns.clone().zip(&widths) {
            let dashes = "-".repeat(*width);
            match align {
                Align::Left => {
                    let _ = write!(out, " {dashes} |");
                }
                Align::Right => {
                    let _ = write!(out, " {}: |", &dashes[1..]);
                }
            }
        }
        out.push('\n');
        for row in &rows {
            line(
                out,
                &mut row
                    .iter()
                    .zip(aligns.clone())
                    .zip(&widths)
                    .map(|((cell, align), width)| (cell.as_str(), align, *width)),
            );
        }
    }
}

/// A cell holds one line, and a `|` would end it: user text (kinds) is made safe.
fn cell_text(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// One section of the report: a title, a paragraph, and a table or a numbered list.
#[derive(Clone, Debug)]
pub struct Section {
    pub title: &'static str,
    pub text: String,
    pub table: Option<Table>,
    pub items: Vec<String>,
}

impl Section {
    fn new(title: &'static str, text: impl Into<String>) -> Section {
        Section {
            title,
            text: text.into(),
            table: None,
            items: Vec::new(),
        }
    }

    /// With `table`, or with `empty` as its text when the table has no row.
    fn with_table(mut self, table: Table, empty: &str) -> Section {
        if table.rows.is_empty() {
            self.text = empty.to_string();
        } else {
            self.table = Some(table);
        }
        self
    }
}

const L: Align = Align::Left;
const R: Align = Align::Right;

/// The whole report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Budget report: {}\n", report.path);
    let _ = writeln!(out, "{}\n", cell_text(&summary(report)));
    for section in sections(report) {
        let _ = writeln!(out, "## {}\n", section.title);
        if !section.text.is_empty() {
            let _ = writeln!(out, "{}\n", section.text);
        }
        if let Some(table) = &section.table {
            table.write(&mut out);
            out.push('\n');
        }
        for (idx, item) in section.items.iter().enumerate() {
            let _ = writeln!(out, "{}. {}", idx + 1, cell_text(item));
        }
        if !section.items.is_empty() {
            out.push('\n');
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// The sections after the title, in order; the HTML page shows the same ones.
pub fn sections(report: &Report) -> Vec<Section> {
    let mut sections = vec![utilization(report), efficiency(report)];
    sections.extend(fairness_and_waste(report));
    sections.push(forecasts(report));
    sections.push(enforcement(report));
    sections.push(recommendations(report));
    sections.extend(machine_time(report));
    sections.extend(rules(report));
    sections
}

/// The budget rules in force on the accounts shown, and the requests for more made on them.
fn rules(report: &Report) -> [Section; 2] {
    let mut rules = Table::new(&[("Account", L), ("Rules", L), ("In force", L)]);
    for row in &report.rules {
        let mut phrases = row.rules.clone();
        if let Some(expires_ms) = row.expires_ms {
            phrases.push(format!("one-time budget, expires {}", rfc3339(expires_ms)));
        }
        rules.push(vec![
            row.path.to_string(),
            phrases.join("; "),
            row.halt.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let mut requests = Table::new(&[
        ("Request", L),
        ("Account", L),
        ("Amount", R),
        ("Reason", L),
        ("Asked", L),
        ("State", L),
        ("Note", L),
    ]);
    for row in &report.requests {
        let amount: Vec<String> = row
            .amount
            .iter()
            .map(|(name, value)| format!("{} {name}", digits(*value)))
            .collect();
        requests.push(vec![
            purser_core::ledger::request_name(row.id),
            row.path.to_string(),
            amount.join(", "),
            row.reason.to_string(),
            rfc3339(row.at_ms),
            row.state.to_string(),
            row.note.as_deref().unwrap_or("-").to_string(),
        ]);
    }
    [
        Section::new(
            "Budget rules",
            "Shadow mode, defaults for new children, one-time budgets, pause at stop and run \
             caps set on these accounts, and the caps in force now.",
        )
        .with_table(rules, "No account here has budget rules."),
        Section::new(
            "Increase requests",
            "Requests for more budget on these accounts, newest first; an approval comes out of \
             the parent's pool.",
        )
        .with_table(requests, "No increase was requested here."),
    ]
}

/// The DAGs charged to the account or below it, then their most expensive tasks.
fn machine_time(report: &Report) -> [Section; 2] {
    let mut dags = Table::new(&[
        ("DAG", L),
        ("Name", L),
        ("Account", L),
        ("State", L),
        ("Spent", R),
        ("Reserved", R),
        ("Projected", R),
    ]);
    let mut tasks = Table::new(&[
        ("Task", L),
        ("Name", L),
        ("Account", L),
        ("Attempts", R),
        ("Spent", R),
        ("Machine time", R),
    ]);
    for dag in &report.dags {
        dags.push(vec![
            format!("dag_{}", dag.id),
            dag.name.as_deref().unwrap_or("-").to_string(),
            dag.account.clone(),
            dag.state.to_string(),
            digits(dag.spent_micros),
            digits(dag.reserved_micros),
            digits(dag.projected_micros),
        ]);
        for task in &dag.tasks {
            tasks.push(vec![
                task.id.clone(),
                task.name.clone(),
                task.account.clone(),
                task.attempts.to_string(),
                digits(task.spent_micros),
                duration(task.time_ms),
            ]);
        }
    }
    [
        Section::new(
            "Machine time by DAG",
            "What the DAGs charged here cost in cost_micros: settled, held for the attempts \
             running now, and projected to finish.",
        )
        .with_table(dags, "No DAG is charged to this account or below it."),
        Section::new(
            "Most expensive tasks",
            "Per DAG, its tasks that cost most (at most 20 each).",
        )
        .with_table(tasks, "No task has cost anything yet."),
    ]
}

/// The line under the title: when, the kind, how many children.
pub fn summary(report: &Report) -> String {
    let n_open = count(report, Role::Child);
    let n_closed = count(report, Role::ClosedChild);
    let kind = report
        .kind
        .as_deref()
        .map_or(String::new(), |kind| format!("Kind: {kind}. "));
    let mut text = format!(
        "At {}. {kind}{} children: {n_open} open, {n_closed} closed.",
        rfc3339(report.at_ms),
        n_open + n_closed
    );
    if report.n_children_omitted > 0 {
        let _ = write!(
            text,
            " {} more children are left out of this report.",
            report.n_children_omitted
        );
    }
    text
}

fn count(report: &Report, role: Role) -> usize {
    report.rows.iter().filter(|row| row.role == role).count()
}

fn kind(row: &AccountRow) -> String {
    row.kind.as_deref().unwrap_or("-").to_string()
}

fn utilization(report: &Report) -> Section {
    let mut table = Table::new(&[
        ("Account", L),
        ("Role", L),
        ("Kind", L),
        ("Level", L),
        ("Dimension", L),
        ("Consumed", R),
        ("Reserved", R),
        ("Limit", R),
        ("Utilization", R),
        ("Waste", R),
    ]);
    for row in &report.rows {
        for dim in &row.dims {
            table.push(vec![
                row.label().to_string(),
                row.role.as_str().to_string(),
                kind(row),
                row.level.as_str().to_string(),
                dim.dimension.to_string(),
                digits(dim.consumed),
                digits(dim.reserved),
                digits(dim.limit),
                percent(dim.utilization),
                dim.waste.map_or("-".to_string(), digits),
            ]);
        }
    }
    Section::new(
        "Utilization",
        "Consumed in the current period against the limit, per limited dimension.",
    )
    .with_table(table, "No account here has a limit.")
}

fn efficiency(report: &Report) -> Section {
    let mut table = Table::new(&[
        ("Account", L),
        ("Work units", R),
        ("Per dollar", R),
        ("Per 1k tokens", R),
    ]);
    let ratio = |value: Option<f64>| value.map_or("-".to_string(), |value| format!("{value:.2}"));
    for row in &report.rows {
        table.push(vec![
            row.label().to_string(),
            digits(row.work_units),
            ratio(row.efficiency.work_units_per_dollar),
            ratio(row.efficiency.work_units_per_1k_tokens),
        ]);
    }
    Section::new(
        "Efficiency",
        "Work units per cost unit, over each account's life.",
    )
    .with_table(table, "")
}

fn fairness_and_waste(report: &Report) -> [Section; 2] {
    let mut fairness = Table::new(&[
        ("Dimension", L),
        ("Children", R),
        ("Jain's index", R),
        ("Lowest", R),
        ("Highest", R),
    ]);
    for figures in &report.fairness {
        fairness.push(vec![
            figures.dimension.to_string(),
            figures.n_children.to_string(),
            format!("{:.2}", figures.jain_index),
            percent(figures.utilization_min),
            percent(figures.utilization_max),
        ]);
    }
    let mut waste = Table::new(&[
        ("Dimension", L),
        ("Closed children", R),
        ("Unused", R),
        ("Of limits", R),
        ("Share", R),
    ]);
    for figures in &report.waste {
        let share = if figures.limits == 0 {
            0.0
        } else {
            figures.unused as f64 / figures.limits as f64
        };
        waste.push(vec![
            figures.dimension.to_string(),
            figures.n_closed.to_string(),
            digits(figures.unused),
            digits(figures.limits),
            percent(share),
        ]);
    }
    [
        Section::new(
            "Fairness",
            "Jain's index over the children's utilizations: 1.00 is perfectly even, 1/n is one \
             child using everything.",
        )
        .with_table(
            fairness,
            "Fewer than two children share a limited dimension.",
        ),
        Section::new("Waste", "Limits that closed children left unused.")
            .with_table(waste, "No closed child had a limit."),
    ]
}

fn forecasts(report: &Report) -> Section {
    let mut table = Table::new(&[
        ("Account", L),
        ("Dimension", L),
        ("Method", L),
        ("Projected", R),
        ("80% interval", R),
        ("Overage", R),
        ("Exhausts in", R),
        ("Confidence", R),
        ("Backtests", R),
    ]);
    let mut horizon_end_ms = None;
    for row in &report.rows {
        for dim in &row.dims {
            let Some(forecast) = &dim.forecast else {
                continue;
            };
            horizon_end_ms.get_or_insert(forecast.horizon_end_ms);
            let high = forecast.interval_high.map_or("?".to_string(), digits);
            table.push(vec![
                row.label().to_string(),
                dim.dimension.to_string(),
                forecast.method.to_string(),
                digits(forecast.projected_total),
                format!("{} - {high}", digits(forecast.interval_low)),
                digits(forecast.overage),
                match forecast.time_to_exhaustion_s {
                    None => "-".to_string(),
                    Some(0) => "exhausted".to_string(),
                    Some(seconds) => duration(seconds.saturating_mul(1000)),
                },
                format!("{:.2}", forecast.confidence),
                forecast.n_backtests.to_string(),
            ]);
        }
    }
    let text = horizon_end_ms.map_or(String::new(), |end_ms| {
        format!(
            "Projected totals at the horizon end ({}). Confidence is the share of the method's \
             backtested predictions that landed within 10%.",
            rfc3339(end_ms)
        )
    });
    Section::new("Forecasts", text).with_table(
        table,
        "No forecast yet: the open accounts have no consumption history.",
    )
}

fn enforcement(report: &Report) -> Section {
    let mut table = Table::new(&[
        ("Account", L),
        ("Now", L),
        ("Green", R),
        ("Yellow", R),
        ("Orange", R),
        ("Red", R),
        ("Black", R),
    ]);
    for row in &report.rows {
        let mut cells = vec![row.label().to_string(), row.level.as_str().to_string()];
        cells.extend(
            Level::ALL
                .iter()
                .map(|level| duration(row.level_time_ms[*level as usize])),
        );
        table.push(cells);
    }
    Section::new("Enforcement history", "Time spent at each level.").with_table(table, "")
}

fn recommendations(report: &Report) -> Section {
    let mut section = Section::new("Recommendations", "");
    section.items = report
        .recommendations
        .iter()
        .map(|recommendation| recommendation.text().to_string())
        .collect();
    if section.items.is_empty() {
        section.text = "None: no child used 90% of its limit while a sibling used 50% or less, \
                        and no confident forecast passes a limit."
            .to_string();
    }
    section
}
