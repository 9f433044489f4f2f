//! The SM-DP+ input file, in the SIM vendors' file family (sections start
//! with `*`, one row per card, fields separated by spaces):
//!
//! ```text
//! *HEADER DESCRIPTION
//! Customer: Local MNO
//! ProfileType: Own+X for EU Neighbour - Andorra
//! Batch No: 17
//! Quantity: 2
//! Transport Key: MNO.PROD.SM.TRK.AES
//! *INPUT VARIABLES
//! var_In: ICCID IMSI1 IMSI2
//! *RULES
//! 262 01 IMSI1 high
//! 213 77 IMSI2 high
//! 213 78 IMSI2 med
//! *INPUT DATA
//! 8949102620100000001 262019000000001 213779000000001
//! 8949102620100000019 262019000000002 213779000000002
//! ```
//!
//! The rows follow an `*INPUT DATA` line rather than the rules directly, so
//! that a reader never has to guess where the rules end. A rule with several
//! positions takes one line per position, most preferred first. The header
//! and section helpers here are shared with the "Standard" output parser.

use std::collections::HashMap;
use std::io::Write;

use super::rules::{Pref, Rule};
use super::OrderProfile;
use super::OrderView;
use crate::inventory::LineError;

pub(crate) const HEADER: &str = "*HEADER DESCRIPTION";
pub(crate) const INPUT_VARIABLES: &str = "*INPUT VARIABLES";
pub(crate) const RULES: &str = "*RULES";
pub(crate) const INPUT_DATA: &str = "*INPUT DATA";
/// At most this many errors are listed; `FileErrors::total` counts them all.
pub(crate) const MAX_REPORTED: usize = 1000;

/// The `*HEADER DESCRIPTION` fields gyro writes and checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub customer: String,
    pub profile_type: String,
    pub batch_no: String,
    pub quantity: usize,
    pub transport_key: String,
}

/// Every fault found in a file, each with its line and field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileErrors {
    /// The first `MAX_REPORTED`, in the order found.
    pub errors: Vec<LineError>,
    pub total: usize,
}

