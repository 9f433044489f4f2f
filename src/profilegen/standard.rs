//! The SM-DP+ "Standard" output file: the input's header, then the
//! generated secrets per profile.
//!
//! ```text
//! *HEADER DESCRIPTION
//! Customer: Local MNO
//! ProfileType: Own+X for EU Neighbour - Andorra
//! Batch No: 17
//! Quantity: 1
//! Transport Key: MNO.PROD.SM.TRK.AES
//! *OUTPUT VARIABLES
//! var_Out: ICCID/IMSI1/IMSI2/KI/OPC/PIN1/PUK1/PIN2/PUK2
//! 8949102620100000001 262019000000001 213779000000001 D07F…CDB F94D…547D 1111 11111111 2222 22222222
//! ```
//!
//! The parser checks the whole file against its order and lists every fault
//! (line, field, reason) rather than stopping at the first, so one rejection
//! tells the vendor everything. A secret's value never goes into an error.
//! Other sections a vendor adds (an echoed `*INPUT VARIABLES`) are ignored.

use std::collections::HashMap;
use std::io::Write;

use super::file::{
    header_fields, imsi_names, required, sections, write_header, FileErrors, WriteError, HEADER,
};
use super::OrderView;
use crate::model::Secret;

pub(crate) const OUTPUT_VARIABLES: &str = "*OUTPUT VARIABLES";
const REDACTED: &str = "<redacted>";

/// One generated profile. Ki and OPc are the transport-key ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRow {
    pub iccid: String,
    pub imsis: Vec<String>,
    pub ki: Secret,
    pub opc: Secret,
    pub pin1: Secret,
    pub puk1: Secret,
    pub pin2: Secret,
    pub puk2: Secret,
}

/// `ICCID/IMSI1/…/IMSIk/KI/OPC/PIN1/PUK1/PIN2/PUK2`.
pub fn var_out(k: usize) -> String {
    format!("ICCID/{}/KI/OPC/PIN1/PUK1/PIN2/PUK2", imsi_names(k, "/"))
}

