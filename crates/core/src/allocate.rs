//! Allocation strategies: how a parent's budget is split among its children.
//!
//! Each strategy yields, per dimension, a share of the total for every child; the fairness floor
//! and the monopoly cap are then applied to the shares, and the shares become whole amounts by the
//! largest-remainder method, so that the amounts never add up to more than the total.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// The same share for everyone.
    Equal,
    /// Shares by weight.
    Proportional,
    /// Shares by weight times 2^priority: each priority class counts double the one below it.
    Priority,
    /// A small start (`initial_share` of an equal share); the rest stays in the pool for grants.
    Pool,
    /// Max-min fairness on dominant shares (weighted), up to each child's demand.
    FairShare,
}

impl Strategy {
    pub fn parse(text: &str) -> Option<Strategy> {
        Some(match text {
            "equal" => Strategy::Equal,
            "proportional" => Strategy::Proportional,
            "priority" => Strategy::Priority,
            "pool" => Strategy::Pool,
            "fair_share" => Strategy::FairShare,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Equal => "equal",
            Strategy::Proportional => "proportional",
            Strategy::Priority => "priority",
            Strategy::Pool => "pool",
            Strategy::FairShare => "fair_share",
        }
    }
}

/// What a strategy knows of one child.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildClaim {
    pub weight: f64,
    pub priority: i32,
    /// Per dimension of the totals, what the child asks for; `None` is "as much as it can get".
    pub demand: Vec<Option<u64>>,
}

/// The fairness bounds, as fractions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shares {
    /// Each child gets at least this fraction of an equal share.
    pub min_share: f64,
    /// No child gets more than this fraction of the total.
    pub max_share: Option<f64>,
    /// For the pool strategy: the fraction of an equal share each child starts with.
    pub initial_share: f64,
}

impl Default for Shares {
    fn default() -> Self {
        Shares {
            min_share: 0.05,
            max_share: None,
            initial_share: 0.25,
        }
    }
}

/// Splits `totals` (one entry per dimension) among `children`: the answer is indexed
/// `[child][dimension]`, and for every dimension its sum is at most the total.
pub fn allocate(
    strategy: Strategy,
    totals: &[u64],
    children: &[ChildClaim],
    shares: Shares,
) -> Vec<Vec<u64>> {
    let n_children = children.len();
    let mut amounts = vec![vec![0u64; totals.len()]; n_children];
    if n_children == 0 {
        return amounts;
    }
    let fair_fractions = match strategy {
        Strategy::FairShare => Some(fair_share_fractions(totals, children)),
        _ => None,
    };
    for (dim_idx, total) in totals.iter().enumerate() {
        let mut fractions = match &fair_fractions {
            Some(per_child) => per_child.iter().map(|child| child[dim_idx]).collect(),
            None => strategy_fractions(strategy, children, shares),
        };
        apply_cap(&mut fractions, shares.max_share);
        apply_floor(&mut fractions, shares.min_share / n_children as f64);
        let column = apportion(*total, &fractions);
        for (child_idx, amount) in column.into_iter().enumerate() {
            amounts[child_idx][dim_idx] = amount;
        }
    }
    amounts
}

fn strategy_fractions(strategy: Strategy, children: &[ChildClaim], shares: Shares) -> Vec<f64> {
    let n_children = children.len() as f64;
    let weights: Vec<f64> = match strategy {
        Strategy::Equal | Strategy::Pool | Strategy::FairShare => vec![1.0; children.len()],
        Strategy::Proportional => children.iter().map(|child| child.weight).collect(),
        Strategy::Priority => children
            .iter()
            .map(|child| child.weight * 2f64.powi(child.priority))
            .collect(),
    };
    let sum: f64 = weights.iter().sum();
    let scale = if strategy == Strategy::Pool {
        shares.initial_share.min(1.0)
    } else {
        1.0
    };
    if sum <= 0.0 {
        return vec![scale / n_children; children.len()];
    }
    weights.iter().map(|weight| scale * weight / sum).collect()
}

