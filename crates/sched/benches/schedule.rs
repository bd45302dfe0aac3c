//! `cargo bench -p purser-sched`: on each platform file of `benches/`, makespan purser/heft on
//! every workflow of the data folder (no interruptions, cost ignored) next to a lower bound that
//! no plan can beat, then spot cost and makespan ratios over several seeds; last, decision
//! times. Reads /work/shared/data; skips what is absent.

use std::path::PathBuf;
use std::time::Instant;

use purser_sched::{
    Algorithm, BudgetPlan, EligibleTask, FreeMachine, PlanOptions, Platform, Resources, TickPool,
    Weights, Workflow, WorkflowFormat, cheapest_plan, lower_bound, parse_platform, parse_workflow,
    plan_with, plan_within_budget, random_layered_workflow, tick, verify,
};

const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
const STRESS_FACTOR: f64 = 40.0;

fn workflows() -> Vec<(String, Workflow)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/wfcommons-wfinstances");
    if !dir.is_dir() {
        println!(
            "skipping workflows: data folder {} is absent",
            dir.display()
        );
        return Vec::new();
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    for sub in [dir.clone(), dir.join("pegasus-dax-classic")] {
        paths.extend(
            std::fs::read_dir(&sub)
                .into_iter()
                .flatten()
                .filter_map(|entry| entry.ok().map(|e| e.path())),
        );
    }
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let format = match path.extension()?.to_str()? {
                "json" => WorkflowFormat::WfFormat,
                "xml" => WorkflowFormat::Dax,
                _ => return None,
            };
            let text = std::fs::read_to_string(&path).ok()?;
            let workflow = parse_workflow(&text, format).expect("data file parses");
            Some((path.file_name()?.to_string_lossy().into_owned(), workflow))
        })
        .collect()
}

fn options(algorithm: Algorithm, seed: u64, weights: Weights, spot: bool) -> PlanOptions {
    PlanOptions {
        spot,
        interruptions: spot,
        ..PlanOptions::new(algorithm, seed, weights)
    }
}

fn makespan_ratios(platform: &Platform, workflows: &[(String, Workflow)]) {
    println!("== makespan purser / heft (no interruptions, cost ignored), lower bound / heft");
    let (mut ratios, mut bound_ratios) = (Vec::new(), Vec::new());
    for (name, workflow) in workflows {
        let heft = plan_with(
            workflow,
            platform,
            &options(Algorithm::Heft, 1, Weights::MAKESPAN, false),
        )
        .unwrap();
        let purser = plan_with(
            workflow,
            platform,
            &options(Algorithm::Purser, 1, Weights::MAKESPAN, false),
        )
        .unwrap();
        verify(workflow, platform, &heft).unwrap();
        verify(workflow, platform, &purser).unwrap();
        let bound = lower_bound(workflow, platform).unwrap();
        // Invariant: no plan beats a lower bound.
        assert!(bound.makespan_s() <= purser.makespan_s.min(heft.makespan_s) + 1e-6);
        let ratio = purser.makespan_s / heft.makespan_s;
        let bound_ratio = bound.makespan_s() / heft.makespan_s;
        println!(
            "{name:<46} bound {:>8.1} s (path {:>8.1} work {:>8.1} prec {:>8.1})  heft {:>8.1} s  purser {:>8.1} s  ratio {ratio:.4}  bound/heft {bound_ratio:.4}",
            bound.makespan_s(),
            bound.critical_path_s,
            bound.work_s,
            bound.precedence_s,
            heft.makespan_s,
            purser.makespan_s
        );
        ratios.push(ratio);
        bound_ratios.push(bound_ratio);
    }
    if !ratios.is_empty() {
        let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
        let worst = ratios.iter().copied().fold(0.0, f64::max);
        let n_heft_optimal = bound_ratios.iter().filter(|&&ratio| ratio >= 0.999).count();
        println!(
            "average ratio {:.4} over {} workflows, worst {worst:.4}; average bound/heft {:.4} (no plan can average lower); heft within 0.1% of the bound on {n_heft_optimal}",
            mean(&ratios),
            ratios.len(),
            mean(&bound_ratios)
        );
    }
}

