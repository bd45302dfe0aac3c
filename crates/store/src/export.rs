//! A journal's state in one file, to move between stores and to back up: the newest snapshot
//! and every batch after it, each with its CRC, and an end record with the CRC of the whole
//! file. Reading it checks everything before anything is written anywhere.
//!
//! Format (little-endian): the magic `PURSER-EXPORT\0` and a version (`u32`, 1), then records:
//! - `S` a snapshot: `seq u64`, `len u64`, the payload, its CRC (`u32`, as in the journal);
//! - `B` a batch: `first_seq u64`, `n_events u32`, `len u64`, the payload, its CRC;
//! - `E` the end: `n_batches u64`, `last_seq u64`, and the CRC32 of every byte before it.

use std::io::{Read, Write};

use crate::verify::{self, ReplayCheck};
use crate::{Batch, Journal, Snapshot, StoreError};

const MAGIC: &[u8; 14] = b"PURSER-EXPORT\0";
const VERSION: u32 = 1;
/// No record is larger: a length beyond it is damage, not a reason to allocate.
const RECORD_BYTES_MAX: u64 = 4 << 30;
/// Batches appended per call when importing.
const IMPORT_GROUP: usize = 256;

/// What an export holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Export {
    pub snapshot: Option<Snapshot>,
    /// The batches after the snapshot (the first may straddle its seq), in seq order.
    pub batches: Vec<Batch>,
}

impl Export {
    /// The seq of the last event held.
    pub fn last_seq(&self) -> u64 {
        let snapshot_seq = self.snapshot.as_ref().map_or(0, |snapshot| snapshot.seq);
        self.batches
            .last()
            .map_or(snapshot_seq, |batch| batch.last_seq().max(snapshot_seq))
    }
}

/// A `Write` that keeps the CRC of what went through it.
struct Summed<W> {
    inner: W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> Summed<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.inner.write_all(bytes)
    }
}

fn io_error(err: std::io::Error) -> StoreError {
    StoreError::Export(format!("writing: {err}"))
}

/// What [`export`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    pub snapshot_seq: Option<u64>,
    pub n_batches: u64,
    pub last_seq: u64,
}

/// Writes the journal's newest snapshot and every batch after it to `out`. A compaction that
/// races it (a running server snapshotting meanwhile) fails it with `Compacted`: the caller
/// starts over.
pub fn export(journal: &mut dyn Journal, out: &mut dyn Write) -> Result<ExportSummary, StoreError> {
    journal.refresh()?;
    let snapshot = journal.latest_snapshot()?;
    let after = snapshot.as_ref().map_or(0, |snapshot| snapshot.seq);
    let mut summed = Summed {
        inner: out,
        hasher: crc32fast::Hasher::new(),
    };
    summed.put(MAGIC).map_err(io_error)?;
    summed.put(&VERSION.to_le_bytes()).map_err(io_error)?;
    if let Some(snapshot) = &snapshot {
        summed.put(b"S").map_err(io_error)?;
        summed.put(&snapshot.seq.to_le_bytes()).map_err(io_error)?;
        summed
            .put(&(snapshot.payload.len() as u64).to_le_bytes())
            .map_err(io_error)?;
        summed.put(&snapshot.payload).map_err(io_error)?;
        let crc = verify::snapshot_crc(snapshot.seq, &snapshot.payload);
        summed.put(&crc.to_le_bytes()).map_err(io_error)?;
    }
    let mut n_batches = 0u64;
    let mut last_seq = after;
    let mut write_error = None;
    journal
        .replay(after, &mut |batch| {
            let written = (|| {
                summed.put(b"B")?;
                summed.put(&batch.first_seq.to_le_bytes())?;
                summed.put(&batch.n_events.to_le_bytes())?;
                summed.put(&(batch.payload.len() as u64).to_le_bytes())?;
                summed.put(&batch.payload)?;
                let crc = verify::batch_crc(batch.first_seq, batch.n_events, &batch.payload);
                summed.put(&crc.to_le_bytes())
            })();
            if let Err(err) = written {
                write_error = Some(err);
                return Err(StoreError::Export("writing stopped".into()));
            }
            n_batches += 1;
            last_seq = batch.last_seq();
            Ok(())
        })
        .map_err(|err| match write_error.take() {
            Some(io) => io_error(io),
            None => err,
        })?;
    summed.put(b"E").map_err(io_error)?;
    summed.put(&n_batches.to_le_bytes()).map_err(io_error)?;
    summed.put(&last_seq.to_le_bytes()).map_err(io_error)?;
    let crc = summed.hasher.clone().finalize();
    summed
        .inner
        .write_all(&crc.to_le_bytes())
        .map_err(io_error)?;
    summed.inner.flush().map_err(io_error)?;
    Ok(ExportSummary {
        snapshot_seq: snapshot.map(|snapshot| snapshot.seq),
        n_batches,
        last_seq,
    })
}

/// A `Read` that keeps the CRC of what came through it and says where damage was found.
struct Reader<R> {
    inner: R,
    hasher: crc32fast::Hasher,
    offset: u64,
}