/// Writes a Standard file for `order` (what the SM-DP+ sends back; used by
/// tests, benches and the SM-DP+ double).
pub fn write_standard(order: &OrderView, rows: &[ProfileRow]) -> Result<Vec<u8>, WriteError> {
    let mut out = Vec::with_capacity(512 + rows.len() * (120 + 16 * order.imsis_per_profile));
    let mut header = order.header();
    header.quantity = rows.len();
    write_header(&mut out, &header)?;
    let _ = writeln!(
        out,
        "{OUTPUT_VARIABLES}\nvar_Out: {}",
        var_out(order.imsis_per_profile)
    );
    for r in rows {
        out.extend_from_slice(r.iccid.as_bytes());
        let secrets = [&r.ki, &r.opc, &r.pin1, &r.puk1, &r.pin2, &r.puk2];
        let fields = r.imsis.iter().map(String::as_str);
        for f in fields.chain(secrets.iter().map(|s| s.expose())) {
            out.push(b' ');
            out.extend_from_slice(f.as_bytes());
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// Parses and validates a Standard file against `expect`; every fault is
/// reported, and nothing is returned unless the file is wholly right.
pub fn parse_standard(text: &str, expect: &OrderView) -> Result<Vec<ProfileRow>, FileErrors> {
    let mut errors = FileErrors::default();
    let secs = sections(text, &mut errors);
    let last_line = text.lines().count().max(1);
    let quantity_line = match secs.iter().find(|s| s.1 == HEADER) {
        Some((n, _, lines)) => check_header(*n, lines, expect, &mut errors),
        None => {
            errors.push(1, HEADER, "", "missing");
            1
        }
    };
    let Some((n, _, lines)) = secs.iter().find(|s| s.1 == OUTPUT_VARIABLES) else {
        errors.push(last_line, OUTPUT_VARIABLES, "", "missing");
        return Err(errors);
    };
    let want = var_out(expect.imsis_per_profile);
    let layout_ok = match lines.first() {
        Some((vn, l)) => {
            let got = l.strip_prefix("var_Out:").map(str::trim);
            if got != Some(want.as_str()) {
                errors.push(*vn, "var_Out", l, &format!("expected 'var_Out: {want}'"));
            }
            got == Some(want.as_str())
        }
        None => {
            errors.push(*n, "var_Out", "", "missing");
            false
        }
    };
    let rows = lines.get(1..).unwrap_or_default();
    if rows.len() != expect.profiles.len() {
        let got = format!("{} rows", rows.len());
        let reason = format!("the order has {}", expect.profiles.len());
        errors.push(quantity_line, "rows", &got, &reason);
    }
    let mut out = Vec::with_capacity(rows.len());
    // Rows are only read field by field when the layout is the expected one:
    // otherwise every row would repeat the same fault.
    if layout_ok {
        let mut check = RowCheck::new(expect);
        for (n, l) in rows {
            if let Some(row) = check.row(*n, l, &mut errors) {
                out.push(row);
            }
        }
        check.missing(last_line, &mut errors);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Checks the header against the order; returns the Quantity line (where
/// count faults are reported).
pub(crate) fn check_header(
    at: usize,
    lines: &[(usize, &str)],
    expect: &OrderView,
    errors: &mut FileErrors,
) -> usize {
    let fields = header_fields(lines, errors);
    let n = expect.profiles.len().to_string();
    let wanted = [
        ("ProfileType", expect.pool.as_str()),
        ("Batch No", expect.order_id.as_str()),
        ("Quantity", n.as_str()),
        ("Transport Key", expect.transport_key.as_str()),
    ];
    let mut quantity_line = at;
    for (key, want) in wanted {
        if let Some((line, got)) = required(&fields, key, at, errors) {
            if key == "Quantity" {
                quantity_line = line;
            }
            if got != want {
                errors.push(line, key, got, &format!("the order's is '{want}'"));
            }
        }
    }
    quantity_line
}

/// A secret field: its name, its value, its format check, the reason given.
type SecretCheck<'a> = (&'static str, &'a str, fn(&str) -> bool, &'static str);

/// Row-by-row checks against the order, remembering the ICCIDs seen.
struct RowCheck<'o> {
    k: usize,
    /// ICCID → (its IMSIs, the line it was seen on).
    order: HashMap<&'o str, (&'o [String], Option<usize>)>,
}

impl<'o> RowCheck<'o> {
    fn new(expect: &'o OrderView) -> Self {
        let order = expect
            .profiles
            .iter()
            .map(|p| (p.iccid.as_str(), (p.imsis.as_slice(), None)))
            .collect();
        RowCheck {
            k: expect.imsis_per_profile,
            order,
        }
    }

    fn row(&mut self, n: usize, line: &str, errors: &mut FileErrors) -> Option<ProfileRow> {
        let f: Vec<&str> = line.split_whitespace().collect();
        let k = self.k;
        if f.len() != k + 7 {
            // The row's text holds secrets: only its shape is reported.
            let got = format!("{} fields", f.len());
            errors.push(n, "row", &got, &format!("expected {}", k + 7));
            return None;
        }
        let before = errors.total;
        self.iccid_and_imsis(n, &f[..=k], errors);
        let s = &f[k + 1..];
        let secret_checks: [SecretCheck; 6] = [
            ("KI", s[0], is_hex32, "expected 32 hex digits"),
            ("OPC", s[1], is_hex32, "expected 32 hex digits"),
            ("PIN1", s[2], is_pin, "expected 4 to 8 digits"),
            ("PUK1", s[3], is_puk, "expected 8 digits"),
            ("PIN2", s[4], is_pin, "expected 4 to 8 digits"),
            ("PUK2", s[5], is_puk, "expected 8 digits"),
        ];
        for (field, value, ok, reason) in secret_checks {
            if !ok(value) {
                errors.push(n, field, REDACTED, reason);
            }
        }
        (errors.total == before).then(|| ProfileRow {
            iccid: f[0].to_string(),
            imsis: f[1..=k].iter().map(|s| s.to_string()).collect(),
            ki: Secret(s[0].to_string()),
            opc: Secret(s[1].to_string()),
            pin1: Secret(s[2].to_string()),
            puk1: Secret(s[3].to_string()),
            pin2: Secret(s[4].to_string()),
            puk2: Secret(s[5].to_string()),
        })
    }

    /// `ids` = ICCID then the K IMSIs.
    fn iccid_and_imsis(&mut self, n: usize, ids: &[&str], errors: &mut FileErrors) {
        let iccid = ids[0];
        let Some((imsis, seen)) = self.order.get_mut(iccid) else {
            errors.push(n, "ICCID", iccid, "not in the order");
            return;
        };
        if let Some(first) = *seen {
            errors.push(n, "ICCID", iccid, &format!("already on line {first}"));
            return;
        }
        *seen = Some(n);
        for (i, (got, want)) in ids[1..].iter().zip(imsis.iter()).enumerate() {
            if *got != want {
                let reason = format!("the order has {want} for this ICCID");
                errors.push(n, &format!("IMSI{}", i + 1), got, &reason);
            }
        }
    }

    /// Ordered ICCIDs the file did not carry.
    fn missing(&self, last_line: usize, errors: &mut FileErrors) {
        let mut absent: Vec<&str> = self
            .order
            .iter()
            .filter(|(_, (_, seen))| seen.is_none())
            .map(|(iccid, _)| *iccid)
            .collect();
        absent.sort_unstable();
        for iccid in absent {
            errors.push(last_line, "ICCID", iccid, "ordered but not in the file");
        }
    }
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_pin(s: &str) -> bool {
    (4..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_puk(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
