//! `purser k8s render`: the Kubernetes manifests of the configured agent profiles and of Purser
//! itself, one file per object in `--out`, or one YAML stream on standard output.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use purser_k8s::manifests::{Environment, RenderOptions, VpaMode, render, to_stream};
use purser_k8s::profile::parse_bytes;

#[derive(Subcommand)]
pub enum K8sCommand {
    /// Write the manifests: namespace, quota, limit range, priority classes, a workload, HPA,
    /// VPA and PDB per profile, the alert rules, a ServiceMonitor, and Purser's StatefulSet.
    Render {
        /// The namespace of the agents and of Purser.
        #[arg(long, default_value = "agents")]
        namespace: String,
        /// production or testing: the environment label of every object.
        #[arg(long, default_value = "production")]
        environment: String,
        /// The directory to write one file per object to (created if missing); without it, one
        /// YAML stream goes to standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The share of headroom the ResourceQuota adds above the profiles' peak.
        #[arg(long, default_value_t = 0.25)]
        quota_buffer: f64,
        /// off (recommendations only) or auto (the VPA applies them).
        #[arg(long, default_value = "off")]
        vpa_mode: String,
        /// A purser.toml: its [[profile]]s (the guide's three without any) and [metrics] prefix.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Purser's own image.
        #[arg(long)]
        image: Option<String>,
        /// The size of Purser's data volume.
        #[arg(long, default_value = "10Gi")]
        storage: String,
    },
}

pub fn run(command: K8sCommand) -> anyhow::Result<ExitCode> {
    let K8sCommand::Render {
        namespace,
        environment,
        out,
        quota_buffer,
        vpa_mode,
        config,
        image,
        storage,
    } = command;
    let config = crate::load_config(config.as_deref())?;
    let fleet = config
        .fleet()
        .map_err(|err| anyhow::anyhow!("config: {err}"))?;
    let mut options = RenderOptions {
        namespace,
        environment: environment
            .parse::<Environment>()
            .map_err(|err| anyhow::anyhow!("--environment: {err}"))?,
        quota_buffer,
        vpa_mode: vpa_mode
            .parse::<VpaMode>()
            .map_err(|err| anyhow::anyhow!("--vpa-mode: {err}"))?,
        purser_storage_bytes: parse_bytes(&storage)
            .map_err(|err| anyhow::anyhow!("--storage: {err}"))?,
        metrics_prefix: config.metrics.prefix.trim_end_matches('_').to_string(),
        ..RenderOptions::default()
    };
    if let Some(image) = image {
        options.purser_image = image;
    }
    let manifests = render(&fleet.profiles, &options).map_err(|err| anyhow::anyhow!(err))?;
    let Some(out) = out else {
        print!("{}", to_stream(&manifests));
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for manifest in &manifests {
        if manifest.file.contains('/') || manifest.file.starts_with('.') {
            bail!(
                "refusing to write {:?} outside {}",
                manifest.file,
                out.display()
            );
        }
        let path = out.join(&manifest.file);
        std::fs::write(&path, &manifest.yaml)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "wrote {} manifests for {} profiles ({}) to {}",
        manifests.len(),
        fleet.profiles.len(),
        fleet
            .profiles
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
