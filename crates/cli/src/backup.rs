//! `purser export` and `purser import`: a server's state in one checksummed file (its newest
//! snapshot and the journal after it), read from a running or stopped server's store, and loaded
//! into an empty one: how a user backs up, and moves from the embedded store to PostgreSQL.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use purser_server::config::cluster::Store;
use purser_store::export::{self, Export};
use purser_store::{
    Durability, Epoch, Journal, Leases, PostgresJournal, PostgresLeases, SqliteJournal, StoreError,
};

/// Which store, for `serve`, `export` and `import` alike.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Data directory of the embedded store (default ./purser-data, or the config's).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where the journal lives: `sqlite` (in the data directory) or a postgres:// URL shared
    /// with the shard's other processes (default: the config's `store`).
    #[arg(long, env = "PURSER_STORE")]
    store: Option<String>,
    /// The shard, on PostgreSQL (default: `[cluster] shard`).
    #[arg(long)]
    shard: Option<String>,
    /// A purser.toml (see `purser init`).
    #[arg(long)]
    config: Option<PathBuf>,
}

impl StoreArgs {
    /// The config file (or the defaults) with these flags over it, checked.
    pub fn config(&self) -> anyhow::Result<purser_server::Config> {
        let mut config = crate::load_config(self.config.as_deref())?;
        if let Some(data_dir) = &self.data_dir {
            config.data_dir = data_dir.clone();
        }
        if let Some(store) = &self.store {
            config.store = Some(store.clone());
        }
        if let Some(shard) = &self.shard {
            config.cluster.shard = shard.clone();
        }
        config
            .store()
            .map_err(|err| anyhow::anyhow!("--store: {err}"))?;
        config
            .cluster
            .check()
            .map_err(|err| anyhow::anyhow!("--shard: {err}"))?;
        Ok(config)
    }
}

#[derive(Args, Clone, Debug)]
pub struct ExportArgs {
    /// The file to write (refused if it exists).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args, Clone, Debug)]
pub struct ImportArgs {
    /// A file written by `purser export`.
    file: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

/// A running server may snapshot and compact while an export reads: it starts over then.
const EXPORT_ATTEMPTS: usize = 5;

struct Target {
    store: Store,
    data_dir: PathBuf,
    shard: String,
}

impl Target {
    fn of(args: &StoreArgs) -> anyhow::Result<Target> {
        let config = args.config()?;
        Ok(Target {
            store: config
                .store()
                .map_err(|err| anyhow::anyhow!("--store: {err}"))?,
            data_dir: config.data_dir,
            shard: config.cluster.shard,
        })
    }

    fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("journal.sqlite")
    }

    fn describe(&self) -> String {
        match &self.store {
            Store::Sqlite => self.sqlite_path().display().to_string(),
            Store::Postgres(_) => format!("shard {} of {}", self.shard, self.store.describe()),
        }
    }
}

pub fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let target = Target::of(&args.store)?;
    if args.out.exists() {
        bail!(
            "{} exists: remove it or choose another --out",
            args.out.display()
        );
    }
    let mut journal: Box<dyn Journal> = match &target.store {
        Store::Sqlite => {
            let path = target.sqlite_path();
            if !path.exists() {
                bail!("no journal at {}: nothing to export", path.display());
            }
            Box::new(SqliteJournal::open(&path, Durability::Os)?.0)
        }
        // As a standby: it reads, and cannot append.
        Store::Postgres(url) => {
            Box::new(PostgresJournal::open(url, &target.shard, Epoch::default())?.0)
        }
    };
    let partial = args.out.with_extension("partial");
    for attempt in 1..=EXPORT_ATTEMPTS {
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut out = BufWriter::new(file);
        match export::export(journal.as_mut(), &mut out) {
            Ok(summary) => {
                let file = out.into_inner().map_err(|err| err.into_error())?;
                file.sync_all()?;
                std::fs::rename(&partial, &args.out)?;
                let bytes = std::fs::metadata(&args.out)?.len();
                println!(
                    "exported {} ({}, {} batches after it, through event {}) to {} ({bytes} bytes)",
                    target.describe(),
                    match summary.snapshot_seq {
                        Some(seq) => format!("snapshot at event {seq}"),
                        None => "no snapshot".into(),
                    },
                    summary.n_batches,
                    summary.last_seq,
                    args.out.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            Err(StoreError::Compacted { .. }) if attempt < EXPORT_ATTEMPTS => {
                eprintln!("purser: the server compacted meanwhile; exporting again");
            }
            Err(err) => {
                let _ = std::fs::remove_file(&partial);
                return Err(err).context(format!("exporting {}", target.describe()));
            }
        }
    }
    unreachable!("the last attempt returns")
}

pub fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let target = Target::of(&args.store)?;
    // The whole file is checked before anything is written anywhere.
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let export = export::read_export(&mut BufReader::new(file)).with_context(|| {
        format!(
            "{} cannot be imported, nothing was written",
            args.file.display()
        )
    })?;
    match &target.store {
        Store::Sqlite => import_sqlite(&target, &export)?,
        Store::Postgres(url) => import_postgres(url, &target, &export)?,
    }
    println!(
        "imported {} into {} ({} batches, through event {})",
        args.file.display(),
        target.describe(),
        export.batches.len(),
        export.last_seq()
    );
    Ok(ExitCode::SUCCESS)
}

fn import_sqlite(target: &Target, export: &Export) -> anyhow::Result<()> {
    let path = target.sqlite_path();
    if path.exists() {
        bail!(
            "{} exists: import into an empty data directory",
            path.display()
        );
    }
    std::fs::create_dir_all(&target.data_dir)
        .with_context(|| format!("creating {}", target.data_dir.display()))?;
    let result = SqliteJournal::open(&path, Durability::Fsync)
        .and_then(|(mut journal, _)| export::import(&mut journal, export));
    if let Err(err) = result {
        remove_sqlite(&path);
        return Err(err).context(format!("importing into {}", path.display()));
    }
    Ok(())
}

/// Removes a journal file this import created, with its log files.
fn remove_sqlite(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn import_postgres(url: &str, target: &Target, export: &Export) -> anyhow::Result<()> {
    let mut leases = PostgresLeases::connect(url)?;
    let owner = format!("purser-import:{}", std::process::id());
    let Some(epoch) = leases.try_acquire(&target.shard, &owner, "", 600_000)? else {
        let leader = leases
            .holders()?
            .into_iter()
            .find(|holder| holder.shard == target.shard)
            .map_or_else(|| "another process".into(), |holder| holder.address);
        bail!(
            "shard {} is led by {leader}: stop its servers before importing",
            target.shard
        );
    };
    let cell = Epoch::default();
    cell.set(Some(epoch));
    let imported = PostgresJournal::open(url, &target.shard, cell)
        .and_then(|(mut journal, _)| export::import(&mut journal, export));
    leases.release(&target.shard, &owner, epoch)?;
    imported.with_context(|| format!("importing into {}", target.describe()))
}
