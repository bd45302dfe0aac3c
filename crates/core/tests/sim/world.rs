//! The tree the simulation runs on (one org, a few teams, about forty workflows, the agents),
//! allocated by the ledger's strategies, and the operator: limit raises, agents closed when they
//! finish, new agents opened, and requests for accounts already closed.

use std::cmp::Reverse;

use purser_core::account::OptimizerPolicy;
use purser_core::{
    AccountConfig, AccountId, AccountPath, AccountSpec, AllocateRequest, Amounts, Answer,
    ChildRequest, Command, LedgerError, Strategy, Thresholds, UsageReport,
};

use super::agents::Agent;
use super::{OPERATOR, Sim};

/// Agents per workflow, workflows per team.
const AGENTS_PER_WORKFLOW: usize = 50;
const WORKFLOWS_PER_TEAM: usize = 10;
/// The org's tokens per agent; a token costs 1 to 20 micro-dollars, the org's cost limit is 9
/// per token, so that cost binds first where agents are dear.
const TOKENS_PER_AGENT: u64 = 120_000;
const COST_PER_TOKEN: u64 = 9;

/// Thresholds that leave green only at 90%.
const LATE_WARNINGS: Thresholds = Thresholds {
    warn_ppm: 900_000,
    throttle_ppm: 920_000,
    degrade_ppm: 935_000,
    stop_ppm: 950_000,
    margin_ppm: 10_000,
};

/// The optimizer's policy in a team's workflows: the default, a high fairness floor, reclaims of
/// all that is unused after a short idleness, and a monopoly cap.
fn policy(team: usize) -> Option<OptimizerPolicy> {
    let default = OptimizerPolicy::default();
    match team % 4 {
        0 => None,
        1 => Some(OptimizerPolicy {
            min_share_ppm: 300_000,
            reclaim_share_ppm: 800_000,
            ..default
        }),
        2 => Some(OptimizerPolicy {
            idle_after_ms: 30_000,
            reclaim_share_ppm: 1_000_000,
            min_share_ppm: 20_000,
            ..default
        }),
        _ => Some(OptimizerPolicy {
            grant_above_ppm: 700_000,
            max_share_ppm: Some(40_000),
            ..default
        }),
    }
}

fn path(text: &str) -> AccountPath {
    AccountPath::parse(text).expect("a valid path")
}

fn tokens(value: u64) -> Vec<(String, u64)> {
    vec![("tokens".to_string(), value)]
}

impl Sim {
    pub(super) fn build(&mut self) {
        let n_agents = self.cfg.agents.max(1);
        let n_workflows = (n_agents / AGENTS_PER_WORKFLOW).max(1);
        // At least four teams where there are four workflows: each team has its own policy.
        let n_teams = n_workflows
            .div_ceil(WORKFLOWS_PER_TEAM)
            .max(n_workflows.min(4));
        let org_tokens = n_agents as u64 * TOKENS_PER_AGENT;
        let spec = AccountSpec {
            limits: Some(vec![
                ("tokens".to_string(), org_tokens),
                ("cost_micros".to_string(), org_tokens * COST_PER_TOKEN),
            ]),
            ..AccountSpec::default()
        };
        let answer = self.apply(Command::UpsertAccount {
            path: path("org"),
            spec,
        });
        if !matches!(answer, Ok(Answer::Account { created: true, .. })) {
            self.fail(format!("opening the org answered {answer:?}"));
        }
        let teams: Vec<ChildRequest> = (0..n_teams)
            .map(|team| self.child(format!("t{team}"), 0))
            .collect();
        self.allocate("org", Strategy::Proportional, None, teams);
        for team in 0..n_teams {
            // Each team's workflows treat their agents by a policy of their own.
            self.ledger.set_defaults(AccountConfig {
                optimizer: policy(team),
                ..AccountConfig::default()
            });
            let strategy = self.rng.pick(&[
                Strategy::Equal,
                Strategy::Proportional,
                Strategy::Priority,
                Strategy::FairShare,
            ]);
            let demand = org_tokens / n_workflows as u64;
            let workflows: Vec<ChildRequest> = (0..n_workflows)
                .filter(|workflow| workflow % n_teams == team)
                .map(|workflow| self.child(format!("w{workflow:02}"), demand))
                .collect();
            self.allocate(&format!("org/t{team}"), strategy, None, workflows);
        }
        self.ledger.set_defaults(AccountConfig::default());
        for workflow in 0..n_workflows {
            let parent = format!("org/t{}/w{workflow:02}", workflow % n_teams);
            let first = workflow * n_agents / n_workflows;
            let last = (workflow + 1) * n_agents / n_workflows;
            let strategy = self.rng.pick(&[
                Strategy::Equal,
                Strategy::Proportional,
                Strategy::Priority,
                Strategy::Pool,
                Strategy::FairShare,
            ]);
            let wf = self.model.lookup(&parent).expect("opened");
            self.workflows.push(wf);
            let total = self.model.room(wf, 0, 0).expect("a limited workflow");
            let share = total / (last - first) as u64;
            let agents: Vec<ChildRequest> = (first..last)
                .map(|agent| self.child(format!("a{agent:04}"), share))
                .collect();
            // A third of the workflows warn their agents only at 90%: the forecast alerts are
            // then their only early warning.
            let thresholds = if workflow % 3 == 1 {
                LATE_WARNINGS
            } else {
                Thresholds::default()
            };
            self.ledger.set_defaults(AccountConfig {
                thresholds,
                ..AccountConfig::default()
            });
            let allocations = self.allocate(&parent, strategy, Some(total), agents);
            self.ledger.set_defaults(AccountConfig::default());
            for (account, limits) in allocations {
                // Agents spend at a pace sized for an equal share, whatever they were given.
                let limit = limits.get(super::model::DIMS[0]).unwrap_or(0).max(share);
                self.add_agent(account.0 as usize, limit);
            }
        }
        self.queue.push(Reverse((
            self.now_ms + self.rng.range(2_000, 10_000),
            OPERATOR,
        )));
    }