impl<R: Read> Reader<R> {
    fn bytes(&mut self, n: u64, what: &str) -> Result<Vec<u8>, StoreError> {
        if n > RECORD_BYTES_MAX {
            return Err(self.bad(format!("{what} claims {n} bytes")));
        }
        let mut buffer = vec![0; n as usize];
        self.inner.read_exact(&mut buffer).map_err(|err| {
            let reason = match err.kind() {
                std::io::ErrorKind::UnexpectedEof => "the file ends".to_owned(),
                _ => err.to_string(),
            };
            self.bad(format!("{what}: {reason} (truncated?)"))
        })?;
        self.hasher.update(&buffer);
        self.offset += n;
        Ok(buffer)
    }

    fn u32(&mut self, what: &str) -> Result<u32, StoreError> {
        let bytes = self.bytes(4, what)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &str) -> Result<u64, StoreError> {
        let bytes = self.bytes(8, what)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    fn bad(&self, reason: String) -> StoreError {
        StoreError::Export(format!("at byte {}: {reason}", self.offset))
    }
}

/// Reads and checks a whole export: every record's CRC, the seq chain of the batches, the end
/// record and the CRC of the file. Nothing is trusted until all of it checks.
pub fn read_export(input: &mut dyn Read) -> Result<Export, StoreError> {
    let mut reader = Reader {
        inner: input,
        hasher: crc32fast::Hasher::new(),
        offset: 0,
    };
    if reader.bytes(MAGIC.len() as u64, "the header")? != MAGIC {
        return Err(StoreError::Export(
            "not a Purser export (it does not start with PURSER-EXPORT)".into(),
        ));
    }
    let version = reader.u32("the version")?;
    if version != VERSION {
        return Err(StoreError::Export(format!(
            "export format version {version} is not supported (this build reads {VERSION})"
        )));
    }
    let mut export = Export::default();
    let mut check: Option<ReplayCheck> = None;
    loop {
        let tag = reader.bytes(1, "a record's tag")?[0];
        match tag {
            b'S' if export.snapshot.is_none() && check.is_none() => {
                let seq = reader.u64("the snapshot's seq")?;
                let len = reader.u64("the snapshot's length")?;
                let payload = reader.bytes(len, "the snapshot")?;
                let crc = reader.u32("the snapshot's crc")?;
                if verify::snapshot_crc(seq, &payload) != crc {
                    return Err(reader.bad(format!("the snapshot at seq {seq} fails its crc")));
                }
                export.snapshot = Some(Snapshot { seq, payload });
            }
            b'B' => {
                let first_seq = reader.u64("a batch's seq")?;
                let n_events = reader.u32("a batch's event count")?;
                let len = reader.u64("a batch's length")?;
                let payload = reader.bytes(len, "a batch")?;
                let crc = reader.u32("a batch's crc")?;
                let batch = Batch {
                    first_seq,
                    n_events,
                    payload,
                };
                let after = export.snapshot.as_ref().map_or(0, |snapshot| snapshot.seq);
                check
                    .get_or_insert_with(|| ReplayCheck::new(after))
                    .check(&batch, crc)
                    .map_err(|err| reader.bad(err.to_string()))?;
                export.batches.push(batch);
            }
            b'E' => {
                let n_batches = reader.u64("the end's batch count")?;
                let last_seq = reader.u64("the end's seq")?;
                let expected = reader.hasher.clone().finalize();
                let mut crc = [0; 4];
                reader
                    .inner
                    .read_exact(&mut crc)
                    .map_err(|_| reader.bad("the file's crc: the file ends (truncated?)".into()))?;
                if u32::from_le_bytes(crc) != expected {
                    return Err(StoreError::Export("the file's crc does not match".into()));
                }
                if n_batches != export.batches.len() as u64 || last_seq != export.last_seq() {
                    return Err(StoreError::Export(format!(
                        "the end record says {n_batches} batches through seq {last_seq}, the file \
                         holds {} through seq {}",
                        export.batches.len(),
                        export.last_seq()
                    )));
                }
                let mut rest = [0; 1];
                if reader
                    .inner
                    .read(&mut rest)
                    .map_err(|err| reader.bad(err.to_string()))?
                    > 0
                {
                    return Err(StoreError::Export("bytes follow the end record".into()));
                }
                return Ok(export);
            }
            other => {
                return Err(reader.bad(format!("unexpected record tag {other:#04x}")));
            }
        }
    }
}

/// Loads a checked export into an empty journal: it starts where the export's history starts,
/// takes the batches, then the snapshot. Refuses (`NotEmpty`) a journal that holds anything.
pub fn import(journal: &mut dyn Journal, export: &Export) -> Result<(), StoreError> {
    journal.refresh()?;
    if journal.last_seq() > 0 || journal.latest_snapshot()?.is_some() {
        return Err(StoreError::NotEmpty {
            last_seq: journal.last_seq(),
        });
    }
    let start = match (export.batches.first(), &export.snapshot) {
        (Some(first), _) => first.first_seq - 1,
        (None, Some(snapshot)) => snapshot.seq,
        (None, None) => 0,
    };
    if start > 0 {
        journal.start_at(start)?;
    }
    for group in export.batches.chunks(IMPORT_GROUP) {
        journal.append(group)?;
    }
    if let Some(snapshot) = &export.snapshot {
        journal.write_snapshot(snapshot)?;
    }
    Ok(())
}