/// Weighted max-min fairness on dominant shares (DRF by progressive filling): every child gets
/// the same dominant share divided by its weight, until its demand is met or a dimension runs out.
fn fair_share_fractions(totals: &[u64], children: &[ChildClaim]) -> Vec<Vec<f64>> {
    // Demands as fractions of each total; "as much as it can get" is the whole total.
    let demand_fractions: Vec<Vec<f64>> = children
        .iter()
        .map(|child| {
            totals
                .iter()
                .enumerate()
                .map(
                    |(dim_idx, total)| match child.demand.get(dim_idx).copied().flatten() {
                        Some(demand) if *total > 0 => (demand as f64 / *total as f64).min(1.0),
                        Some(_) => 0.0,
                        None => 1.0,
                    },
                )
                .collect()
        })
        .collect();
    let dominant: Vec<f64> = demand_fractions
        .iter()
        .map(|row| row.iter().cloned().fold(0.0, f64::max))
        .collect();
    let filled = |level: f64| -> Vec<f64> {
        children
            .iter()
            .zip(&dominant)
            .map(|(child, dom)| {
                if *dom <= 0.0 {
                    0.0
                } else {
                    (level * child.weight.max(0.0) / dom).min(1.0)
                }
            })
            .collect()
    };
    let fits = |progress: &[f64]| -> bool {
        (0..totals.len()).all(|dim_idx| {
            let used: f64 = progress
                .iter()
                .zip(&demand_fractions)
                .map(|(x, row)| x * row[dim_idx])
                .sum();
            used <= 1.0 + 1e-12
        })
    };
    // Binary search on the common level; 64 halvings reach the limit of f64.
    let (mut low, mut high) = (0.0f64, 1.0f64);
    let weight_min = children
        .iter()
        .map(|c| c.weight)
        .filter(|w| *w > 0.0)
        .fold(f64::INFINITY, f64::min);
    if weight_min.is_finite() {
        high = 1.0 / weight_min;
    }
    for _ in 0..64 {
        let mid = (low + high) / 2.0;
        if fits(&filled(mid)) {
            low = mid;
        } else {
            high = mid;
        }
    }
    let progress = filled(low);
    progress
        .iter()
        .zip(&demand_fractions)
        .map(|(x, row)| row.iter().map(|d| x * d).collect())
        .collect()
}

/// Clamps shares to the cap and hands the excess to those below it, in proportion.
fn apply_cap(fractions: &mut [f64], max_share: Option<f64>) {
    let Some(cap) = max_share else { return };
    for _ in 0..fractions.len() {
        let excess: f64 = fractions.iter().map(|f| (f - cap).max(0.0)).sum();
        if excess <= 1e-15 {
            break;
        }
        let open: f64 = fractions.iter().filter(|f| **f < cap).sum();
        for fraction in fractions.iter_mut() {
            if *fraction > cap {
                *fraction = cap;
            } else if open > 0.0 {
                *fraction += excess * *fraction / open;
            }
        }
        if open <= 0.0 {
            break;
        }
    }
    for fraction in fractions.iter_mut() {
        *fraction = fraction.min(cap);
    }
}

/// Raises shares to the floor, taking the difference from those above it, in proportion to how
/// far above it they are.
fn apply_floor(fractions: &mut [f64], floor: f64) {
    let deficit: f64 = fractions.iter().map(|f| (floor - f).max(0.0)).sum();
    if deficit <= 0.0 {
        return;
    }
    let surplus: f64 = fractions.iter().map(|f| (f - floor).max(0.0)).sum();
    let take = if surplus > 0.0 {
        (deficit / surplus).min(1.0)
    } else {
        0.0
    };
    for fraction in fractions.iter_mut() {
        if *fraction < floor {
            *fraction = floor;
        } else {
            *fraction -= (*fraction - floor) * take;
        }
    }
}