    fn child(&mut self, name: String, demand: u64) -> ChildRequest {
        ChildRequest {
            name,
            weight: Some(self.rng.float(0.5, 2.0)),
            priority: Some(self.rng.range(0, 4) as i32 - 2),
            demand: (demand > 0).then(|| tokens(demand * self.rng.range(50, 150) / 100)),
        }
    }

    fn allocate(
        &mut self,
        parent: &str,
        strategy: Strategy,
        total: Option<u64>,
        children: Vec<ChildRequest>,
    ) -> Vec<(AccountId, Amounts)> {
        let request = AllocateRequest {
            strategy,
            total: total.map(tokens),
            children,
            min_share: None,
            max_share: None,
            initial_share: None,
        };
        match self.apply(Command::Allocate {
            path: path(parent),
            request,
        }) {
            Ok(Answer::Allocated { allocations, .. }) => allocations,
            answer => self.fail(format!(
                "allocating {parent} ({strategy:?}) answered {answer:?}"
            )),
        }
    }

    fn add_agent(&mut self, id: usize, limit: u64) {
        let account_path = path(&self.model.accounts[id].path);
        let rate = limit / self.rng.range(300, 1_500);
        let agent = Agent::new(id, account_path, rate, &mut self.rng, self.now_ms);
        let first_ms = self.now_ms + self.rng.range(1, 10_000);
        self.queue.push(Reverse((first_ms, self.agents.len())));
        self.agents.push(agent);
    }

    /// One operator action.
    pub(super) fn operate(&mut self) {
        match self.rng.below(100) {
            0..45 => self.raise(),
            45..70 => self.close_finished(),
            70..90 => self.spawn(),
            _ => self.report_to_closed(),
        }
    }

    fn random_agent(&mut self, wanted: impl Fn(&Agent) -> bool) -> Option<usize> {
        (0..20)
            .map(|_| self.rng.below(self.agents.len() as u64) as usize)
            .find(|idx| wanted(&self.agents[*idx]))
    }

    /// An operator raises a limit, most often of an agent that was stopped. Half the time the
    /// operator first raises the ancestors whose pools are short; else the raise may be refused.
    fn raise(&mut self) {
        let workflow = self.rng.pick(&self.workflows);
        let id = match self.rng.below(100) {
            0..55 => self
                .random_agent(|agent| !agent.closed && agent.stopped && !agent.finished)
                .or_else(|| self.random_agent(|agent| !agent.closed))
                .map(|idx| self.agents[idx].id),
            55..75 => Some(workflow),
            75..88 => self.model.accounts[workflow].parent,
            88..93 => Some(0),
            _ => self
                .random_agent(|agent| !agent.closed)
                .map(|idx| self.agents[idx].id),
        };
        let Some(id) = id else { return };
        let d = usize::from(self.model.accounts[id].limit[1].is_some() && self.rng.chance(400));
        let Some(old) = self.model.accounts[id].limit[d] else {
            return;
        };
        let new = (old * self.rng.range(110, 160) / 100).max(old + 1);
        if self.rng.chance(500) {
            self.make_room(id, d, new);
        }
        self.raise_to(id, d, new);
    }

    /// Raises the ancestors of `id` until its parent's pool beyond the reserve holds `new`.
    fn make_room(&mut self, id: usize, d: usize, new: u64) {
        let Some(room) = self.model.room_for(id, d) else {
            return;
        };
        let parent = self.model.accounts[id].parent.expect("a limited parent");
        let parent_limit = self.model.accounts[parent].limit[d].expect("a limited parent");
        if new > room {
            // The reserve takes its share of the raise too: ask for a fifth more.
            let parent_new = parent_limit + (new - room) * 6 / 5 + 10;
            self.make_room(parent, d, parent_new);
            self.raise_to(parent, d, parent_new);
        }
    }