impl FileErrors {
    pub(crate) fn push(&mut self, line: usize, field: &str, value: &str, reason: &str) {
        self.total += 1;
        if self.errors.len() < MAX_REPORTED {
            self.errors.push(LineError {
                line,
                field: field.into(),
                value: value.chars().take(40).collect(),
                reason: reason.into(),
            });
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl std::fmt::Display for FileErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} error(s)", self.total)?;
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileErrors {}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The file is line-based: a line break would split a header field.
    #[error("{field}: must not contain a line break")]
    LineBreak { field: &'static str },
    #[error("profile {iccid}: {got} IMSIs, the order has {want} per profile")]
    ImsiCount {
        iccid: String,
        got: usize,
        want: usize,
    },
}

/// Writes the header section.
pub(crate) fn write_header(out: &mut Vec<u8>, h: &Header) -> Result<(), WriteError> {
    let fields = [
        ("Customer", h.customer.as_str()),
        ("ProfileType", h.profile_type.as_str()),
        ("Batch No", h.batch_no.as_str()),
        ("Transport Key", h.transport_key.as_str()),
    ];
    if let Some((field, _)) = fields.iter().find(|(_, v)| v.contains(['\n', '\r'])) {
        return Err(WriteError::LineBreak { field });
    }
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "{HEADER}\nCustomer: {}\nProfileType: {}\nBatch No: {}\nQuantity: {}\nTransport Key: {}\n",
        h.customer, h.profile_type, h.batch_no, h.quantity, h.transport_key
    );
    Ok(())
}

/// `IMSI1 IMSI2 …` joined by `sep`.
pub(crate) fn imsi_names(k: usize, sep: &str) -> String {
    (1..=k)
        .map(|i| format!("IMSI{i}"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// The whole input file for `order` with `rules`.
pub fn write_input(order: &OrderView, rules: &[Rule]) -> Result<Vec<u8>, WriteError> {
    let k = order.imsis_per_profile;
    // ICCID (≤ 22) + K IMSIs (15) and separators per row.
    let mut out = Vec::with_capacity(512 + order.profiles.len() * (24 + 16 * k));
    write_header(&mut out, &order.header())?;
    let _ = writeln!(
        out,
        "{INPUT_VARIABLES}\nvar_In: ICCID {}",
        imsi_names(k, " ")
    );
    let _ = writeln!(out, "{RULES}");
    for r in rules {
        for (pos, pref) in &r.positions {
            let _ = writeln!(out, "{} {} IMSI{pos} {}", r.mcc, r.mnc, pref.as_str());
        }
    }
    let _ = writeln!(out, "{INPUT_DATA}");
    for p in &order.profiles {
        if p.imsis.len() != k {
            return Err(WriteError::ImsiCount {
                iccid: p.iccid.clone(),
                got: p.imsis.len(),
                want: k,
            });
        }
        out.extend_from_slice(p.iccid.as_bytes());
        for imsi in &p.imsis {
            out.push(b' ');
            out.extend_from_slice(imsi.as_bytes());
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// The input file as read back (by tests and the SM-DP+ double).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub header: Header,
    pub imsis_per_profile: usize,
    pub rules: Vec<Rule>,
    pub profiles: Vec<OrderProfile>,
}

/// Numbered lines without their line ends, blank ones skipped.
pub(crate) fn numbered(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r').trim()))
        .filter(|(_, l)| !l.is_empty())
}

/// `Key: value` lines of a header section, by key (the first of a repeated
/// key wins; repeats are errors).
pub(crate) type HeaderFields<'a> = HashMap<&'a str, (usize, &'a str)>;

pub(crate) fn header_fields<'a>(
    lines: &[(usize, &'a str)],
    errors: &mut FileErrors,
) -> HeaderFields<'a> {
    let mut fields = HashMap::new();
    for (n, l) in lines {
        match l.split_once(':') {
            Some((k, v)) => {
                if fields.insert(k.trim(), (*n, v.trim())).is_some() {
                    // Named by a fixed field: the key is the file's text.
                    errors.push(*n, "header", k.trim(), "key given twice");
                }
            }
            None => errors.push(*n, "header", l, "expected 'Key: value'"),
        }
    }
    fields
}

/// A header field that must be there; None (and an error) when it is not.
pub(crate) fn required<'a>(
    fields: &HeaderFields<'a>,
    key: &str,
    at: usize,
    errors: &mut FileErrors,
) -> Option<(usize, &'a str)> {
    let v = fields.get(key).copied();
    if v.is_none() {
        errors.push(at, key, "", "missing from the header");
    }
    v
}

/// A `*` section: its line, its name, and its numbered lines.
pub(crate) type Section<'a> = (usize, &'a str, Vec<(usize, &'a str)>);

/// Splits the file into sections: (line of the `*` line, its name, the
/// lines up to the next section). Lines before the first section are
/// reported.
pub(crate) fn sections<'a>(text: &'a str, errors: &mut FileErrors) -> Vec<Section<'a>> {
    let mut out: Vec<Section<'a>> = vec![];
    for (n, l) in numbered(text) {
        if l.starts_with('*') {
            out.push((n, l, vec![]));
        } else if let Some(last) = out.last_mut() {
            last.2.push((n, l));
        } else {
            errors.push(n, "section", l, "text before the first '*' section");
        }
    }
    out
}

/// Reads an input file back, checking its layout.
pub fn parse_input(text: &str) -> Result<InputFile, FileErrors> {
    let mut errors = FileErrors::default();
    let secs = sections(text, &mut errors);
    let find = |name: &str| secs.iter().find(|s| s.1 == name);
    let last_line = text.lines().count().max(1);
    let mut header = None;
    match find(HEADER) {
        Some((n, _, lines)) => header = parse_header(*n, lines, &mut errors),
        None => errors.push(1, HEADER, "", "missing"),
    }
    let mut k = 0;
    match find(INPUT_VARIABLES).and_then(|s| s.2.first()) {
        Some((n, l)) => match l
            .strip_prefix("var_In:")
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
        {
            Some(names) if names.first() == Some(&"ICCID") => {
                let imsis = &names[1..];
                k = imsis.len();
                if imsis.join(" ") != imsi_names(k, " ") || !(1..=10).contains(&k) {
                    errors.push(*n, "var_In", l, "expected ICCID IMSI1 … IMSIk, k 1 to 10");
                }
            }
            _ => errors.push(*n, "var_In", l, "expected 'var_In: ICCID IMSI1 …'"),
        },
        None => errors.push(last_line, INPUT_VARIABLES, "", "missing or empty"),
    }
    let rules = match find(RULES) {
        Some((_, _, lines)) => parse_rules(lines, k, &mut errors),
        None => {
            errors.push(last_line, RULES, "", "missing");
            vec![]
        }
    };
    let mut profiles = vec![];
    match find(INPUT_DATA) {
        Some((_, _, lines)) => {
            for (n, l) in lines {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() != k + 1 {
                    let got = format!("{} fields", f.len());
                    errors.push(*n, "row", &got, &format!("expected {}", k + 1));
                    continue;
                }
                profiles.push(OrderProfile {
                    iccid: f[0].to_string(),
                    imsis: f[1..].iter().map(|s| s.to_string()).collect(),
                });
            }
        }
        None => errors.push(last_line, INPUT_DATA, "", "missing"),
    }
    if let Some(h) = &header {
        if h.quantity != profiles.len() {
            let got = profiles.len().to_string();
            errors.push(last_line, "Quantity", &got, "rows differ from Quantity");
        }
    }
    match header {
        Some(header) if errors.is_empty() => Ok(InputFile {
            header,
            imsis_per_profile: k,
            rules,
            profiles,
        }),
        _ => Err(errors),
    }
}

/// The header section's fields; None when one is missing or malformed.
pub(crate) fn parse_header(
    at: usize,
    lines: &[(usize, &str)],
    errors: &mut FileErrors,
) -> Option<Header> {
    let fields = header_fields(lines, errors);
    let mut get = |key| required(&fields, key, at, errors).map(|(_, v)| v.to_string());
    let (customer, profile_type, batch_no, quantity, transport_key) = (
        get("Customer"),
        get("ProfileType"),
        get("Batch No"),
        get("Quantity"),
        get("Transport Key"),
    );
    let quantity = match quantity.as_deref().map(str::parse::<usize>) {
        Some(Ok(q)) => Some(q),
        Some(Err(_)) => {
            let (n, v) = fields["Quantity"];
            errors.push(n, "Quantity", v, "not a number");
            None
        }
        None => None,
    };
    Some(Header {
        customer: customer?,
        profile_type: profile_type?,
        batch_no: batch_no?,
        quantity: quantity?,
        transport_key: transport_key?,
    })
}

/// `MCC MNC IMSIn PREF` lines; consecutive lines of one network form one rule.
fn parse_rules(lines: &[(usize, &str)], k: usize, errors: &mut FileErrors) -> Vec<Rule> {
    let mut rules: Vec<Rule> = vec![];
    for (n, l) in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [mcc, mnc, imsi, pref] = f[..] else {
            errors.push(*n, "rule", l, "expected 'MCC MNC IMSIn PREF'");
            continue;
        };
        let digits = |s: &str, lens: &[usize]| {
            lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        let pos = imsi.strip_prefix("IMSI").and_then(|p| p.parse::<u8>().ok());
        let pref = Pref::parse(pref);
        match (digits(mcc, &[3]), digits(mnc, &[2, 3]), pos, pref) {
            (true, true, Some(p), Some(pref)) if (1..=k).contains(&usize::from(p)) => {
                match rules.last_mut() {
                    Some(r) if r.mcc == mcc && r.mnc == mnc => r.positions.push((p, pref)),
                    _ => rules.push(Rule {
                        mcc: mcc.into(),
                        mnc: mnc.into(),
                        positions: vec![(p, pref)],
                    }),
                }
            }
            _ => errors.push(*n, "rule", l, "bad MCC, MNC, IMSI position or preference"),
        }
    }
    rules
}

#[cfg(test)]
mod tests;
