//! The test's own account of the ledger, kept apart from it: usage and holds from the commands the
//! simulation sent and the answers it got, limits and the tree from the events. The checks of
//! invariants 1 to 3 compare the ledger with it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use purser_core::account::OptimizerPolicy;
use purser_core::event::{Event, ReallocationKind};
use purser_core::{AccountConfig, AccountId, DimId, Ledger};

/// The dimensions the simulation uses: `tokens` and `cost_micros` (well-known ids 0 and 1).
pub const DIMS: [DimId; 2] = [DimId(0), DimId(1)];
pub type Fig = [u64; 2];
const PPM: u128 = 1_000_000;

/// The part of `limit` a parent keeps back from its children.
pub fn reserve_of(limit: u64, reserve_ppm: u32) -> u64 {
    (u128::from(limit) * u128::from(reserve_ppm)).div_ceil(PPM) as u64
}

fn mul_ppm(value: u64, ppm: u32) -> u64 {
    (u128::from(value) * u128::from(ppm) / PPM) as u64
}

pub struct Acc {
    pub path: String,
    pub parent: Option<usize>,
    pub closed: bool,
    pub reserve_ppm: u32,
    pub stop_ppm: u32,
    /// How the optimizer treats this account's children.
    pub policy: OptimizerPolicy,
    pub limit: [Option<u64>; 2],
    /// Charged to this account itself, and held on it by open holds.
    pub direct: Fig,
    pub held: Fig,
    /// The same over the subtree (kept incrementally, recomputed by `check_all`).
    pub sub_consumed: Fig,
    pub sub_reserved: Fig,
    /// Every child ever opened, closed ones included.
    pub children: Vec<usize>,
    pub open_holds: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HoldState {
    Open,
    Expired,
    Done,
}

pub struct Hold {
    pub account: usize,
    pub amount: Fig,
    pub expires_ms: u64,
    pub state: HoldState,
}

/// Limits and open flags as the optimizer saw them when it planned (the start of a tick).
#[derive(Default)]
pub struct PlanView {
    limits: Vec<[Option<u64>; 2]>,
    closed: Vec<bool>,
}

#[derive(Default)]
pub struct Model {
    pub accounts: Vec<Acc>,
    by_path: HashMap<String, usize>,
    pub holds: BTreeMap<u64, Hold>,
    expiry: BTreeSet<(u64, u64)>,
    default_policy: OptimizerPolicy,
    pub grants: u64,
    pub reclaims: u64,
    /// Reclaims the fairness floor held up, and ones that what the child used held up.
    pub reclaims_at_floor: u64,
    pub reclaims_at_used: u64,
}

impl Model {
    pub fn new(default_policy: OptimizerPolicy) -> Model {
        Model {
            default_policy,
            ..Model::default()
        }
    }

    pub fn lookup(&self, path: &str) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    pub fn open_children(&self, id: usize) -> impl Iterator<Item = usize> + '_ {
        self.accounts[id]
            .children
            .iter()
            .copied()
            .filter(|child| !self.accounts[*child].closed)
    }

    pub fn children_limits(&self, id: usize, d: usize) -> u64 {
        self.open_children(id)
            .filter_map(|child| self.accounts[child].limit[d])
            .sum()
    }

    /// What a child of `parent` may have in `d` with `own` (its present limit) given back: the
    /// pool beyond the reserve, as the ledger computes it; `None` when `parent` does not limit `d`.
    pub fn room(&self, parent: usize, d: usize, own: u64) -> Option<u64> {
        let limit = self.accounts[parent].limit[d]?;
        let taken = self.children_limits(parent, d) - own;
        let reserve = reserve_of(limit, self.accounts[parent].reserve_ppm);
        Some(limit.saturating_sub(taken).saturating_sub(reserve))
    }

    /// What `id` may have in `d` (`None`: no limit above it in `d`).
    pub fn room_for(&self, id: usize, d: usize) -> Option<u64> {
        let own = self.accounts[id].limit[d].unwrap_or(0);
        self.room(self.accounts[id].parent?, d, own)
    }