fn spot_ratios(platform: &Platform, workflows: &[(String, Workflow)], label: &str) {
    println!(
        "== spot with interruptions{label} / all on demand (default weights 0.6/0.3/0.1), seeds {SEEDS:?}"
    );
    let (mut cost_ratios, mut makespan_ratios) = (Vec::new(), Vec::new());
    let mut n_interruptions = 0;
    for (name, workflow) in workflows {
        let on_demand = plan_with(
            workflow,
            platform,
            &options(Algorithm::Purser, 0, Weights::default(), false),
        )
        .unwrap();
        let (mut cost_sum, mut worst_makespan) = (0.0, 0.0f64);
        for seed in SEEDS {
            let spot = plan_with(
                workflow,
                platform,
                &options(Algorithm::Purser, seed, Weights::default(), true),
            )
            .unwrap();
            verify(workflow, platform, &spot).unwrap();
            n_interruptions += spot.stats.as_ref().map_or(0, |stats| stats.interruptions);
            let cost_ratio = if on_demand.cost_micros == 0 {
                1.0
            } else {
                spot.cost_micros as f64 / on_demand.cost_micros as f64
            };
            let makespan_ratio = spot.makespan_s / on_demand.makespan_s;
            cost_sum += cost_ratio;
            worst_makespan = worst_makespan.max(makespan_ratio);
            if on_demand.cost_micros > 0 {
                cost_ratios.push(cost_ratio);
            }
            makespan_ratios.push(makespan_ratio);
        }
        println!(
            "{name:<48} on-demand {:>8} micros {:>8.1} s  spot cost ratio {:.3}  worst makespan ratio {worst_makespan:.3}",
            on_demand.cost_micros,
            on_demand.makespan_s,
            cost_sum / SEEDS.len() as f64
        );
    }
    if !makespan_ratios.is_empty() {
        let mean_cost = cost_ratios.iter().sum::<f64>() / cost_ratios.len().max(1) as f64;
        let worst_cost = cost_ratios.iter().copied().fold(0.0, f64::max);
        let mean_makespan = makespan_ratios.iter().sum::<f64>() / makespan_ratios.len() as f64;
        let worst_makespan = makespan_ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "cost ratio mean {mean_cost:.3} worst {worst_cost:.3}; makespan ratio mean {mean_makespan:.3} worst {worst_makespan:.3}; {n_interruptions} interruptions"
        );
    }
}

