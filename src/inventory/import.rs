//! IMSI batch and eSIM profile imports from CSV. Every line is checked before
//! anything is written; one bad line rejects the file whole, and the report
//! names each bad line, field and reason. A good file commits as one batch.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use serde::Serialize;

use super::store::{StorageExt, WriteBatch};
use super::LineError;
use super::{invalid, Conflict, Inventory, InventoryError};
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
        let mut errors = vec![];
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut order = vec![];
        let mut records = Records::new(reader(input).into_records(), 1, progress);
        for (line, rec) in &mut records {
            let v = rec.get(0).unwrap_or("");
            if line == 1 && v.eq_ignore_ascii_case("imsi") {
                continue;
            }
            if v.is_empty() {
                err(&mut errors, line, "imsi", v, "empty");
            } else if !v.bytes().all(|b| b.is_ascii_digit()) {
                err(&mut errors, line, "imsi", v, "digits only");
            } else if !(6..=15).contains(&v.len()) {
                err(&mut errors, line, "imsi", v, "must be 6 to 15 digits long");
            } else if !sponsor.owns_imsi(v) {
                err(
                    &mut errors,
                    line,
                    "imsi",
                    v,
                    &format!(
                        "outside sponsor {}'s MCC/MNC {}",
                        sponsor.id,
                        sponsor.plmns.join(", ")
                    ),
                );
            } else if let Some(first) = seen.get(v) {
                err(
                    &mut errors,
                    line,
                    "imsi",
                    v,
                    &format!("duplicate of line {first}"),
                );
            } else if self.store.exists(&format!("imsi/{v}"))? {
                err(&mut errors, line, "imsi", v, "already in the inventory");
            } else {
                seen.insert(v.to_string(), line);
                order.push(v.to_string());
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
        let batch = ImsiBatch {
            name: spec.name.into(),
            sponsor: sponsor.id.clone(),
            recycling: spec.recycling,
            end_of_life: spec.end_of_life,
            count: order.len() as u64,
            imported_at: self.now(),
        };
        let mut b = WriteBatch::default();
        let mut records = Vec::with_capacity(order.len());
        for imsi in order {
            let rec = Imsi {
                imsi,
                batch: batch.name.clone(),
                sponsor: sponsor.id.clone(),
                state: ImsiState::Available,
            };
            b.put(format!("imsi/{}", rec.imsi), &rec);
            records.push(rec);
        }
        b.put(format!("batch/{}", batch.name), &batch);
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
        progress(batch.count);
        Ok(ImportReport {
            name: batch.name,
            imported: batch.count,
        })
    }

    /// Imports eSIM profiles into `pool` from CSV with a header naming the
    /// columns: iccid, imsi1 … imsi10 (imsi1 required), ki, opc, pin1, puk1,
    /// pin2, puk2, transport_key_label. Each IMSI must be Available.
    pub fn import_profiles(
        &self,
        actor: &str,
        pool: &str,
        file: &str,
        input: impl Read,
        progress: &dyn Fn(u64),
    ) -> Result<ImportReport, InventoryError> {
        let mut stock = self.lock();
        if !self.store.exists(&format!("pool/{pool}"))? {
            return Err(InventoryError::NotFound {
                what: "pool",
                id: pool.into(),
            });
        }
        let mut rows = reader(input).into_records();
        let header: Vec<String> = match rows.next() {
            Some(Ok(h)) => h.iter().map(|s| s.to_ascii_lowercase()).collect(),
            _ => {
                return Err(invalid(
                    "file",
                    format!("{file}: empty; the first line must name the columns"),
                ))
            }
        };
        let col = |name: &str| header.iter().position(|h| h == name);
        let mut missing = vec![];
        for c in [
            "iccid", "imsi1", "ki", "opc", "pin1", "puk1", "pin2", "puk2",
        ] {
            if col(c).is_none() {
                missing.push(c);
            }
        }
        if !missing.is_empty() {
            return Err(InventoryError::Rejected {
                file: file.into(),
                errors: vec![LineError {
                    line: 1,
                    field: "header".into(),
                    value: header.join(","),
                    reason: format!("missing column(s) {}", missing.join(", ")),
                }],
            });
        }
        let slots: Vec<usize> = (1..=10).filter_map(|i| col(&format!("imsi{i}"))).collect();
        let label_col = col("transport_key_label");
        let mut errors = vec![];
        let mut iccids: HashMap<String, usize> = HashMap::new();
        let mut imsis_used: HashSet<String> = HashSet::new();
        let mut profiles = vec![];
        let mut imsi_updates = vec![];
        let mut records = Records::new(rows, 2, progress);
        for (line, rec) in &mut records {
            let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
            let before = errors.len();
            let iccid = get(col("iccid"));
            if !valid_iccid(&iccid) {
                err(
                    &mut errors,
                    line,
                    "iccid",
                    &iccid,
                    "must be 18 to 22 digits with a valid Luhn check digit",
                );
            } else if let Some(first) = iccids.get(&iccid) {
                err(
                    &mut errors,
                    line,
                    "iccid",
                    &iccid,
                    &format!("duplicate of line {first}"),
                );
            } else if self.store.exists(&format!("profile/{iccid}"))? {
                err(
                    &mut errors,
                    line,
                    "iccid",
                    &iccid,
                    "already in the inventory",
                );
            }
            iccids.entry(iccid.clone()).or_insert(line);
            for (f, ok, want) in [
                ("ki", is_hex(&get(col("ki")), 32), "32 hex digits"),
                ("opc", is_hex(&get(col("opc")), 32), "32 hex digits"),
                ("pin1", is_digits(&get(col("pin1")), 4, 8), "4 to 8 digits"),
                ("pin2", is_digits(&get(col("pin2")), 4, 8), "4 to 8 digits"),
                ("puk1", is_digits(&get(col("puk1")), 8, 8), "8 digits"),
                ("puk2", is_digits(&get(col("puk2")), 8, 8), "8 digits"),
            ] {
                if !ok {
                    // Secrets are never echoed back, not even in an error.
                    err(&mut errors, line, f, "<redacted>", want);
                }
            }
            let mut imsis = vec![];
            for (slot_no, &c) in slots.iter().enumerate() {
                let v = get(Some(c));
                if v.is_empty() {
                    continue;
                }
                let field = format!("imsi{}", slot_no + 1);
                match self.store.get::<Imsi>(&format!("imsi/{v}"))? {
                    None => err(
                        &mut errors,
                        line,
                        &field,
                        &v,
                        "not in the inventory (import its batch first)",
                    ),
                    Some(i) if i.state != ImsiState::Available => {
                        err(&mut errors, line, &field, &v, "not available")
                    }
                    Some(_) if !imsis_used.insert(v.clone()) => {
                        err(&mut errors, line, &field, &v, "used twice in this file")
                    }
                    Some(i) => imsis.push(i),
                }
            }
            if imsis.is_empty() && errors.len() == before {
                err(
                    &mut errors,
                    line,
                    "imsi1",
                    "",
                    "a profile needs at least one IMSI",
                );
            }
            if errors.len() != before {
                continue;
            }
            let profile = Profile {
                iccid: iccid.clone(),
                pool: pool.into(),
                imsis: imsis.iter().map(|i| i.imsi.clone()).collect(),
                transport_key_label: get(label_col),
                ki: Secret(get(col("ki")).to_ascii_uppercase()),
                opc: Secret(get(col("opc")).to_ascii_uppercase()),
                pin1: Secret(get(col("pin1"))),
                puk1: Secret(get(col("puk1"))),
                pin2: Secret(get(col("pin2"))),
                puk2: Secret(get(col("puk2"))),
                state: ProfileState::Available,
            };
            for (slot, mut i) in imsis.into_iter().enumerate() {
                i.state = ImsiState::Embedded {
                    profile: iccid.clone(),
                    slot: slot as u8 + 1,
                };
                imsi_updates.push(i);
            }
            profiles.push(profile);
        }
        let errors = records.finish(errors);
        if !errors.is_empty() {
            return Err(InventoryError::Rejected {
                file: file.into(),
                errors,
            });
        }
        if profiles.is_empty() {
            return Err(invalid("file", format!("{file}: no profile in the file")));
        }
        let mut b = WriteBatch::default();
        for p in &profiles {
            b.put(format!("profile/{}", p.iccid), p);
        }
        for i in &imsi_updates {
            b.put(format!("imsi/{}", i.imsi), i);
        }
        self.audit(
            &mut b,
            actor,
            "import-profiles",
            pool,
            None,
            Some(serde_json::json!({"count": profiles.len(), "file": file})),
        )?;
        let sponsor_of: HashMap<&str, &str> = imsi_updates
            .iter()
            .map(|i| (i.imsi.as_str(), i.sponsor.as_str()))
            .collect();
        let sponsors_of = |p: &Profile| -> Vec<String> {
            p.imsis
                .iter()
                .filter_map(|i| sponsor_of.get(i.as_str()).map(|s| s.to_string()))
                .collect()
        };
        let added: Vec<Vec<String>> = profiles.iter().map(sponsors_of).collect();
        self.stock_refilled(&stock, pool, added.iter().map(Vec::as_slice), &mut b)?;
        self.commit(b)?;
        for i in &imsi_updates {
            self.index.put_imsi(i);
        }
        for p in &profiles {
            self.index.put_profile(p);
            stock.added(pool, &p.iccid, sponsors_of(p));
        }
        progress(profiles.len() as u64);
        Ok(ImportReport {
            name: pool.into(),
            imported: profiles.len() as u64,
        })
    }

    /// Moves `count` available IMSIs of `batch` into a dynamic IMSI pool.
    pub fn fill_dynamic_pool(
        &self,
        actor: &str,
        pool: &str,
        batch: &str,
        count: u64,
    ) -> Result<u64, InventoryError> {
        let mut stock = self.lock();
        if !self.store.exists(&format!("dynpool/{pool}"))? {
            return Err(InventoryError::NotFound {
                what: "dynamic pool",
                id: pool.into(),
            });
        }
        if !self.store.exists(&format!("batch/{batch}"))? {
            return Err(InventoryError::NotFound {
                what: "batch",
                id: batch.into(),
            });
        }
        let mut moved = vec![];
        for r in self.store.scan_raw(b"imsi/") {
            if moved.len() as u64 >= count {
                break;
            }
            let (k, v) = r?;
            let mut i: Imsi = super::store::decode(&k, &v)?;
            if i.batch == batch && i.state == ImsiState::Available {
                i.state = ImsiState::InDynamicPool { pool: pool.into() };
                moved.push(i);
            }
        }
        let mut b = WriteBatch::default();
        for i in &moved {
            super::dynamic_index::put_imsi(&mut b, &ImsiState::Available, i);
        }
        self.audit(
            &mut b,
            actor,
            "fill-dynamic-pool",
            pool,
            None,
            Some(serde_json::json!({"batch": batch, "count": moved.len()})),
        )?;
        self.dynamic_refilled(&stock, pool, moved.len() as u64, &mut b)?;
        self.commit(b)?;
        for i in &moved {
            self.index.put_imsi(i);
            stock.dynamic_moved(i, pool, true);
        }
        Ok(moved.len() as u64)
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}
