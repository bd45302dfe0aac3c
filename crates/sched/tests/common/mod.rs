//! Shared by the integration tests: where the public traces live, and the bench platform.
#![allow(dead_code)]

use std::path::PathBuf;

use purser_sched::{Platform, Workflow, WorkflowFormat, parse_platform, parse_workflow};

/// `/work/shared/data` seen from this crate; None (with a message) when it is absent.
pub fn data_dir(sub: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipping: data folder {} is absent", dir.display());
        None
    }
}

/// Every workflow of the data folder, by file name.
pub fn all_workflows() -> Vec<(String, Workflow)> {
    let Some(dir) = data_dir("wfcommons-wfinstances") else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for sub in [dir.clone(), dir.join("pegasus-dax-classic")] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        paths.extend(entries.filter_map(|entry| entry.ok().map(|entry| entry.path())));
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
            let text = std::fs::read_to_string(&path).expect("readable data file");
            let workflow = parse_workflow(&text, format)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            Some((path.file_name()?.to_string_lossy().into_owned(), workflow))
        })
        .collect()
}

pub fn bench_platform() -> Platform {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/platform.toml");
    parse_platform(&std::fs::read_to_string(path).expect("benches/platform.toml"))
        .expect("valid platform")
}
