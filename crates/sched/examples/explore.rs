use purser_sched::*;
use std::path::PathBuf;

fn workflows() -> Vec<(String, Workflow)> {
    let dir = PathBuf::from("/work/shared/data/wfcommons-wfinstances");
    let mut paths: Vec<PathBuf> = Vec::new();
    for sub in [dir.clone(), dir.join("pegasus-dax-classic")] {
        paths.extend(
            std::fs::read_dir(&sub)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path())),
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
            Some((
                path.file_name()?.to_string_lossy().into_owned(),
                parse_workflow(&text, format).unwrap(),
            ))
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pf in &args {
        let platform = parse_platform(&std::fs::read_to_string(pf).unwrap()).unwrap();
        println!("platform {pf}");
        let (mut sum, mut sum_lb, mut n) = (0.0, 0.0, 0.0);
        for (name, wf) in workflows() {
            let opt = |a| PlanOptions {
                spot: false,
                interruptions: false,
                ..PlanOptions::new(a, 1, Weights::MAKESPAN)
            };
            let heft = plan_with(&wf, &platform, &opt(Algorithm::Heft)).unwrap();
            let mut free = platform.clone();
            free.bandwidth_mbps = 1e15;
            let heft_free = plan_with(&wf, &free, &opt(Algorithm::Heft)).unwrap();
            if std::env::var("FREE").is_ok() {
                println!(
                    "   zero-comm heft {:.1} vs heft {:.1}: {:.4}",
                    heft_free.makespan_s,
                    heft.makespan_s,
                    heft_free.makespan_s / heft.makespan_s
                );
            }
            let t = std::time::Instant::now();
            let purser = plan_with(&wf, &platform, &opt(Algorithm::Purser)).unwrap();
            let ms = t.elapsed().as_secs_f64() * 1e3;
            verify(&wf, &platform, &purser).unwrap();
            let lb = lower_bound(&wf, &platform).unwrap();
            let work: f64 = wf
                .tasks()
                .iter()
                .map(|t| t.runtime_s * t.requests.cores as f64)
                .sum();
            let comm: f64 = wf
                .tasks()
                .iter()
                .flat_map(|t| t.parents.iter())
                .map(|d| platform.transfer_s(d.bytes))
                .sum();
            let maxcores = wf.tasks().iter().map(|t| t.requests.cores).max().unwrap();
            let r = purser.makespan_s / heft.makespan_s;
            sum += r;
            sum_lb += lb.makespan_s() / heft.makespan_s;
            n += 1.0;
            if std::env::var("TRACE").map_or(false, |t| name.contains(&t)) {
                println!("HEFT");
                trace(&wf, &platform, &heft);
                println!("PURSER");
                trace(&wf, &platform, &purser);
            }
            println!(
                "{name:<46} n{:>4} c{maxcores} work {:>9.0} comm {:>8.1} | cp {:>8.1} wk {:>8.1} pw {:>8.1} | heft {:>8.1} purser {:>8.1} r {r:.4} lb/heft {:.4} {ms:.1}ms",
                wf.len(),
                work,
                comm,
                lb.critical_path_s,
                lb.work_s,
                lb.precedence_work_s,
                heft.makespan_s,
                purser.makespan_s,
                lb.makespan_s() / heft.makespan_s
            );
        }
        println!("avg ratio {:.4} avg lb/heft {:.4}", sum / n, sum_lb / n);
    }
}

#[allow(dead_code)]
pub fn trace(wf: &Workflow, platform: &Platform, s: &Schedule) {
    use std::collections::HashMap;
    let idx: HashMap<&str, usize> = wf
        .tasks()
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    let by: HashMap<usize, &ScheduledTask> =
        s.tasks.iter().map(|e| (idx[e.id.as_str()], e)).collect();
    let mut cur = *by
        .iter()
        .max_by(|a, b| a.1.finish_s.total_cmp(&b.1.finish_s))
        .unwrap()
        .0;
    loop {
        let e = by[&cur];
        let t = &wf.tasks()[cur];
        let mut why = String::from("machine/startup");
        let mut next = None;
        for d in &t.parents {
            let p = by[&d.parent];
            let tr = if p.machine == e.machine {
                0.0
            } else {
                platform.transfer_s(d.bytes)
            };
            if (p.finish_s + tr - e.start_s).abs() < 1e-6 {
                why = format!("parent {} (+{tr:.2})", p.id);
                next = Some(d.parent);
                break;
            }
        }
        println!(
            "  {:<30} {:<16} {:>8.2}..{:>8.2} rt {:>8.2} np {} nc {} <- {why}",
            t.id,
            e.machine,
            e.start_s,
            e.finish_s,
            t.runtime_s,
            t.parents.len(),
            wf.children(cur).len()
        );
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
}
