//! `purser report PATH`: the report of an account and its children, as Markdown (default),
//! HTML or JSON, to standard output or a file.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::Remote;
use crate::client::Client;

/// Fetches the report of `path` in `format` and writes it to `out` or standard output.
pub fn run(
    remote: &Remote,
    path: &str,
    format: &str,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let format = if remote.json { "json" } else { format };
    let client = Client::new(&remote.server, remote.token.clone());
    let text = match client.get_text(&format!("/v1/accounts/{path}:report?format={format}"))? {
        // JSON for people and scripts alike: indented, as the other commands print it.
        Ok(text) if format == "json" => {
            let value: serde_json::Value =
                serde_json::from_str(&text).context("the report is not JSON")?;
            serde_json::to_string_pretty(&value)?
        }
        Ok(text) => text,
        Err(failure) => {
            let mut line = format!(
                "error {} ({}): {}",
                failure.detail.code, failure.status, failure.detail.message
            );
            if let Some(field) = failure.body["error"]["field"].as_str() {
                line.push_str(&format!(" [field {field}]"));
            }
            eprintln!("{line}");
            return Ok(ExitCode::from(2));
        }
    };
    match out {
        Some(file) => {
            std::fs::write(file, &text).with_context(|| format!("writing {}", file.display()))?;
            eprintln!("wrote the {format} report of {path} to {}", file.display());
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .context("writing the report")?;
            if !text.ends_with('\n') {
                stdout.write_all(b"\n").context("writing the report")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
