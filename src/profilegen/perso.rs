//! The SM-DP+ "Perso" output file: the input's header, then a row per
//! profile of whatever the SM-DP+'s profile inventory needs (matching ids,
//! addresses …). gyro does not interpret the values: it checks the file
//! against its order, keeps each row per ICCID and hands it on.
//!
//! ```text
//! *HEADER DESCRIPTION
//! … (as the input file)
//! *OUTPUT VARIABLES
//! var_Out: ICCID/MATCHING_ID/SMDP_ADDRESS
//! 8949102620100000001 K2-1A2B-3C4D smdp.example.com
//! ```
//!
//! Both output files share the header; `output_kind` tells them apart by
//! their `var_Out` (a Standard file carries KI and OPC) and reads the order
//! id from Batch No, so a file is matched to its order whatever its name.

use std::collections::HashMap;
use std::io::Write;

use super::file::{header_fields, sections, write_header, FileErrors, WriteError, HEADER};
use super::standard::{check_header, OUTPUT_VARIABLES};
use super::OrderView;
use crate::model::order::Perso;
use crate::model::Secret;

/// Which output file a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Standard,
    Perso,
}

/// The order id (Batch No) and kind of an output file, if it has the two.
pub fn output_kind(text: &str) -> Option<(u64, OutputKind)> {
    let mut ignored = FileErrors::default();
    let secs = sections(text, &mut ignored);
    let (_, _, header) = secs.iter().find(|s| s.1 == HEADER)?;
    let fields = header_fields(header, &mut ignored);
    let id = fields.get("Batch No")?.1.parse().ok()?;
    let (_, _, vars) = secs.iter().find(|s| s.1 == OUTPUT_VARIABLES)?;
    let names = vars.first()?.1.strip_prefix("var_Out:")?.trim();
    let standard = names.split('/').any(|n| n == "KI" || n == "OPC");
    Some((
        id,
        if standard {
            OutputKind::Standard
        } else {
            OutputKind::Perso
        },
    ))
}

/// Parses and checks a Perso file against its order: its ICCIDs exactly
/// the order's, once each, every row with all the named fields.
pub fn parse_perso(text: &str, expect: &OrderView, order: u64) -> Result<Vec<Perso>, FileErrors> {
    let mut errors = FileErrors::default();
    let secs = sections(text, &mut errors);
    let last_line = text.lines().count().max(1);
    match secs.iter().find(|s| s.1 == HEADER) {
        Some((n, _, lines)) => {
            check_header(*n, lines, expect, &mut errors);
        }
        None => errors.push(1, HEADER, "", "missing"),
    }
    let Some((n, _, lines)) = secs.iter().find(|s| s.1 == OUTPUT_VARIABLES) else {
        errors.push(last_line, OUTPUT_VARIABLES, "", "missing");
        return Err(errors);
    };
    let names: Vec<String> = match lines.first().and_then(|(_, l)| l.strip_prefix("var_Out:")) {
        Some(v) => v.trim().split('/').map(str::to_string).collect(),
        None => {
            errors.push(*n, "var_Out", "", "missing");
            return Err(errors);
        }
    };
    if names.first().map(String::as_str) != Some("ICCID") || names.len() < 2 {
        let (vn, l) = lines[0];
        errors.push(
            vn,
            "var_Out",
            l,
            "expected 'var_Out: ICCID/…' with ICCID first",
        );
        return Err(errors);
    }
    let mut seen: HashMap<&str, Option<usize>> = expect
        .profiles
        .iter()
        .map(|p| (p.iccid.as_str(), None))
        .collect();
    let mut out = Vec::with_capacity(expect.profiles.len());
    for (ln, l) in lines.get(1..).unwrap_or_default() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != names.len() {
            let got = format!("{} fields", f.len());
            errors.push(*ln, "row", &got, &format!("expected {}", names.len()));
            continue;
        }
        match seen.get_mut(f[0]) {
            None => errors.push(*ln, "ICCID", f[0], "not in the order"),
            Some(Some(first)) => {
                errors.push(*ln, "ICCID", f[0], &format!("already on line {first}"))
            }
            Some(slot) => {
                *slot = Some(*ln);
                out.push(Perso {
                    iccid: f[0].to_string(),
                    order,
                    fields: names[1..]
                        .iter()
                        .zip(&f[1..])
                        .map(|(k, v)| (k.clone(), Secret(v.to_string())))
                        .collect(),
                });
            }
        }
    }
    let mut absent: Vec<&str> = seen
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| *i)
        .collect();
    absent.sort_unstable();
    for iccid in absent {
        errors.push(last_line, "ICCID", iccid, "ordered but not in the file");
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Writes a Perso file (the SM-DP+ double in tests and benches).
pub fn write_perso(
    order: &OrderView,
    names: &[&str],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, WriteError> {
    let mut out = Vec::with_capacity(256 + rows.len() * 64);
    let mut header = order.header();
    header.quantity = rows.len();
    write_header(&mut out, &header)?;
    let _ = writeln!(out, "{OUTPUT_VARIABLES}\nvar_Out: {}", names.join("/"));
    for r in rows {
        let _ = writeln!(out, "{}", r.join(" "));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profilegen::fixtures;
    use crate::profilegen::write_standard;

    fn perso_rows(order: &OrderView) -> Vec<Vec<String>> {
        order
            .profiles
            .iter()
            .map(|p| vec![p.iccid.clone(), format!("MID-{}", &p.iccid[12..])])
            .collect()
    }

    #[test]
    fn kinds_and_order_ids_are_read_from_the_files() {
        let order = fixtures::order(3, 2);
        let std = write_standard(&order, &fixtures::rows(&order)).unwrap();
        let perso = write_perso(&order, &["ICCID", "MATCHING_ID"], &perso_rows(&order)).unwrap();
        let id: u64 = order.order_id.parse().unwrap();
        let kind = |b: &[u8]| output_kind(std::str::from_utf8(b).unwrap());
        assert_eq!(kind(&std), Some((id, OutputKind::Standard)));
        assert_eq!(kind(&perso), Some((id, OutputKind::Perso)));
        assert_eq!(output_kind("*HEADER DESCRIPTION\nCustomer: x\n"), None);
    }

    #[test]
    fn a_good_perso_file_gives_a_row_per_iccid() {
        let order = fixtures::order(3, 2);
        let text = write_perso(&order, &["ICCID", "MATCHING_ID"], &perso_rows(&order)).unwrap();
        let rows = parse_perso(std::str::from_utf8(&text).unwrap(), &order, 7).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].iccid, order.profiles[0].iccid);
        assert_eq!(rows[0].order, 7);
        assert_eq!(rows[0].fields[0].0, "MATCHING_ID");
        let shown = format!("{:?}", rows[0]);
        assert!(shown.contains("MATCHING_ID"), "{shown}");
        assert!(!shown.contains("MID-"), "a Perso value in Debug: {shown}");
    }

    #[test]
    fn a_foreign_or_missing_iccid_rejects_the_whole_file() {
        let order = fixtures::order(3, 2);
        let mut rows = perso_rows(&order);
        rows[1][0] = "8949000000000000000".into();
        let text = write_perso(&order, &["ICCID", "MATCHING_ID"], &rows).unwrap();
        let e = parse_perso(std::str::from_utf8(&text).unwrap(), &order, 7).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("ICCID '8949000000000000000': not in the order"),
            "{text}"
        );
        assert!(text.contains("ordered but not in the file"), "{text}");
    }
}
