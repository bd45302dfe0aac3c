//! The engine alone, no I/O: usage reports applied per second on one core, for 10,000 agents in a
//! three-level tree (org / 100 teams / 100 agents each), the ladder checked at every level.
//!
//! `cargo bench -p purser-engine --bench engine` (it lives here, not in the core, because it reads
//! the clock).

use std::time::Instant;

use purser_core::*;

/// The allocator the `purser` binary ships with (`crates/cli/src/main.rs`), so that the
/// engine is measured as it runs in the server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TEAMS: usize = 100;
const AGENTS_PER_TEAM: usize = 100;
const ROUND: usize = 1_000_000;
const ROUNDS: usize = 10;

fn build() -> (Ledger, Vec<AccountPath>) {
    let mut ledger = Ledger::default();
    let mut events = Vec::new();
    let put = |ledger: &mut Ledger, events: &mut Vec<Event>, path: &str, tokens: u64| {
        let spec = AccountSpec {
            limits: Some(vec![
                ("tokens".into(), tokens),
                ("cost_micros".into(), tokens * 10),
            ]),
            ..AccountSpec::default()
        };
        ledger
            .apply(
                Command::UpsertAccount {
                    path: AccountPath::parse(path).unwrap(),
                    spec,
                },
                0,
                events,
            )
            .unwrap();
    };
    put(&mut ledger, &mut events, "org", u64::MAX / 1_000);
    let mut agents = Vec::with_capacity(TEAMS * AGENTS_PER_TEAM);
    for team in 0..TEAMS {
        put(
            &mut ledger,
            &mut events,
            &format!("org/team-{team}"),
            u64::MAX / 1_000_000,
        );
        for agent in 0..AGENTS_PER_TEAM {
            let path = format!("org/team-{team}/agent-{agent}");
            put(&mut ledger, &mut events, &path, u64::MAX / 1_000_000_000);
            agents.push(AccountPath::parse(&path).unwrap());
        }
    }
    (ledger, agents)
}

/// How the commands name their account and dimensions.
#[derive(Clone, Copy, PartialEq)]
enum Naming {
    /// As the server sends them: the account's id and the well-known dimensions resolved on
    /// the request's task (`Engine::usage` and the wire layer), the path kept for the check.
    Resolved,
    /// By text only: the writer hashes the path and interns the names.
    Text,
}

fn commands(
    agents: &[(AccountPath, AccountId)],
    round: usize,
    keyed: bool,
    naming: Naming,
) -> Vec<Command> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ round as u64;
    (0..ROUND)
        .map(|idx| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let tokens = 100 + state % 2_000;
            let (path, id) = &agents[(state >> 20) as usize % agents.len()];
            let usage = match naming {
                Naming::Resolved => Spend::known([(DimId(0), tokens), (DimId(1), tokens * 3)]),
                Naming::Text => Spend {
                    known: Amounts::new(),
                    custom: vec![
                        ("tokens".into(), tokens),
                        ("cost_micros".into(), tokens * 3),
                    ],
                },
            };
            Command::Usage(UsageReport {
                account: path.clone(),
                account_id: (naming == Naming::Resolved).then_some(*id),
                usage,
                operation: None,
                work_units: 1,
                idempotency_key: keyed.then(|| format!("r{round}-{idx}")),
            })
        })
        .collect()
}

fn measure(keyed: bool, naming: Naming) -> f64 {
    let (mut ledger, agents) = build();
    let agents: Vec<(AccountPath, AccountId)> = agents
        .into_iter()
        .map(|path| {
            let id = ledger.lookup(path.as_str()).expect("the agent exists");
            (path, id)
        })
        .collect();
    let mut events = Vec::with_capacity(4_096);
    let mut elapsed = 0.0;
    for round in 0..ROUNDS {
        let batch = commands(&agents, round, keyed, naming);
        let started = Instant::now();
        for command in batch {
            let answer = ledger.apply(command, 1_000, &mut events);
            debug_assert!(answer.is_ok());
            if events.len() >= 4_000 {
                events.clear();
            }
        }
        elapsed += started.elapsed().as_secs_f64();
    }
    (ROUND * ROUNDS) as f64 / elapsed
}

fn main() {
    println!(
        "engine: {} agents in a three-level tree, {} reports per run, one core",
        TEAMS * AGENTS_PER_TEAM,
        ROUND * ROUNDS
    );
    // PURSER_BENCH_KEYS=0 or 1 runs one variant only; PURSER_BENCH_NAMING=text or resolved
    // one naming (for profiling).
    let only = std::env::var("PURSER_BENCH_KEYS").ok();
    let naming = std::env::var("PURSER_BENCH_NAMING").ok();
    for (label, which) in [
        ("ids resolved on the request tasks", Naming::Resolved),
        ("by text (path hashed, names interned)", Naming::Text),
    ] {
        let name = if which == Naming::Resolved {
            "resolved"
        } else {
            "text"
        };
        if naming.as_deref().is_some_and(|only| only != name) {
            continue;
        }
        println!("  {label}:");
        if only.as_deref() != Some("1") {
            println!(
                "    without idempotency keys: {:>12.0} reports/s",
                measure(false, which)
            );
        }
        if only.as_deref() != Some("0") {
            println!(
                "    with idempotency keys:    {:>12.0} reports/s (remembered up to the default bound)",
                measure(true, which)
            );
        }
    }
}
