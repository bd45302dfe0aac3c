//! Recommendations, each with the figures behind it: move allocation from siblings that used
//! little of their limits to siblings that used nearly all of theirs, and raise accounts that a
//! confident forecast sees past their limits.

use std::sync::Arc;

use super::{AccountRow, DimRow, Role, by_dimension};
use crate::amount::group_digits;
use crate::level::PPM;

/// A sibling at or above this share of its limit needs more...
pub const HIGH_UTILIZATION: f64 = 0.90;
/// ...and one at or below this share can give some of its limit.
pub const LOW_UTILIZATION: f64 = 0.50;
/// A move gives the high siblings at most what brings them to this share of their limits.
pub const MOVE_TARGET_PPM: u64 = 800_000;
/// A raise is recommended only on a forecast at least this confident.
pub const RAISE_CONFIDENCE_MIN: f64 = 0.85;
/// Accounts named in one sentence at most; the rest are counted.
const NAMES_MAX: usize = 4;

/// One account's use of one dimension, as a recommendation cites it.
#[derive(Clone, Debug, PartialEq)]
pub struct Utilization {
    /// A child's name, or the subject's path.
    pub name: String,
    pub limit: u64,
    pub used: u64,
    pub utilization: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Recommendation {
    /// Move part of the `from` siblings' allocation to the `to` siblings.
    Move {
        dimension: Arc<str>,
        /// The kind the siblings share, when they were compared within it.
        kind: Option<Arc<str>>,
        from: Vec<Utilization>,
        to: Vec<Utilization>,
        /// `amount` as a share of the `from` siblings' limits.
        share: f64,
        amount: u64,
        text: String,
    },
    /// Raise an account's limit by its forecast overage.
    Raise {
        account: String,
        dimension: Arc<str>,
        limit: u64,
        projected_total: u64,
        by: u64,
        method: &'static str,
        confidence: f64,
        n_backtests: u32,
        text: String,
    },
}

impl Recommendation {
    /// The sentence for people, with its figures.
    pub fn text(&self) -> &str {
        match self {
            Recommendation::Move { text, .. } | Recommendation::Raise { text, .. } => text,
        }
    }
}

type Member<'a> = (&'a AccountRow, &'a DimRow);

/// The recommendations over `rows` (the subject first, then its children): moves per
/// dimension among the children, then raises.
pub(super) fn recommend(rows: &[AccountRow]) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let children = rows.get(1..).unwrap_or(&[]);
    for (dimension, members) in by_dimension(children, |row, dim| Some((row, dim))) {
        moves_in_dimension(&dimension, &members, &mut out);
    }
    for row in rows.iter().filter(|row| row.role != Role::ClosedChild) {
        for dim in &row.dims {
            if let Some(raise) = raise(row, dim) {
                out.push(raise);
            }
        }
    }
    out
}

