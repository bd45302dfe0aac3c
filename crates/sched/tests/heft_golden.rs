//! The HEFT paper's example (Topcuoglu, Hariri and Wu 2002, Fig. 2): makespan 80 on three
//! processors, modelled as three pools of one single-core machine with explicit runtimes.

mod common;

use purser_sched::{
    Algorithm, Dep, Platform, Pool, Resources, Task, Weights, Workflow, plan, verify,
};

fn read_csv(name: &str) -> Option<Vec<Vec<f64>>> {
    let dir = common::data_dir("heft-paper")?;
    let text = std::fs::read_to_string(dir.join(name)).expect("readable csv");
    Some(
        text.lines()
            .skip(1)
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                line.split(',')
                    .map(|cell| cell.trim().parse().expect("number"))
                    .collect()
            })
            .collect(),
    )
}

/// Transfers of `cost` seconds are `cost` bytes at 8e-6 Mbps (1 byte per second).
fn paper_case() -> Option<(Workflow, Platform)> {
    let costs = read_csv("costs.csv")?;
    let edges = read_csv("edges.csv")?;
    let mut tasks: Vec<Task> = costs
        .iter()
        .map(|row| Task::new(format!("{}", row[0]), row[1]))
        .collect();
    for edge in &edges {
        let (parent, child) = (edge[0] as usize - 1, edge[1] as usize - 1);
        tasks[child].parents.push(Dep {
            parent,
            bytes: edge[2] as u64,
        });
    }
    let runtimes = costs.iter().map(|row| row[1..].to_vec()).collect();
    let workflow = Workflow::new("heft-paper", tasks)
        .ok()?
        .with_explicit_runtimes(runtimes)
        .ok()?;
    let pool = |name: &str| Pool {
        name: name.into(),
        machines: 1,
        capacity: Resources::cores(1),
        speed: 1.0,
        on_demand_per_hour_micros: 0,
        spot_per_hour_micros: None,
        startup_s: 0.0,
        interruptions_per_hour: 0.0,
        kind: Default::default(),
    };
    let platform = Platform {
        bandwidth_mbps: 8e-6,
        pools: vec![pool("p1"), pool("p2"), pool("p3")],
    };
    Some((workflow, platform))
}

#[test]
fn heft_gives_the_papers_makespan_of_80() {
    let Some((workflow, platform)) = paper_case() else {
        return;
    };
    let schedule = plan(&workflow, &platform, Algorithm::Heft, 1, &Weights::MAKESPAN).unwrap();
    verify(&workflow, &platform, &schedule).unwrap();
    assert_eq!(schedule.makespan_s, 80.0);
    // The paper's Fig. 2 schedule: task 1 on P3 at 0..9, task 10 on P2 ending at 80.
    let entry = |id: &str| {
        schedule
            .tasks
            .iter()
            .find(|entry| entry.id == id)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (entry("1").machine.as_str(), entry("1").finish_s),
        ("p3#0", 9.0)
    );
    assert_eq!(
        (entry("10").machine.as_str(), entry("10").start_s),
        ("p2#0", 73.0)
    );
}

#[test]
fn purser_is_no_worse_on_the_paper_example() {
    let Some((workflow, platform)) = paper_case() else {
        return;
    };
    let schedule = plan(
        &workflow,
        &platform,
        Algorithm::Purser,
        1,
        &Weights::MAKESPAN,
    )
    .unwrap();
    verify(&workflow, &platform, &schedule).unwrap();
    assert!(
        schedule.makespan_s <= 80.0,
        "purser makespan {}",
        schedule.makespan_s
    );
}
