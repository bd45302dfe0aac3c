//! `purser monitoring render`: writes the alert rules (a Prometheus rule file and the same
//! groups as a `PrometheusRule`) and the Grafana board for this deployment's config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use purser_server::monitoring::{Settings, render};

#[derive(Subcommand)]
pub enum MonitoringCommand {
    /// Write rules.yml, prometheus-rule.yaml and grafana-dashboard.json.
    Render {
        /// The directory to write them to (created if missing).
        #[arg(long, default_value = "monitoring")]
        out: PathBuf,
        /// A purser.toml: its [metrics] prefix and [manager] lead time are used.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The forecast lead time the exhaustion alert uses (default: the config's).
        #[arg(long)]
        lead_time: Option<humantime::Duration>,
        /// The `job` label Prometheus gives the Purser targets.
        #[arg(long, default_value = "purser")]
        job: String,
        /// The namespace of the PrometheusRule object.
        #[arg(long)]
        namespace: Option<String>,
    },
}

pub fn run(command: MonitoringCommand) -> anyhow::Result<ExitCode> {
    let MonitoringCommand::Render {
        out,
        config,
        lead_time,
        job,
        namespace,
    } = command;
    let config = crate::load_config(config.as_deref())?;
    let lead_ms = match lead_time {
        Some(lead_time) => lead_time.as_millis() as u64,
        None => {
            config
                .manager
                .to_config()
                .map_err(|err| anyhow::anyhow!("config: {err}"))?
                .watch
                .lead_time_ms
        }
    };
    let settings = Settings {
        prefix: config.metrics.prefix.clone(),
        lead_seconds: lead_ms.div_ceil(1000).max(1),
        job,
        namespace,
    };
    let rendered = render(&settings).map_err(|err| anyhow::anyhow!(err))?;
    write_all(&out, &rendered.files())?;
    Ok(ExitCode::SUCCESS)
}

fn write_all(out: &Path, files: &[(&str, &str)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, text) in files {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
