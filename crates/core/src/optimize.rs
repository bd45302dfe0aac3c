//! The optimizer: a pass that moves budget from idle children to their parent's pool and from
//! the pool to children forecast to run out. It decides only; the moves are applied as a
//! `Command::Reallocate`, so that every one is an event with its reason.
//!
//! The pass is a pure function of the ledger, the forecasts and the time: the same inputs give
//! the same moves, in the same order (accounts by id, children by name).

use crate::account::{AccountId, OptimizerPolicy};
use crate::amount::{DimId, group_digits};
use crate::command::Move;
use crate::event::ReallocationKind;
use crate::ledger::{Ledger, pool_beyond_reserve};
use crate::level::PPM;

/// What the optimizer needs of a forecast. Totals count what the limit counts: the current
/// period's consumption.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outlook {
    pub projected_total: u64,
    pub time_to_exhaustion_s: Option<u64>,
    pub method: &'static str,
    pub confidence: f64,
    /// How many backtested predictions the confidence rests on.
    pub n_backtests: u32,
    /// The low end of the forecast's 80% interval (calibrated on the backtest's own intervals):
    /// the total ends below it about one time in ten.
    pub interval_low: u64,
}

/// Most moves one pass decides; the rest wait for the next pass.
pub const MOVES_PER_PASS_MAX: usize = 10_000;

/// A grant smaller than this share of the child's limit (parts per million) is not made, unless
/// it covers all the child is forecast to need: as the pool drains, each pass may hand out only
/// half of what is left, and a tail of ever smaller grants would be noise in the audit log
/// without changing when anyone stops.
pub const GRANT_MIN_PPM: u32 = 10_000;

/// Decides the moves of one pass at `now_ms`. `outlook` forecasts a child's dimension;
/// `policy_of` gives a parent's policy (its own or the server's default).
pub fn plan_moves(
    ledger: &Ledger,
    now_ms: u64,
    default_policy: &OptimizerPolicy,
    outlook: &mut dyn FnMut(AccountId, DimId) -> Option<Outlook>,
) -> Vec<Move> {
    let mut moves = Vec::new();
    for parent in ledger.open_parents() {
        let parent_acc = ledger.account(parent);
        let policy = parent_acc.config.optimizer.unwrap_or(*default_policy);
        for slot in &parent_acc.slots {
            let Some(parent_limit) = slot.limit else {
                continue;
            };
            if moves.len() >= MOVES_PER_PASS_MAX {
                return moves;
            }
            plan_dimension(
                ledger,
                parent,
                slot.dim,
                parent_limit,
                now_ms,
                &policy,
                outlook,
                &mut moves,
            );
        }
    }
    moves
}

#[allow(clippy::too_many_arguments)]
fn plan_dimension(
    ledger: &Ledger,
    parent: AccountId,
    dim: DimId,
    parent_limit: u64,
    now_ms: u64,
    policy: &OptimizerPolicy,
    outlook: &mut dyn FnMut(AccountId, DimId) -> Option<Outlook>,
    moves: &mut Vec<Move>,
) {
    let parent_acc = ledger.account(parent);
    let children: Vec<(AccountId, u64)> = parent_acc
        .children
        .values()
        .filter_map(|child| {
            ledger
                .account(*child)
                .limit(dim)
                .map(|limit| (*child, limit))
        })
        .collect();
    if children.is_empty() {
        return;
    }
    let mut pass = DimensionPass {
        ledger,
        policy,
        dim,
        dim_name: ledger.dimensions().name(dim).to_string(),
        parent_path: parent_acc.path.as_str(),
        parent_limit,
        reserve_ppm: parent_acc.config.reserve_ppm,
        children_limits: parent_acc.slot(dim).map_or(0, |slot| slot.children_limits),
        children,
    };
    // Reclaims first: what idle leaves give back is what the grants can hand out.
    pass.reclaim(now_ms, moves);
    pass.grant(outlook, moves);
}

/// One dimension of one parent in a pass: its children with a limit in it, and the sum of the
/// children's limits as the moves change it.
struct DimensionPass<'a> {
    ledger: &'a Ledger,
    policy: &'a OptimizerPolicy,
    dim: DimId,
    dim_name: String,
    parent_path: &'a str,
    parent_limit: u64,
    reserve_ppm: u32,
    children: Vec<(AccountId, u64)>,
    children_limits: u64,
}