    /// Sets `id`'s limit in dimension `d` to `new`, which must fit in the parent's pool beyond
    /// its reserve, or be refused with `insufficient_pool`.
    fn raise_to(&mut self, id: usize, d: usize, new: u64) {
        let fits = self.model.room_for(id, d).is_none_or(|room| new <= room);
        let name = ["tokens", "cost_micros"][d].to_string();
        let spec = AccountSpec {
            limits: Some(vec![(name, new)]),
            ..AccountSpec::default()
        };
        let command = Command::UpsertAccount {
            path: path(&self.model.accounts[id].path),
            spec,
        };
        match (self.apply(command), fits) {
            (Ok(Answer::Account { created: false, .. }), true) => self.stats.raises += 1,
            (Err(LedgerError::InsufficientPool { .. }), false) => self.stats.raises_refused += 1,
            (answer, fits) => self.fail(format!(
                "raising {} dim {d} to {new} (fits: {fits}) answered {answer:?}",
                self.model.accounts[id].path
            )),
        }
    }

    /// A finished agent's account is closed; refused while it has open holds.
    fn close_finished(&mut self) {
        let Some(idx) = self.random_agent(|agent| agent.finished && !agent.closed) else {
            return;
        };
        let id = self.agents[idx].id;
        let open = self.model.accounts[id].open_holds > 0;
        let command = Command::CloseAccount {
            path: self.agents[idx].path.clone(),
        };
        match (self.apply(command), open) {
            (Ok(Answer::Closed { account }), false) if account.0 as usize == id => {
                self.stats.closed += 1;
                self.agents[idx].closed = true;
            }
            (Err(LedgerError::Conflict { .. }), true) => self.stats.closes_refused += 1,
            (answer, open) => self.fail(format!(
                "closing {} (open holds: {open}) answered {answer:?}",
                self.agents[idx].path
            )),
        }
    }

    /// A new agent in a workflow, opened directly or by an allocation; refused when its limit
    /// does not fit in the workflow's pool beyond the reserve.
    fn spawn(&mut self) {
        let workflow = self.rng.pick(&self.workflows);
        let room = self.model.room(workflow, 0, 0).unwrap_or(0);
        let limit = if room < 1_000 {
            self.rng.range(1_000, 5_000)
        } else {
            room * self.rng.range(20, 130) / 100
        };
        let fits = limit <= room;
        let name = format!("n{}", self.agents.len());
        let child_path = path(&self.model.accounts[workflow].path)
            .child(&name)
            .expect("a valid name");
        let command = if self.rng.chance(500) {
            let spec = AccountSpec {
                limits: Some(tokens(limit)),
                ..AccountSpec::default()
            };
            Command::UpsertAccount {
                path: child_path,
                spec,
            }
        } else {
            let request = AllocateRequest {
                strategy: Strategy::Equal,
                total: Some(tokens(limit)),
                children: vec![self.child(name, 0)],
                min_share: None,
                max_share: None,
                initial_share: None,
            };
            Command::Allocate {
                path: path(&self.model.accounts[workflow].path),
                request,
            }
        };
        let opened = match (self.apply(command), fits) {
            (
                Ok(Answer::Account {
                    account,
                    created: true,
                }),
                true,
            ) => account,
            (Ok(Answer::Allocated { allocations, .. }), true) => allocations[0].0,
            (Err(LedgerError::InsufficientPool { .. }), false) => {
                self.stats.spawns_refused += 1;
                return;
            }
            (answer, fits) => self.fail(format!(
                "opening an agent of {limit} under {} (room {room}) answered {answer:?} ({fits})",
                self.model.accounts[workflow].path
            )),
        };
        self.stats.spawned += 1;
        let id = opened.0 as usize;
        if self.model.accounts[id].limit[0] != Some(limit) {
            self.fail(format!(
                "a new agent got {:?}, not {limit}",
                self.model.accounts[id].limit
            ));
        }
        self.add_agent(id, limit);
    }

    /// Bad input changes nothing: a report for a closed account is refused and writes nothing.
    fn report_to_closed(&mut self) {
        let Some(idx) = self.random_agent(|agent| agent.closed) else {
            return;
        };
        let command = Command::Usage(UsageReport {
            account_id: None,
            account: self.agents[idx].path.clone(),
            usage: tokens(100).into(),
            operation: None,
            work_units: 1,
            idempotency_key: None,
        });
        match self.apply(command) {
            Err(LedgerError::AccountNotFound { .. }) => self.stats.stale_refused += 1,
            answer => self.fail(format!("a report to a closed account answered {answer:?}")),
        }
    }
}
