//! eSIM profiles from CSV into a pool: the header names the columns, each
//! row is checked (its ICCID new, its secrets well-formed, its IMSIs in
//! the inventory and available), and the whole file lands in one commit,
//! its IMSIs embedded in their profiles.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use super::{err, reader, ImportReport, Records};
use crate::inventory::stock::Stock;
use crate::inventory::store::{StorageExt, WriteBatch};
use crate::inventory::{invalid, Inventory, InventoryError, LineError};
use crate::model::*;

/// Columns every profile file must have.
const REQUIRED: [&str; 8] = [
    "iccid", "imsi1", "ki", "opc", "pin1", "puk1", "pin2", "puk2",
];

/// A file's header: where each column is.
struct Columns {
    header: Vec<String>,
    /// The `imsi1` … `imsi10` columns present, in slot order.
    slots: Vec<usize>,
}

impl Columns {
    fn new(header: Vec<String>) -> Columns {
        let mut cols = Columns {
            header,
            slots: vec![],
        };
        cols.slots = (1..=10)
            .filter_map(|i| cols.col(&format!("imsi{i}")))
            .collect();
        cols
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// The good rows so far: their ICCIDs (by first line) and IMSIs, the
/// profiles and the IMSI records as the import leaves them.
#[derive(Default)]
struct Rows {
    iccids: HashMap<String, usize>,
    imsis_used: HashSet<String>,
    profiles: Vec<Profile>,
    imsis: Vec<Imsi>,
}

impl Inventory {
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
        let cols = header(rows.next(), file)?;
        let mut records = Records::new(rows, 2, progress);
        let mut errors = vec![];
        let mut good = Rows::default();
        for (line, rec) in &mut records {
            self.check_row(&cols, pool, line, &rec, &mut good, &mut errors)?;
        }
        let errors = records.finish(errors);
        if !errors.is_empty() {
            return Err(InventoryError::Rejected {
                file: file.into(),
                errors,
            });
        }
        if good.profiles.is_empty() {
            return Err(invalid("file", format!("{file}: no profile in the file")));
        }
        self.commit_profiles(actor, pool, file, &mut stock, &good)?;
        progress(good.profiles.len() as u64);
        Ok(ImportReport {
            name: pool.into(),
            imported: good.profiles.len() as u64,
        })
    }

    /// Checks one row; a good one joins `good`, a bad one's faults go to
    /// `errors`.
    fn check_row(
        &self,
        cols: &Columns,
        pool: &str,
        line: usize,
        rec: &csv::StringRecord,
        good: &mut Rows,
        errors: &mut Vec<LineError>,
    ) -> Result<(), InventoryError> {
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
        let field = |name: &str| get(cols.col(name));
        let before = errors.len();
        let iccid = field("iccid");
        if let Some(why) = self.iccid_fault(&good.iccids, &iccid)? {
            err(errors, line, "iccid", &iccid, &why);
        }
        good.iccids.entry(iccid.clone()).or_insert(line);
        for (f, ok, want) in [
            ("ki", is_hex(&field("ki"), 32), "32 hex digits"),
            ("opc", is_hex(&field("opc"), 32), "32 hex digits"),
            ("pin1", is_digits(&field("pin1"), 4, 8), "4 to 8 digits"),
            ("pin2", is_digits(&field("pin2"), 4, 8), "4 to 8 digits"),
            ("puk1", is_digits(&field("puk1"), 8, 8), "8 digits"),
            ("puk2", is_digits(&field("puk2"), 8, 8), "8 digits"),
        ] {
            if !ok {
                // Secrets are never echoed back, not even in an error.
                err(errors, line, f, "<redacted>", want);
            }
        }
        let slots = cols.slots.iter().map(|&c| get(Some(c)));
        let imsis = self.row_imsis(slots, line, &mut good.imsis_used, errors)?;
        if imsis.is_empty() && errors.len() == before {
            err(
                errors,
                line,
                "imsi1",
                "",
                "a profile needs at least one IMSI",
            );
        }
        if errors.len() != before {
            return Ok(());
        }
        let profile = Profile {
            iccid: iccid.clone(),
            pool: pool.into(),
            imsis: imsis.iter().map(|i| i.imsi.clone()).collect(),
            transport_key_label: get(cols.col("transport_key_label")),
            ki: Secret(field("ki").to_ascii_uppercase()),
            opc: Secret(field("opc").to_ascii_uppercase()),
            pin1: Secret(field("pin1")),
            puk1: Secret(field("puk1")),
            pin2: Secret(field("pin2")),
            puk2: Secret(field("puk2")),
            state: ProfileState::Available,
        };
        for (slot, mut i) in imsis.into_iter().enumerate() {
            i.state = ImsiState::Embedded {
                profile: iccid.clone(),
                slot: slot as u8 + 1,
            };
            good.imsis.push(i);
        }
        good.profiles.push(profile);
        Ok(())
    }

    /// What is wrong with a row's ICCID, if anything; `seen` holds the
    /// file's ICCIDs so far, by first line.
    fn iccid_fault(
        &self,
        seen: &HashMap<String, usize>,
        iccid: &str,
    ) -> Result<Option<String>, InventoryError> {
        Ok(if !valid_iccid(iccid) {
            Some("must be 18 to 22 digits with a valid Luhn check digit".into())
        } else if let Some(first) = seen.get(iccid) {
            Some(format!("duplicate of line {first}"))
        } else if self.store.exists(&format!("profile/{iccid}"))? {
            Some("already in the inventory".into())
        } else {
            None
        })
    }

    /// The records of a row's IMSIs (`slots`: the imsi1… cells), each in
    /// the inventory, available and not used before in the file.
    fn row_imsis(
        &self,
        slots: impl Iterator<Item = String>,
        line: usize,
        used: &mut HashSet<String>,
        errors: &mut Vec<LineError>,
    ) -> Result<Vec<Imsi>, InventoryError> {
        let mut imsis = vec![];
        for (slot_no, v) in slots.enumerate() {
            if v.is_empty() {
                continue;
            }
            let field = format!("imsi{}", slot_no + 1);
            match self.store.get::<Imsi>(&format!("imsi/{v}"))? {
                None => err(
                    errors,
                    line,
                    &field,
                    &v,
                    "not in the inventory (import its batch first)",
                ),
                Some(i) if i.state != ImsiState::Available => {
                    err(errors, line, &field, &v, "not available")
                }
                Some(_) if !used.insert(v.clone()) => {
                    err(errors, line, &field, &v, "used twice in this file")
                }
                Some(i) => imsis.push(i),
            }
        }
        Ok(imsis)
    }

    /// The checked profiles and their IMSIs in one audited commit; then
    /// the resolver and the stock learn of them.
    fn commit_profiles(
        &self,
        actor: &str,
        pool: &str,
        file: &str,
        stock: &mut Stock,
        good: &Rows,
    ) -> Result<(), InventoryError> {
        let mut b = WriteBatch::default();
        for p in &good.profiles {
            b.put(format!("profile/{}", p.iccid), p);
        }
        for i in &good.imsis {
            b.put(format!("imsi/{}", i.imsi), i);
        }
        self.audit(
            &mut b,
            actor,
            "import-profiles",
            pool,
            None,
            Some(serde_json::json!({"count": good.profiles.len(), "file": file})),
        )?;
        let sponsor_of: HashMap<&str, &str> = good
            .imsis
            .iter()
            .map(|i| (i.imsi.as_str(), i.sponsor.as_str()))
            .collect();
        let sponsors_of = |p: &Profile| -> Vec<String> {
            p.imsis
                .iter()
                .filter_map(|i| sponsor_of.get(i.as_str()).map(|s| s.to_string()))
                .collect()
        };
        let added: Vec<Vec<String>> = good.profiles.iter().map(sponsors_of).collect();
        self.stock_refilled(stock, pool, added.iter().map(Vec::as_slice), &mut b)?;
        self.commit(b)?;
        for i in &good.imsis {
            self.index.put_imsi(i);
        }
        for (p, sponsors) in good.profiles.iter().zip(added) {
            self.index.put_profile(p);
            stock.added(pool, &p.iccid, sponsors);
        }
        Ok(())
    }
}

/// The file's header line, with every required column in it.
fn header(
    first: Option<csv::Result<csv::StringRecord>>,
    file: &str,
) -> Result<Columns, InventoryError> {
    let header: Vec<String> = match first {
        Some(Ok(h)) => h.iter().map(|s| s.to_ascii_lowercase()).collect(),
        _ => {
            return Err(invalid(
                "file",
                format!("{file}: empty; the first line must name the columns"),
            ))
        }
    };
    let cols = Columns::new(header);
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|c| cols.col(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(InventoryError::Rejected {
            file: file.into(),
            errors: vec![LineError {
                line: 1,
                field: "header".into(),
                value: cols.header.join(","),
                reason: format!("missing column(s) {}", missing.join(", ")),
            }],
        });
    }
    Ok(cols)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}
