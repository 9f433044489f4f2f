//! IMSI batch and eSIM profile imports from CSV. Every line is checked before
//! anything is written; one bad line rejects the file whole, and the report
//! names each bad line, field and reason. A good file is imported whole or not
//! at all (an IMSI batch under a marker, see `commit_batch`).
//! IMSI batches are read here; `profiles` reads eSIM profiles.

mod profiles;

use std::io::Read;

use serde::Serialize;

use super::store::{StorageExt, WriteBatch};
use super::{invalid, Conflict, Inventory, InventoryError, LineError};
use crate::model::*;

/// At most this many bad lines are listed; the count says how many there were.
const MAX_REPORTED: usize = 1000;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    pub name: String,
    pub imported: u64,
}

fn err(errors: &mut Vec<LineError>, line: usize, field: &str, value: &str, reason: &str) {
    if errors.len() < MAX_REPORTED {
        errors.push(LineError {
            line,
            field: field.into(),
            value: value.chars().take(40).collect(),
            reason: reason.into(),
        });
    }
}

fn reader(input: impl Read) -> csv::Reader<impl Read> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(input)
}

/// Numbered, readable CSV records. Unreadable lines are kept aside (merged into
/// the report by `finish`), and progress ticks every 10 000 lines.
struct Records<'p, I> {
    rows: I,
    line: usize,
    unreadable: Vec<LineError>,
    progress: &'p dyn Fn(u64),
}

impl<'p, I: Iterator<Item = csv::Result<csv::StringRecord>>> Records<'p, I> {
    fn new(rows: I, first_line: usize, progress: &'p dyn Fn(u64)) -> Self {
        Records {
            rows,
            line: first_line - 1,
            unreadable: vec![],
            progress,
        }
    }
    /// All bad lines, the unreadable ones included, in line order.
    fn finish(self, mut errors: Vec<LineError>) -> Vec<LineError> {
        errors.extend(self.unreadable);
        errors.sort_by_key(|e| e.line);
        errors.truncate(MAX_REPORTED);
        errors
    }
}

impl<I: Iterator<Item = csv::Result<csv::StringRecord>>> Iterator for Records<'_, I> {
    type Item = (usize, csv::StringRecord);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rec = self.rows.next()?;
            self.line += 1;
            if self.line % 10_000 == 0 {
                (self.progress)(self.line as u64);
            }
            match rec {
                Ok(r) => return Some((self.line, r)),
                Err(e) => err(
                    &mut self.unreadable,
                    self.line,
                    "line",
                    "",
                    &format!("unreadable CSV: {e}"),
                ),
            }
        }
    }
}

pub struct BatchSpec<'a> {
    pub sponsor: &'a str,
    pub name: &'a str,
    pub recycling: bool,
    pub end_of_life: bool,
}

impl Inventory {
    /// Imports a batch of IMSIs: one IMSI per line (an `imsi` header line is
    /// allowed). `progress` is called with the number of lines read so far.
    pub fn import_batch(
        &self,
        actor: &str,
        spec: &BatchSpec<'_>,
        file: &str,
        input: impl Read,
        progress: &dyn Fn(u64),
    ) -> Result<ImportReport, InventoryError> {
        let sponsor = self.sponsor(spec.sponsor)?;
        if spec.name.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        let _g = self.lock();
        if self.store.exists(&format!("batch/{}", spec.name))? {
            let batch = spec.name.into();
            return Err(Conflict::BatchExists { batch }.into());
        }
        let listed = self.read_batch(&sponsor, file, input, progress)?;
        let batch = ImsiBatch {
            name: spec.name.into(),
            sponsor: sponsor.id.clone(),
            recycling: spec.recycling,
            end_of_life: spec.end_of_life,
            count: listed.len() as u64,
            imported_at: self.now(),
        };
        self.commit_batch(actor, file, &batch, &listed)?;
        progress(batch.count);
        Ok(ImportReport {
            name: batch.name,
            imported: batch.count,
        })
    }

    /// The file's IMSIs, every line checked; the file is rejected whole if
    /// any line is bad or none holds an IMSI. Held as numbers, so that a
    /// file of millions costs 16 octets an IMSI here.
    fn read_batch(
        &self,
        sponsor: &Sponsor,
        file: &str,
        input: impl Read,
        progress: &dyn Fn(u64),
    ) -> Result<Vec<Listed>, InventoryError> {
        let mut errors = vec![];
        let mut listed = vec![];
        let mut records = Records::new(reader(input).into_records(), 1, progress);
        for (line, rec) in &mut records {
            let v = rec.get(0).unwrap_or("");
            if line == 1 && v.eq_ignore_ascii_case("imsi") {
                continue;
            }
            match (self.imsi_fault(sponsor, v)?, v.parse::<u64>()) {
                (None, Ok(value)) => listed.push(Listed {
                    value,
                    line: line as u32,
                    digits: v.len() as u8,
                }),
                (Some(why), _) => err(&mut errors, line, "imsi", v, &why),
                (None, Err(_)) => err(&mut errors, line, "imsi", v, "digits only"),
            }
        }
        duplicates(&mut listed, &mut errors);
        let errors = records.finish(errors);
        if !errors.is_empty() {
            return Err(InventoryError::Rejected {
                file: file.into(),
                errors,
            });
        }
        if listed.is_empty() {
            return Err(invalid("file", format!("{file}: no IMSI in the file")));
        }
        Ok(listed)
    }