/// Budget-constrained planning at 50, 75 and 100 % of the HEFT plan's cost: the makespan and
/// cost found, against HEFT and against the all-cheapest plan.
fn budget_table(platform: &Platform, workflows: &[(String, Workflow)]) {
    println!("== budget-constrained plans (on demand) at 50 / 75 / 100 % of HEFT's cost");
    let shares = [0.5, 0.75, 1.0];
    let mut makespan_vs_heft = vec![Vec::new(); shares.len()];
    let mut makespan_vs_cheapest = vec![Vec::new(); shares.len()];
    let mut n_impossible = vec![0; shares.len()];
    for (name, workflow) in workflows {
        let heft = plan_with(
            workflow,
            platform,
            &options(Algorithm::Heft, 1, Weights::MAKESPAN, false),
        )
        .unwrap();
        let cheapest = cheapest_plan(workflow, platform, 0).unwrap();
        verify(workflow, platform, &cheapest).unwrap();
        let mut line = format!(
            "{name:<46} heft {:>8.1} s {:>10} micros  cheapest {:>8.1} s {:>10} micros",
            heft.makespan_s, heft.cost_micros, cheapest.makespan_s, cheapest.cost_micros
        );
        for (idx, share) in shares.iter().enumerate() {
            let budget = (heft.cost_micros as f64 * share) as u64;
            match plan_within_budget(workflow, platform, budget, 0).unwrap() {
                BudgetPlan::Within(plan) => {
                    verify(workflow, platform, &plan).unwrap();
                    // Invariant: what is found within the budget stays within it.
                    assert!(plan.cost_micros <= budget);
                    line.push_str(&format!(
                        "  {:>3.0}%: {:>8.1} s {:>10}",
                        share * 100.0,
                        plan.makespan_s,
                        plan.cost_micros
                    ));
                    makespan_vs_heft[idx].push(plan.makespan_s / heft.makespan_s);
                    makespan_vs_cheapest[idx].push(plan.makespan_s / cheapest.makespan_s);
                }
                BudgetPlan::Impossible { cheapest } => {
                    assert!(cheapest.cost_micros > budget);
                    line.push_str(&format!(
                        "  {:>3.0}%: none (cheapest {})",
                        share * 100.0,
                        cheapest.cost_micros
                    ));
                    n_impossible[idx] += 1;
                }
            }
        }
        println!("{line}");
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
    for (idx, share) in shares.iter().enumerate() {
        println!(
            "budget {:>3.0}% of heft's cost: {} plans within it, {} impossible; makespan / heft mean {:.3}, makespan / cheapest plan mean {:.3}",
            share * 100.0,
            makespan_vs_heft[idx].len(),
            n_impossible[idx],
            mean(&makespan_vs_heft[idx]),
            mean(&makespan_vs_cheapest[idx]),
        );
    }
}

fn decision_times(platform: &Platform) {
    println!("== decision times (median of 5)");
    let workflow = random_layered_workflow(1000, 42);
    for (label, algorithm, weights) in [
        ("heft", Algorithm::Heft, Weights::MAKESPAN),
        ("purser cost ignored", Algorithm::Purser, Weights::MAKESPAN),
        (
            "purser default weights + spot",
            Algorithm::Purser,
            Weights::default(),
        ),
    ] {
        let mut times: Vec<f64> = (0..5)
            .map(|seed| {
                let started = Instant::now();
                let schedule = plan_with(
                    &workflow,
                    platform,
                    &PlanOptions::new(algorithm, seed, weights),
                )
                .unwrap();
                let elapsed = started.elapsed().as_secs_f64() * 1e3;
                assert_eq!(
                    schedule
                        .tasks
                        .iter()
                        .filter(|entry| entry.attempts == 1)
                        .count(),
                    1000
                );
                elapsed
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("plan of 1,000 tasks, {label:<30} {:.2} ms", times[2]);
    }
    let heft = plan_with(
        &workflow,
        platform,
        &PlanOptions::new(Algorithm::Heft, 1, Weights::MAKESPAN),
    )
    .unwrap();
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let found =
                plan_within_budget(&workflow, platform, heft.cost_micros * 3 / 4, 0).unwrap();
            let elapsed = started.elapsed().as_secs_f64() * 1e3;
            assert!(matches!(
                found,
                BudgetPlan::Within(_) | BudgetPlan::Impossible { .. }
            ));
            elapsed
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "plan of 1,000 tasks, {:<30} {:.2} ms",
        "within 75% of heft's cost", times[2]
    );
    let pools = vec![
        TickPool {
            name: "local".into(),
            speed: 1.0,
            price_per_hour_micros: 0,
        },
        TickPool {
            name: "c6i".into(),
            speed: 1.4,
            price_per_hour_micros: 120_000,
        },
        TickPool {
            name: "gpu".into(),
            speed: 2.0,
            price_per_hour_micros: 900_000,
        },
    ];
    let tasks: Vec<EligibleTask> = (0..10_000u64)
        .map(|id| EligibleTask {
            id,
            tenant: (id % 17) as u32,
            priority: (id % 3) as i32,
            rank: (id * 7919 % 1000) as f64,
            runtime_s: 1.0 + (id % 600) as f64,
            requests: Resources::cores(1 + id % 4),
            tenant_usage: id % 17 * 3,
        })
        .collect();
    let mut times = Vec::new();
    let mut n_placed = 0;
    for _ in 0..5 {
        let mut machines: Vec<FreeMachine> = (0..1000u32)
            .map(|id| FreeMachine {
                id,
                pool: id as usize % 3,
                free: Resources::cores(1 + u64::from(id % 16)),
            })
            .collect();
        let started = Instant::now();
        n_placed = tick(
            100.0,
            &pools,
            &tasks,
            &mut machines,
            &Weights::default(),
            |_, _| true,
        )
        .len();
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "tick of 10,000 eligible tasks x 1,000 machines: {:.2} ms ({n_placed} placed)",
        times[2]
    );
}

/// The committed platforms, in the order of the tables.
const PLATFORM_FILES: [&str; 3] = [
    "platform.toml",
    "platform-contended.toml",
    "platform-wan.toml",
];

/// A committed platform, announced on the output.
fn platform(file: &str) -> Platform {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{file}: {err}"));
    println!("platform {}", path.display());
    parse_platform(&text).unwrap()
}

fn main() {
    let workflows = workflows();
    if std::env::var("PURSER_BENCH").is_ok_and(|only| only == "budget") {
        for file in PLATFORM_FILES {
            let platform = platform(file);
            budget_table(&platform, &workflows);
            if file == "platform.toml" {
                decision_times(&platform);
            }
        }
        return;
    }
    let mut first = None;
    for file in PLATFORM_FILES {
        let platform = platform(file);
        makespan_ratios(&platform, &workflows);
        spot_ratios(&platform, &workflows, "");
        budget_table(&platform, &workflows);
        first.get_or_insert(platform);
    }
    let first = first.expect("a platform");
    // The rate (0.05 an hour) rarely hits workflows of minutes: the same platform with
    // interruptions 40 times as often shows what recovery costs.
    let mut stressed = first.clone();
    for pool in &mut stressed.pools {
        pool.interruptions_per_hour *= STRESS_FACTOR;
    }
    println!("platform platform.toml with interruptions x{STRESS_FACTOR}");
    spot_ratios(&stressed, &workflows, &format!(" x{STRESS_FACTOR}"));
    decision_times(&first);
}
