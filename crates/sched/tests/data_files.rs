//! Every workflow of the data folder parses and plans feasibly, purser never loses to HEFT on
//! makespan when costs are ignored (HEFT's plan is one of its candidates), and neither beats
//! the lower bound.

mod common;

use purser_sched::{Algorithm, PlanOptions, Weights, lower_bound, plan_with, verify};

#[test]
fn data_workflows_plan_feasibly_and_purser_never_loses_to_heft() {
    let workflows = common::all_workflows();
    if workflows.is_empty() {
        return;
    }
    assert_eq!(workflows.len(), 22);
    let platform = common::bench_platform();
    for (name, workflow) in &workflows {
        let no_spot = |algorithm| PlanOptions {
            spot: false,
            ..PlanOptions::new(algorithm, 1, Weights::MAKESPAN)
        };
        let heft = plan_with(workflow, &platform, &no_spot(Algorithm::Heft)).unwrap();
        let purser = plan_with(workflow, &platform, &no_spot(Algorithm::Purser)).unwrap();
        verify(workflow, &platform, &heft).unwrap_or_else(|err| panic!("{name} heft: {err}"));
        verify(workflow, &platform, &purser).unwrap_or_else(|err| panic!("{name} purser: {err}"));
        assert!(
            purser.makespan_s <= heft.makespan_s + 1e-9,
            "{name}: {} > {}",
            purser.makespan_s,
            heft.makespan_s
        );
        let bound = lower_bound(workflow, &platform).unwrap().makespan_s();
        assert!(bound <= purser.makespan_s + 1e-6, "{name}: bound {bound}");
        let spot = plan_with(
            workflow,
            &platform,
            &PlanOptions::new(Algorithm::Purser, 3, Weights::default()),
        )
        .unwrap();
        verify(workflow, &platform, &spot).unwrap_or_else(|err| panic!("{name} spot: {err}"));
    }
}

#[test]
fn schedule_serializes_to_the_wire_shape() {
    let workflows = common::all_workflows();
    let Some((_, workflow)) = workflows
        .iter()
        .find(|(name, _)| name == "helloworld-chain-5-chameleon.json")
    else {
        return;
    };
    let schedule = plan_with(
        workflow,
        &common::bench_platform(),
        &PlanOptions::new(Algorithm::Heft, 1, Weights::MAKESPAN),
    )
    .unwrap();
    let json = serde_json::to_value(&schedule).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["cost_micros", "decision_ms", "makespan_s", "tasks"]);
    let task_keys: Vec<&String> = json["tasks"][0].as_object().unwrap().keys().collect();
    assert_eq!(
        task_keys,
        ["attempts", "finish_s", "id", "machine", "spot", "start_s"]
    );
    assert_eq!(json["tasks"][0]["id"], "cpuhog_chain_00000001");
    assert!(
        json["tasks"][0]["machine"]
            .as_str()
            .unwrap()
            .ends_with("#0")
    );
}