    /// What is wrong with IMSI `v` of a batch of `sponsor`, if anything
    /// (duplicates within the file are found after, see `duplicates`).
    fn imsi_fault(&self, sponsor: &Sponsor, v: &str) -> Result<Option<String>, InventoryError> {
        Ok(if v.is_empty() {
            Some("empty".into())
        } else if !v.bytes().all(|b| b.is_ascii_digit()) {
            Some("digits only".into())
        } else if !(6..=15).contains(&v.len()) {
            Some("must be 6 to 15 digits long".into())
        } else if !sponsor.owns_imsi(v) {
            Some(format!(
                "outside sponsor {}'s MCC/MNC {}",
                sponsor.id,
                sponsor.plmns.join(", ")
            ))
        } else if self.store.exists(&format!("imsi/{v}"))? {
            Some("already in the inventory".into())
        } else {
            None
        })
    }

    /// The batch and its IMSIs, available. Written a chunk at a time under
    /// a marker, so that a store never holds a million-record write at
    /// once; the batch record, the audit line and the marker's removal
    /// come last, in one commit. Until then the IMSIs belong to no batch
    /// and the index does not know them; a failure on the way takes them
    /// back, and a crash leaves the marker for `finish_interrupted_imports`.
    fn commit_batch(
        &self,
        actor: &str,
        file: &str,
        batch: &ImsiBatch,
        listed: &[Listed],
    ) -> Result<(), InventoryError> {
        let marker = format!("{IMPORTING}{}", batch.name);
        let mut b = WriteBatch::default();
        b.put(marker.clone(), &batch.name);
        self.commit(b)?;
        let written = self.write_imsis(batch, listed).and_then(|()| {
            let mut b = WriteBatch::default();
            b.put(format!("batch/{}", batch.name), batch);
            b.delete(marker);
            let detail =
                serde_json::json!({"sponsor": batch.sponsor, "count": batch.count, "file": file});
            self.audit(
                &mut b,
                actor,
                "import-batch",
                &batch.name,
                None,
                Some(detail),
            )?;
            self.commit(b).map(|_| ())
        });
        if let Err(e) = written {
            if let Err(undo) = self.undo_import(&batch.name) {
                tracing::error!(batch = %batch.name, error = %undo, "an import that failed could not be taken back; it is at the next start");
            }
            return Err(e);
        }
        for l in listed {
            self.index.put_imsi(&l.record(batch));
        }
        Ok(())
    }

    fn write_imsis(&self, batch: &ImsiBatch, listed: &[Listed]) -> Result<(), InventoryError> {
        for chunk in listed.chunks(CHUNK) {
            let mut b = WriteBatch::default();
            for l in chunk {
                let rec = l.record(batch);
                b.put(format!("imsi/{}", rec.imsi), &rec);
            }
            self.commit(b)?;
        }
        Ok(())
    }

    /// Takes back what an unfinished import of `batch` wrote: its IMSIs,
    /// then its marker.
    fn undo_import(&self, batch: &str) -> Result<usize, InventoryError> {
        let imsis = self.batch_imsis(batch)?;
        for chunk in imsis.chunks(CHUNK) {
            let mut b = WriteBatch::default();
            for i in chunk {
                b.delete(format!("imsi/{}", i.imsi));
            }
            self.commit(b)?;
        }
        let mut b = WriteBatch::default();
        b.delete(format!("{IMPORTING}{batch}"));
        self.commit(b)?;
        Ok(imsis.len())
    }

    /// At start: imports a crash interrupted are taken back.
    pub(crate) fn finish_interrupted_imports(&self) -> Result<(), InventoryError> {
        let pending: Vec<String> = self.store.scan(IMPORTING)?;
        for batch in pending {
            let n = self.undo_import(&batch)?;
            tracing::warn!(%batch, imsis = n, "an import interrupted by a crash was taken back; import the file again");
        }
        Ok(())
    }
}

/// IMSIs written per commit of an import.
const CHUNK: usize = 10_000;

/// The marker of an import under way, by batch name.
const IMPORTING: &str = "importing/";

/// An IMSI of a file, as a number with its count of digits, and its line.
#[derive(Debug, Clone, Copy)]
struct Listed {
    value: u64,
    line: u32,
    digits: u8,
}

impl Listed {
    fn imsi(&self) -> String {
        format!("{:0w$}", self.value, w = usize::from(self.digits))
    }

    fn record(&self, batch: &ImsiBatch) -> Imsi {
        Imsi {
            imsi: self.imsi(),
            batch: batch.name.clone(),
            sponsor: batch.sponsor.clone(),
            state: ImsiState::Available,
        }
    }
}

/// Each IMSI the file lists twice is reported on its later lines, naming
/// the first.
fn duplicates(listed: &mut [Listed], errors: &mut Vec<LineError>) {
    listed.sort_unstable_by_key(|l| (l.value, l.line));
    for w in listed.chunk_by(|a, b| a.value == b.value) {
        for later in &w[1..] {
            let why = format!("duplicate of line {}", w[0].line);
            err(errors, later.line as usize, "imsi", &later.imsi(), &why);
        }
    }
}

#[cfg(test)]
mod tests;
