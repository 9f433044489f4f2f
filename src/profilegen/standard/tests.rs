//! The Standard file: a good file for K = 1, 2 and 10, every fault of a bad
//! one reported with line and field, and no secret in any error.

use super::*;
use crate::profilegen::fixtures::{order, rows};

fn good(o: &OrderView) -> String {
    String::from_utf8(write_standard(o, &rows(o)).unwrap()).unwrap()
}

fn faults(e: &FileErrors) -> Vec<(usize, &str)> {
    e.errors
        .iter()
        .map(|e| (e.line, e.field.as_str()))
        .collect()
}

#[test]
fn a_good_file_parses_for_one_two_and_ten_imsis() {
    for k in [1, 2, 10] {
        let o = order(5, k);
        let parsed = parse_standard(&good(&o), &o).unwrap();
        assert_eq!(parsed, rows(&o), "k = {k}");
    }
}

#[test]
fn the_story_layout_with_crlf_and_an_echoed_input_section() {
    let o = order(1, 2);
    let p = &o.profiles[0];
    let text = format!(
        "*HEADER DESCRIPTION\r\nCustomer: Local MNO\r\nProfileType: {}\r\nOrder Date: 20251223\r\n\
         Batch No: 17\r\nQuantity: 1\r\nTransport Key: MNO.PROD.SM.TRK.AES\r\n\
         *INPUT VARIABLES\r\nvar_In: ICCID IMSI1 IMSI2\r\n\
         *OUTPUT VARIABLES\r\nvar_Out: ICCID/IMSI1/IMSI2/KI/OPC/PIN1/PUK1/PIN2/PUK2\r\n\
         {} {} {} D07F9224CB230F5EDE645CA0D98C9CDB F94DEB6986F99DEC02374C58E1B1547D 1111 11111111 2222 22222222\r\n",
        o.pool, p.iccid, p.imsis[0], p.imsis[1]
    );
    let parsed = parse_standard(&text, &o).unwrap();
    assert_eq!(parsed[0].pin1.expose(), "1111");
    assert_eq!(parsed[0].ki.expose(), "D07F9224CB230F5EDE645CA0D98C9CDB");
}

#[test]
fn every_fault_is_listed_and_no_secret_is_shown() {
    let o = order(4, 2);
    let mut r = rows(&o);
    r[0].iccid = "8949102620100000999".into(); // foreign
    r[1].imsis[1] = "213779999999999".into(); // someone else's IMSI
    r[2].ki = crate::model::Secret("D07F9224CB230F5EDE645CA0D98C9CDZ".into());
    r[2].pin1 = crate::model::Secret("12".into());
    r[3].puk2 = crate::model::Secret("1234567".into());
    let mut text = String::from_utf8(write_standard(&o, &r).unwrap()).unwrap();
    text = text.replace("Batch No: 17", "Batch No: 18");
    let e = parse_standard(&text, &o).unwrap_err();
    assert_eq!(
        faults(&e),
        [
            (4, "Batch No"),
            (9, "ICCID"),
            (10, "IMSI2"),
            (11, "KI"),
            (11, "PIN1"),
            (12, "PUK2"),
            (12, "ICCID"),
        ],
        "{e}"
    );
    let shown = e.to_string();
    for s in ["D07F9224", "1234567", "'12'"] {
        assert!(!shown.contains(s), "{shown}");
    }
    assert!(shown.contains("<redacted>"));
}

#[test]
fn counts_must_match_the_order() {
    let o = order(3, 2);
    let text = good(&o);
    // One row short, Quantity still 3: the missing ICCID and the count.
    let short: String = text.lines().take(10).map(|l| format!("{l}\n")).collect();
    let e = parse_standard(&short, &o).unwrap_err();
    assert_eq!(faults(&e), [(5, "rows"), (10, "ICCID")], "{e}");
    // Quantity changed to fit a bigger order.
    let bigger = order(4, 2);
    let e = parse_standard(&text, &bigger).unwrap_err();
    assert_eq!(
        faults(&e),
        [(5, "Quantity"), (5, "rows"), (11, "ICCID")],
        "{e}"
    );
    // A row given twice instead of another.
    let lines: Vec<&str> = text.lines().collect();
    let twice = format!("{}\n{}\n", lines[..10].join("\n"), lines[9]);
    let e = parse_standard(&twice, &o).unwrap_err();
    assert_eq!(faults(&e), [(11, "ICCID"), (11, "ICCID")], "{e}");
    assert!(e.errors[0].reason.contains("already on line 10"), "{e}");
}

#[test]
fn a_wrong_layout_or_missing_sections_are_reported() {
    let o = order(2, 2);
    let three = good(&o).replace("IMSI2/KI", "IMSI2/IMSI3/KI");
    let e = parse_standard(&three, &o).unwrap_err();
    assert_eq!(faults(&e), [(8, "var_Out")], "{e}");
    let e = parse_standard("", &o).unwrap_err();
    assert_eq!(
        faults(&e),
        [(1, "*HEADER DESCRIPTION"), (1, "*OUTPUT VARIABLES")]
    );
    let short_row = good(&o).replace(" 2222 22222222\n", "\n");
    let e = parse_standard(&short_row, &o).unwrap_err();
    assert_eq!(e.errors[0].value, "7 fields", "{e}");
}

#[test]
fn ten_thousand_rows_parse() {
    // Speed is the bench's (benches/profilegen.rs): this checks the size.
    let o = order(10_000, 2);
    let text = good(&o);
    assert_eq!(parse_standard(&text, &o).unwrap().len(), 10_000);
}

#[test]
fn a_repeated_header_key_is_named_by_a_fixed_field() {
    // Found by the fuzz target: a header key like "OPC" must not pass for a secret field.
    let o = order(1, 1);
    let text = good(&o).replace("Customer: Local MNO", "OPC: x\nOPC: y");
    let e = parse_standard(&text, &o).unwrap_err();
    assert_eq!(faults(&e), [(3, "header")], "{e}");
    assert_eq!(e.errors[0].value, "OPC");
}