/// Whole amounts from shares by the largest-remainder method, in integer arithmetic so that the
/// sum is exact: it never exceeds the total, and equals it when the shares add up to one.
fn apportion(total: u64, fractions: &[f64]) -> Vec<u64> {
    const SCALE: u128 = 1 << 40;
    let parts: Vec<u128> = fractions
        .iter()
        .map(|f| (f.clamp(0.0, 1.0) * SCALE as f64).round() as u128)
        .collect();
    let parts_sum: u128 = parts.iter().sum();
    if parts_sum == 0 {
        return vec![0; fractions.len()];
    }
    // Rounded to the nearest unit, so shares that add up to one but for rounding hand out the
    // whole total; never more than the total.
    let target = ((u128::from(total) * parts_sum + SCALE / 2) / SCALE).min(u128::from(total));
    let mut amounts: Vec<u64> = parts
        .iter()
        .map(|p| (target * p / parts_sum) as u64)
        .collect();
    let given: u128 = amounts.iter().map(|a| u128::from(*a)).sum();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|idx| (std::cmp::Reverse(target * parts[*idx] % parts_sum), *idx));
    for idx in order.into_iter().take((target - given) as usize) {
        amounts[idx] += 1;
    }
    amounts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(weight: f64, priority: i32) -> ChildClaim {
        ChildClaim {
            weight,
            priority,
            demand: vec![None],
        }
    }

    fn check(
        strategy: Strategy,
        total: u64,
        children: &[ChildClaim],
        shares: Shares,
        expected: &[u64],
    ) {
        let got: Vec<u64> = allocate(strategy, &[total], children, shares)
            .into_iter()
            .map(|row| row[0])
            .collect();
        assert_eq!(got, expected, "{strategy:?} of {total}");
        assert!(got.iter().sum::<u64>() <= total);
    }

    #[test]
    fn strategies() {
        let three = [child(1.0, 0), child(1.0, 0), child(1.0, 0)];
        check(
            Strategy::Equal,
            300_000,
            &three,
            Shares::default(),
            &[100_000, 100_000, 100_000],
        );
        check(Strategy::Equal, 10, &three, Shares::default(), &[4, 3, 3]);
        let weighted = [child(1.5, 0), child(1.0, 0), child(1.0, 2)];
        check(
            Strategy::Proportional,
            350,
            &weighted,
            Shares::default(),
            &[150, 100, 100],
        );
        check(
            Strategy::Priority,
            650,
            &weighted,
            Shares::default(),
            &[150, 100, 400],
        );
        check(
            Strategy::Pool,
            1200,
            &three,
            Shares::default(),
            &[100, 100, 100],
        );
        check(
            Strategy::FairShare,
            300,
            &three,
            Shares::default(),
            &[100, 100, 100],
        );
    }

    #[test]
    fn floor_and_cap() {
        // Without a floor the light child would get 1 in 1000.
        let skewed = [child(998.0, 0), child(1.0, 0), child(1.0, 0)];
        let shares = Shares {
            min_share: 0.3,
            ..Shares::default()
        };
        let got = allocate(Strategy::Proportional, &[1000], &skewed, shares);
        assert!(got[1][0] >= 100 && got[2][0] >= 100, "{got:?}");
        assert_eq!(got.iter().map(|row| row[0]).sum::<u64>(), 1000);
        let capped = Shares {
            max_share: Some(0.5),
            ..Shares::default()
        };
        let got = allocate(Strategy::Proportional, &[1000], &skewed, capped);
        assert_eq!(got[0][0], 500);
        assert_eq!(got.iter().map(|row| row[0]).sum::<u64>(), 1000);
    }

    #[test]
    fn fair_share_meets_small_demands_first() {
        // Two dimensions; child 0 needs little, the others split what is left equally.
        let children = [
            ChildClaim {
                weight: 1.0,
                priority: 0,
                demand: vec![Some(100), Some(10)],
            },
            ChildClaim {
                weight: 1.0,
                priority: 0,
                demand: vec![None, None],
            },
            ChildClaim {
                weight: 1.0,
                priority: 0,
                demand: vec![None, None],
            },
        ];
        let got = allocate(
            Strategy::FairShare,
            &[900, 90],
            &children,
            Shares {
                min_share: 0.0,
                ..Shares::default()
            },
        );
        assert_eq!(got[0], vec![100, 10]);
        assert_eq!(got[1], vec![400, 40]);
        assert_eq!(got[2], vec![400, 40]);
    }

    #[test]
    fn amounts_never_exceed_the_total() {
        let children: Vec<ChildClaim> = (0..7)
            .map(|idx| child(1.0 + idx as f64 / 3.0, idx % 3))
            .collect();
        for strategy in [
            Strategy::Equal,
            Strategy::Proportional,
            Strategy::Priority,
            Strategy::Pool,
            Strategy::FairShare,
        ] {
            for total in [0, 1, 6, 7, 999, 1_000_003, u64::MAX / 4] {
                let got = allocate(
                    strategy,
                    &[total],
                    &children,
                    Shares {
                        max_share: Some(0.3),
                        ..Shares::default()
                    },
                );
                let sum: u128 = got.iter().map(|row| u128::from(row[0])).sum();
                assert!(sum <= u128::from(total), "{strategy:?} {total} {got:?}");
            }
        }
    }
}
