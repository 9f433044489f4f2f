//! IMSI batch and eSIM profile imports from CSV. Every line is checked before
//! anything is written; one bad line rejects the file whole, and the report
//! names each bad line, field and reason. A good file commits as one batch.
//! IMSI batches are read here; `profiles` reads eSIM profiles.

mod profiles;

use std::collections::HashMap;
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
        let imsis = self.read_batch(&sponsor, file, input, progress)?;
        let batch = ImsiBatch {
            name: spec.name.into(),
            sponsor: sponsor.id.clone(),
            recycling: spec.recycling,
            end_of_life: spec.end_of_life,
            count: imsis.len() as u64,
            imported_at: self.now(),
        };
        self.commit_batch(actor, file, &batch, imsis)?;
        progress(batch.count);
        Ok(ImportReport {
            name: batch.name,
            imported: batch.count,
        })
    }

    /// The file's IMSIs in line order, every line checked; the file is
    /// rejected whole if any line is bad or none holds an IMSI.
    fn read_batch(
        &self,
        sponsor: &Sponsor,
        file: &str,
        input: impl Read,
        progress: &dyn Fn(u64),
    ) -> Result<Vec<String>, InventoryError> {
        let mut errors = vec![];
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut order = vec![];
        let mut records = Records::new(reader(input).into_records(), 1, progress);
        for (line, rec) in &mut records {
            let v = rec.get(0).unwrap_or("");
            if line == 1 && v.eq_ignore_ascii_case("imsi") {
                continue;
            }
            match self.imsi_fault(sponsor, &seen, v)? {
                Some(why) => err(&mut errors, line, "imsi", v, &why),
                None => {
                    seen.insert(v.to_string(), line);
                    order.push(v.to_string());
                }
            }
        }
        let errors = records.finish(errors);
        if !errors.is_empty() {
            return Err(InventoryError::Rejected {
                file: file.into(),
                errors,
            });
        }
        if order.is_empty() {
            return Err(invalid("file", format!("{file}: no IMSI in the file")));
        }
        Ok(order)
    }

    /// What is wrong with IMSI `v` of a batch of `sponsor`, if anything;
    /// `seen` holds the file's good IMSIs so far, by line.
    fn imsi_fault(
        &self,
        sponsor: &Sponsor,
        seen: &HashMap<String, usize>,
        v: &str,
    ) -> Result<Option<String>, InventoryError> {
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
        } else if let Some(first) = seen.get(v) {
            Some(format!("duplicate of line {first}"))
        } else if self.store.exists(&format!("imsi/{v}"))? {
            Some("already in the inventory".into())
        } else {
            None
        })
    }

    /// The batch and its IMSIs, available, in one audited commit.
    fn commit_batch(
        &self,
        actor: &str,
        file: &str,
        batch: &ImsiBatch,
        imsis: Vec<String>,
    ) -> Result<(), InventoryError> {
        let mut b = WriteBatch::default();
        let mut records = Vec::with_capacity(imsis.len());
        for imsi in imsis {
            let rec = Imsi {
                imsi,
                batch: batch.name.clone(),
                sponsor: batch.sponsor.clone(),
                state: ImsiState::Available,
            };
            b.put(format!("imsi/{}", rec.imsi), &rec);
            records.push(rec);
        }
        b.put(format!("batch/{}", batch.name), batch);
        self.audit(
            &mut b,
            actor,
            "import-batch",
            &batch.name,
            None,
            Some(serde_json::json!({"sponsor": batch.sponsor, "count": batch.count, "file": file})),
        )?;
        self.commit(b)?;
        for r in &records {
            self.index.put_imsi(r);
        }
        Ok(())
    }
}