impl DimensionPass<'_> {
    /// Idle leaves give back a share of what they did not use, down to the fairness floor.
    fn reclaim(&mut self, now_ms: u64, moves: &mut Vec<Move>) {
        let (ledger, policy, dim) = (self.ledger, self.policy, self.dim);
        let handed_out =
            self.parent_limit - pool_beyond_reserve(self.parent_limit, 0, self.reserve_ppm);
        let equal_share = (self.parent_limit - handed_out) / self.children.len() as u64;
        let floor = mul_ppm(equal_share, policy.min_share_ppm);
        for &(child, limit) in &self.children {
            let acc = ledger.account(child);
            let Some(slot) = acc.slot(dim) else { continue };
            let used = slot.used();
            let last_activity = acc.last_activity_ms.unwrap_or(acc.opened_ms);
            let idle_ms = now_ms.saturating_sub(last_activity);
            let reclaimed_since = acc
                .last_reclaim_ms
                .is_some_and(|reclaimed| reclaimed >= last_activity);
            if !acc.children.is_empty()
                || acc.open_reservations > 0
                || reclaimed_since
                || idle_ms < policy.idle_after_ms
                || u128::from(used) * u128::from(PPM)
                    >= u128::from(limit) * u128::from(policy.idle_used_max_ppm)
            {
                continue;
            }
            let give_back = mul_ppm(limit - used.min(limit), policy.reclaim_share_ppm);
            let to = (limit - give_back).max(floor).max(used).min(limit);
            if to >= limit {
                continue;
            }
            self.children_limits -= limit - to;
            moves.push(Move {
                account: child,
                dimension: dim,
                from: limit,
                to,
                kind: ReallocationKind::Reclaim,
                reason: format!(
                    "{} idle {} s at {}%: reclaimed {} {} to {}",
                    acc.path.name(),
                    idle_ms / 1000,
                    percent(used, limit),
                    group_digits(limit - to),
                    self.dim_name,
                    self.parent_path
                ),
            });
        }
    }

    /// Grants to the children whose confident forecast passes their limit (confident: see
    /// `OptimizerPolicy::grant_confidence_ppm`).
    fn grant(
        &mut self,
        outlook: &mut dyn FnMut(AccountId, DimId) -> Option<Outlook>,
        moves: &mut Vec<Move>,
    ) {
        let (ledger, policy, dim) = (self.ledger, self.policy, self.dim);
        // Children above the grant line whose confident forecast passes their limit, most
        // urgent first, from what the pool holds beyond the reserve. A stopped child is left to its
        // operator: the optimizer acts before the stop, never lifts it.
        let mut wanting: Vec<(u64, AccountId, u64, u64, Outlook)> = Vec::new();
        for &(child, limit) in &self.children {
            let acc = ledger.account(child);
            let Some(slot) = acc.slot(dim) else { continue };
            let used = slot.used();
            if u128::from(used) * u128::from(PPM)
                <= u128::from(limit) * u128::from(policy.grant_above_ppm)
                || !acc.config.thresholds.below_stop(used, limit)
            {
                continue;
            }
            let Some(view) = outlook(child, dim) else {
                continue;
            };
            // The question is whether the child will pass its limit, not whether its total is
            // known within 10%: a forecast whose interval lies wholly above the limit answers it
            // as surely as a confident one (issue 17: an agent's hour is rarely known within 10%
            // a few minutes in, while its passing the limit often is).
            let sure_to_pass = view.confidence * 1e6 >= f64::from(policy.grant_confidence_ppm)
                || view.interval_low > limit;
            let confident = sure_to_pass && view.n_backtests >= policy.grant_backtests_min;
            if !confident || view.projected_total <= limit {
                continue;
            }
            let urgency = view.time_to_exhaustion_s.unwrap_or(u64::MAX);
            wanting.push((urgency, child, limit, used, view));
        }
        wanting.sort_by_key(|(urgency, child, ..)| (*urgency, *child));
        let mut pass_budget = mul_ppm(
            pool_beyond_reserve(self.parent_limit, self.children_limits, self.reserve_ppm),
            policy.grant_pass_share_ppm,
        );
        for (_, child, limit, used, view) in wanting {
            let mut available =
                pool_beyond_reserve(self.parent_limit, self.children_limits, self.reserve_ppm)
                    .min(pass_budget);
            if let Some(max_share) = policy.max_share_ppm {
                available =
                    available.min(mul_ppm(self.parent_limit, max_share).saturating_sub(limit));
            }
            let need = view
                .projected_total
                .saturating_sub(limit)
                .min(mul_ppm(limit, policy.grant_growth_max_ppm));
            let grant = need.min(available);
            if grant == 0 || (grant < need && grant < mul_ppm(limit, GRANT_MIN_PPM)) {
                continue;
            }
            self.children_limits += grant;
            pass_budget -= grant;
            let acc = ledger.account(child);
            let when = match view.time_to_exhaustion_s {
                Some(seconds) => format!("exhausting in {seconds} s"),
                None => "past its limit by the horizon".to_string(),
            };
            moves.push(Move {
                account: child,
                dimension: dim,
                from: limit,
                to: limit + grant,
                kind: ReallocationKind::Grant,
                reason: format!(
                    "{} at {}% {} ({} forecast {} {}, confidence {:.2} over {} backtests, 80% interval from {}): granted {} {} from {}",
                    acc.path.name(),
                    percent(used, limit),
                    when,
                    view.method,
                    group_digits(view.projected_total),
                    self.dim_name,
                    view.confidence,
                    view.n_backtests,
                    group_digits(view.interval_low),
                    group_digits(grant),
                    self.dim_name,
                    self.parent_path
                ),
            });
        }
    }
}

fn mul_ppm(value: u64, ppm: u32) -> u64 {
    (u128::from(value) * u128::from(ppm) / u128::from(PPM)) as u64
}

fn percent(used: u64, limit: u64) -> u64 {
    if limit == 0 {
        return 100;
    }
    (u128::from(used) * 100 / u128::from(limit)) as u64
}