/// Siblings of one kind are compared first; those a kind could not pair are compared across
/// kinds.
fn moves_in_dimension(dimension: &Arc<str>, members: &[Member<'_>], out: &mut Vec<Recommendation>) {
    let mut kinds: Vec<Option<Arc<str>>> = Vec::new();
    for (row, _) in members {
        if !kinds.contains(&row.kind) {
            kinds.push(row.kind.clone());
        }
    }
    let (mut left_high, mut left_low) = (Vec::new(), Vec::new());
    for kind in kinds {
        let group = members.iter().filter(|(row, _)| row.kind == kind);
        let high: Vec<Member<'_>> = group
            .clone()
            .filter(|(_, dim)| dim.utilization >= HIGH_UTILIZATION)
            .copied()
            .collect();
        let low: Vec<Member<'_>> = group
            .filter(|(_, dim)| dim.utilization <= LOW_UTILIZATION)
            .copied()
            .collect();
        if kind.is_some() && !high.is_empty() && !low.is_empty() {
            out.extend(plan_move(dimension, kind, &high, &low));
        } else {
            left_high.extend(high);
            left_low.extend(low);
        }
    }
    if !left_high.is_empty() && !left_low.is_empty() {
        out.extend(plan_move(dimension, None, &left_high, &left_low));
    }
}

/// Half of what the low siblings left unused, but no more than brings the high ones to
/// [`MOVE_TARGET_PPM`] of their limits.
fn plan_move(
    dimension: &Arc<str>,
    kind: Option<Arc<str>>,
    high: &[Member<'_>],
    low: &[Member<'_>],
) -> Option<Recommendation> {
    let spare: u64 = low
        .iter()
        .map(|(_, dim)| dim.limit.saturating_sub(dim.consumed + dim.reserved) / 2)
        .sum();
    let need: u64 = high
        .iter()
        .map(|(_, dim)| {
            let at_target =
                (u128::from(dim.consumed) * u128::from(PPM)).div_ceil(u128::from(MOVE_TARGET_PPM));
            u64::try_from(at_target)
                .unwrap_or(u64::MAX)
                .saturating_sub(dim.limit)
        })
        .sum();
    let amount = spare.min(need);
    let low_limits: u64 = low.iter().map(|(_, dim)| dim.limit).sum();
    if amount == 0 || low_limits == 0 {
        return None;
    }
    let share = amount as f64 / low_limits as f64;
    let to: Vec<Utilization> = high.iter().map(utilization).collect();
    let from: Vec<Utilization> = low.iter().map(utilization).collect();
    let receivers = if to.len() == 1 {
        to[0].name.clone()
    } else {
        "them".to_string()
    };
    let (owner, allocations) = if from.len() == 1 {
        (format!("{}'s", from[0].name), "allocation")
    } else {
        ("their".to_string(), "allocations")
    };
    let bound = if amount == need {
        format!(
            "enough to bring {receivers} to {}%",
            MOVE_TARGET_PPM * 100 / PPM
        )
    } else if from.len() == 1 {
        "half of what it left unused".to_string()
    } else {
        "half of what they left unused".to_string()
    };
    let prefix = kind
        .as_ref()
        .map_or(String::new(), |kind| format!("among {kind} accounts, "));
    let limits = if to.len() == 1 { "its" } else { "their" };
    let plural = if to.len() == 1 { "limit" } else { "limits" };
    let text = format!(
        "{prefix}{} used {} of {limits} {dimension} {plural} while {} used {}: move {} of {owner} \
         {dimension} {allocations} ({} {dimension}) to {receivers}, {bound}",
        names(&to),
        percent_range(&to),
        names(&from),
        percent_range(&from),
        share_percent(share),
        group_digits(amount),
    );
    Some(Recommendation::Move {
        dimension: dimension.clone(),
        kind,
        from,
        to,
        share,
        amount,
        text,
    })
}

fn raise(row: &AccountRow, dim: &DimRow) -> Option<Recommendation> {
    let forecast = dim.forecast.as_ref()?;
    if forecast.overage == 0 || forecast.confidence < RAISE_CONFIDENCE_MIN {
        return None;
    }
    let dimension = &dim.dimension;
    let text = format!(
        "{} is forecast to reach {} {dimension} by the horizon end, {} over its limit of {} \
         ({}, confidence {:.2} over {} backtests): raise its {dimension} limit by {}",
        row.label(),
        group_digits(forecast.projected_total),
        group_digits(forecast.overage),
        group_digits(dim.limit),
        forecast.method,
        forecast.confidence,
        forecast.n_backtests,
        group_digits(forecast.overage),
    );
    Some(Recommendation::Raise {
        account: row.label().to_string(),
        dimension: dimension.clone(),
        limit: dim.limit,
        projected_total: forecast.projected_total,
        by: forecast.overage,
        method: forecast.method,
        confidence: forecast.confidence,
        n_backtests: forecast.n_backtests,
        text,
    })
}

fn utilization((row, dim): &Member<'_>) -> Utilization {
    Utilization {
        name: row.label().to_string(),
        limit: dim.limit,
        used: dim.consumed,
        utilization: dim.utilization,
    }
}

/// `a`, `a and b`, `a, b and c`, `a, b, c and 3 more`.
fn names(members: &[Utilization]) -> String {
    let shown: Vec<&str> = members
        .iter()
        .take(NAMES_MAX - 1)
        .map(|member| member.name.as_str())
        .collect();
    if members.len() > NAMES_MAX {
        return format!(
            "{} and {} more",
            shown.join(", "),
            members.len() - shown.len()
        );
    }
    let all: Vec<&str> = members.iter().map(|member| member.name.as_str()).collect();
    match all.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.to_string(),
        None => String::new(),
    }
}

/// `31%`, or `96-104%` over several accounts.
fn percent_range(members: &[Utilization]) -> String {
    let percents = members
        .iter()
        .map(|member| (member.utilization * 100.0).round() as u64);
    let low = percents.clone().min().unwrap_or(0);
    let high = percents.max().unwrap_or(0);
    if low == high {
        format!("{low}%")
    } else {
        format!("{low}-{high}%")
    }
}

fn share_percent(share: f64) -> String {
    let percent = share * 100.0;
    if percent < 1.0 {
        "less than 1%".to_string()
    } else {
        format!("{}%", percent.round() as u64)
    }
}