    fn path_ids(&self, id: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(id), |id| self.accounts[*id].parent)
    }

    pub fn used(&self, id: usize, d: usize) -> u64 {
        self.accounts[id].sub_consumed[d] + self.accounts[id].sub_reserved[d]
    }

    pub fn charge(&mut self, id: usize, amount: Fig) {
        shift(&mut self.accounts[id].direct, amount, true);
        let path: Vec<usize> = self.path_ids(id).collect();
        for at in path {
            shift(&mut self.accounts[at].sub_consumed, amount, true);
        }
    }

    pub fn hold(&mut self, reservation: u64, id: usize, amount: Fig, expires_ms: u64) {
        let hold = Hold {
            account: id,
            amount,
            expires_ms,
            state: HoldState::Open,
        };
        assert!(self.holds.insert(reservation, hold).is_none());
        self.expiry.insert((expires_ms, reservation));
        self.accounts[id].open_holds += 1;
        self.shift_held(id, amount, true);
    }

    fn shift_held(&mut self, id: usize, amount: Fig, add: bool) {
        shift(&mut self.accounts[id].held, amount, add);
        let path: Vec<usize> = self.path_ids(id).collect();
        for at in path {
            shift(&mut self.accounts[at].sub_reserved, amount, add);
        }
    }

    /// Ends a hold (settled, voided or expired); an open one stops holding.
    pub fn release(&mut self, reservation: u64, state: HoldState) {
        let hold = self.holds.get_mut(&reservation).expect("known hold");
        let was = hold.state;
        hold.state = state;
        let (id, amount, expires_ms) = (hold.account, hold.amount, hold.expires_ms);
        if was == HoldState::Open {
            self.expiry.remove(&(expires_ms, reservation));
            self.accounts[id].open_holds -= 1;
            self.shift_held(id, amount, false);
        }
    }

    /// The model's own clock: every open hold whose time has come is released. Answers how many.
    pub fn expire_due(&mut self, now_ms: u64) -> usize {
        let due: Vec<u64> = self
            .expiry
            .iter()
            .take_while(|(expires_ms, _)| *expires_ms <= now_ms)
            .map(|(_, id)| *id)
            .collect();
        for id in &due {
            self.release(*id, HoldState::Expired);
        }
        due.len()
    }

    /// True when `id` and every ancestor stay strictly below their stop threshold with `extra`
    /// more used; else the first account on the path that would reach it, with the dimension.
    pub fn below_stop(&self, id: usize, extra: Fig) -> Result<(), (usize, usize)> {
        for at in self.path_ids(id) {
            let acc = &self.accounts[at];
            for (d, more) in extra.iter().enumerate() {
                let Some(limit) = acc.limit[d] else { continue };
                let used = u128::from(self.used(at, d) + more);
                if used * PPM >= u128::from(acc.stop_ppm) * u128::from(limit) {
                    return Err((at, d));
                }
            }
        }
        Ok(())
    }

    pub fn plan_view(&self) -> PlanView {
        PlanView {
            limits: self.accounts.iter().map(|acc| acc.limit).collect(),
            closed: self.accounts.iter().map(|acc| acc.closed).collect(),
        }
    }

    /// Folds the tree and limits of an event, checking invariants 2 and 3 on the optimizer's moves.
    pub fn apply_event(&mut self, event: &Event, plan: &PlanView) -> Result<(), String> {
        match event {
            Event::AccountOpened {
                path,
                config,
                limits,
                ..
            } => {
                let id = self.accounts.len();
                let parent = path.parent().map(|parent| {
                    self.lookup(parent.as_str())
                        .expect("the parent is opened first")
                });
                self.accounts.push(Acc {
                    path: path.to_string(),
                    parent,
                    closed: false,
                    reserve_ppm: 0,
                    stop_ppm: 0,
                    policy: self.default_policy,
                    limit: [None; 2],
                    direct: [0; 2],
                    held: [0; 2],
                    sub_consumed: [0; 2],
                    sub_reserved: [0; 2],
                    children: Vec::new(),
                    open_holds: 0,
                });
                if let Some(parent) = parent {
                    self.accounts[parent].children.push(id);
                }
                self.by_path.insert(path.to_string(), id);
                self.configure(id, config);
                self.set_limits(id, limits.iter(), "an account opened")?;
            }
            Event::AccountUpdated {
                account,
                config,
                limits,
                ..
            } => {
                let id = account.0 as usize;
                self.configure(id, config);
                self.set_limits(id, limits.iter(), "an operator's raise or an allocation")?;
            }
            Event::AccountClosed { account, .. } => {
                let id = account.0 as usize;
                if self.accounts[id].open_holds > 0 {
                    return Err(format!("{} closed with open holds", self.accounts[id].path));
                }
                self.accounts[id].closed = true;
                let path = self.accounts[id].path.clone();
                self.by_path.remove(&path);
            }
            Event::Reallocated {
                account,
                dimension,
                from,
                to,
                kind,
                ..
            } => {
                let id = account.0 as usize;
                let d = dim_index(*dimension)?;
                let acc = &self.accounts[id];
                let parent = acc.parent.ok_or("a root was reallocated")?;
                if acc.limit[d] != Some(*from) {
                    return Err(format!(
                        "{} moved from {from}, its limit is {:?}",
                        acc.path, acc.limit[d]
                    ));
                }
                match kind {
                    ReallocationKind::Grant => {
                        self.grants += 1;
                        // The monopoly cap, where the parent's policy sets one.
                        let cap = self.accounts[parent]
                            .policy
                            .max_share_ppm
                            .and_then(|share| {
                                plan.limits[parent][d].map(|limit| mul_ppm(limit, share))
                            });
                        if cap.is_some_and(|cap| *to > cap) {
                            return Err(format!("a grant to {} passes the cap {cap:?}", acc.path));
                        }
                        // Invariant 2: the pool keeps the reserve after every grant.
                        self.set_limits(id, [(*dimension, *to)].into_iter(), "a grant")?;
                    }
                    ReallocationKind::Reclaim => {
                        self.reclaims += 1;
                        self.check_reclaim(id, parent, d, *to, plan)?;
                        self.set_limits(id, [(*dimension, *to)].into_iter(), "a reclaim")?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn configure(&mut self, id: usize, config: &AccountConfig) {
        let acc = &mut self.accounts[id];
        acc.reserve_ppm = config.reserve_ppm;
        acc.stop_ppm = config.thresholds.stop_ppm;
        acc.policy = config.optimizer.unwrap_or(self.default_policy);
    }

    /// Sets limits; where one grows, the parent's pool must still hold its reserve (invariant 2,
    /// for the optimizer's grants as for operators' raises and allocations).
    fn set_limits(
        &mut self,
        id: usize,
        limits: impl Iterator<Item = (DimId, u64)>,
        what: &str,
    ) -> Result<(), String> {
        for (dim, limit) in limits {
            let d = dim_index(dim)?;
            let old = self.accounts[id].limit[d].replace(limit);
            if let Some(parent) = self.accounts[id].parent
                && limit > old.unwrap_or(0)
            {
                self.check_reserve(parent, d, what)?;
            }
        }
        Ok(())
    }

    /// Invariant 2: the parent's limit less its children's still holds its reserve.
    fn check_reserve(&self, parent: usize, d: usize, what: &str) -> Result<(), String> {
        let acc = &self.accounts[parent];
        let Some(limit) = acc.limit[d] else {
            return Ok(());
        };
        let children = self.children_limits(parent, d);
        let reserve = reserve_of(limit, acc.reserve_ppm);
        if children > limit || limit - children < reserve {
            return Err(format!(
                "after {what}, {} dim {d}: limit {limit}, children hold {children}, reserve \
                 {reserve}",
                acc.path
            ));
        }
        Ok(())
    }

    /// Invariant 3: a reclaim keeps the child at or above the fairness floor (`min_share` of an
    /// equal split of the parent's limit less its reserve, as planned) and at or above its use.
    fn check_reclaim(
        &mut self,
        id: usize,
        parent: usize,
        d: usize,
        to: u64,
        plan: &PlanView,
    ) -> Result<(), String> {
        let acc = &self.accounts[id];
        let parent_limit = plan.limits[parent][d].ok_or("a reclaim under an unlimited parent")?;
        let n = self.accounts[parent]
            .children
            .iter()
            .filter(|child| !plan.closed[**child] && plan.limits[**child][d].is_some())
            .count() as u64;
        let reserve = reserve_of(parent_limit, self.accounts[parent].reserve_ppm);
        let min_share_ppm = self.accounts[parent].policy.min_share_ppm;
        let floor = mul_ppm((parent_limit - reserve) / n.max(1), min_share_ppm);
        let used = self.used(id, d);
        let from = acc.limit[d].unwrap_or(0);
        if to >= from || to < floor || to < used || acc.open_holds > 0 {
            return Err(format!(
                "reclaim of {} dim {d} from {from} to {to}: floor {floor} ({n} children of {} \
                 at {parent_limit}), used {used}, open holds {}",
                acc.path, self.accounts[parent].path, acc.open_holds
            ));
        }
        self.reclaims_at_floor += u64::from(to == floor);
        self.reclaims_at_used += u64::from(to == used);
        Ok(())
    }

    /// Invariant 1 on the path of `id`: consumed and reserved are the model's, level by level.
    pub fn check_path(&self, ledger: &Ledger, id: usize) -> Result<(), String> {
        for at in self.path_ids(id) {
            self.check_figures(ledger, at)?;
        }
        Ok(())
    }

    fn check_figures(&self, ledger: &Ledger, id: usize) -> Result<(), String> {
        let acc = ledger.account(AccountId(id as u32));
        let mine = &self.accounts[id];
        for (d, dim) in DIMS.iter().enumerate() {
            let (consumed, reserved) = acc.slot(*dim).map_or((0, 0), |s| (s.consumed, s.reserved));
            if (consumed, reserved) != (mine.sub_consumed[d], mine.sub_reserved[d]) {
                return Err(format!(
                    "{} dim {d}: the ledger has consumed {consumed} reserved {reserved}, the \
                     model {} and {}",
                    mine.path, mine.sub_consumed[d], mine.sub_reserved[d]
                ));
            }
        }
        Ok(())
    }

    /// Every invariant over every account: figures (1), the model's sums recomputed from scratch,
    /// the limits, the children's sum within the parent's limit and its reserve kept (2).
    pub fn check_all(&self, ledger: &Ledger) -> Result<(), String> {
        let n = self.accounts.len();
        if ledger.n_accounts() != self.by_path.len() {
            return Err(format!(
                "the ledger has {} open accounts, the model {}",
                ledger.n_accounts(),
                self.by_path.len()
            ));
        }
        // Children are opened after their parents, so a reverse pass sums bottom-up.
        let mut consumed: Vec<Fig> = self.accounts.iter().map(|acc| acc.direct).collect();
        let mut reserved: Vec<Fig> = self.accounts.iter().map(|acc| acc.held).collect();
        let mut children_limits: Vec<Fig> = vec![[0; 2]; n];
        let mut open_children: Vec<usize> = vec![0; n];
        for id in (0..n).rev() {
            let acc = &self.accounts[id];
            if (consumed[id], reserved[id]) != (acc.sub_consumed, acc.sub_reserved) {
                return Err(format!("the model's running sums of {} drifted", acc.path));
            }
            let Some(parent) = acc.parent else { continue };
            for d in 0..2 {
                consumed[parent][d] += consumed[id][d];
                reserved[parent][d] += reserved[id][d];
                if !acc.closed {
                    children_limits[parent][d] += acc.limit[d].unwrap_or(0);
                }
            }
            open_children[parent] += usize::from(!acc.closed);
        }
        for id in 0..n {
            self.check_figures(ledger, id)?;
            let mine = &self.accounts[id];
            let acc = ledger.account(AccountId(id as u32));
            if acc.closed != mine.closed {
                return Err(format!(
                    "{}: closed {} in the ledger",
                    mine.path, acc.closed
                ));
            }
            if mine.closed {
                continue;
            }
            if acc.children.len() != open_children[id] {
                return Err(format!("{}: children differ", mine.path));
            }
            for (d, dim) in DIMS.iter().enumerate() {
                let slot = acc.slot(*dim);
                let limit = slot.and_then(|s| s.limit);
                let held_below = slot.map_or(0, |s| s.children_limits);
                if limit != mine.limit[d] || held_below != children_limits[id][d] {
                    return Err(format!(
                        "{} dim {d}: the ledger has limit {limit:?} and children's {held_below}, \
                         the model {:?} and {}",
                        mine.path, mine.limit[d], children_limits[id][d]
                    ));
                }
                if let Some(limit) = limit
                    && open_children[id] > 0
                    && limit.saturating_sub(held_below) < reserve_of(limit, mine.reserve_ppm)
                {
                    return Err(format!(
                        "{} dim {d}: limit {limit}, children hold {held_below}: the reserve is \
                         handed out",
                        mine.path
                    ));
                }
            }
        }
        Ok(())
    }
}

fn shift(figures: &mut Fig, amount: Fig, add: bool) {
    for (figure, value) in figures.iter_mut().zip(amount) {
        *figure = if add {
            *figure + value
        } else {
            *figure - value
        };
    }
}

pub fn dim_index(dim: DimId) -> Result<usize, String> {
    DIMS.iter()
        .position(|known| *known == dim)
        .ok_or_else(|| format!("unexpected dimension {dim:?}"))
}
