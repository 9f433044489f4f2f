//! A bad rating file is refused with `FILE:LINE: key: why`, for every kind
//! of fault: syntax, unknown field, wrong type, and the checks `parse` makes
//! after the toml crate is done.

use super::*;

const FILE: &str = "config/rating.toml";

/// The embedded file with one line changed; returns the text and that line.
fn edited(from: &str, to: &str) -> (String, usize) {
    assert_eq!(EMBEDDED.matches(from).count(), 1, "{from}");
    let text = EMBEDDED.replace(from, to);
    let first = to.lines().next().unwrap();
    let line = text.lines().position(|l| l.contains(first)).unwrap() + 1;
    (text, line)
}

/// Parses, and checks the error starts with FILE:LINE and names each of `names`.
fn refused(text: &str, line: usize, names: &[&str]) -> String {
    let e = Rating::parse(text, FILE).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{FILE}:{line}: ")), "{e}");
    for n in names {
        assert!(e.contains(n), "{n} missing in: {e}");
    }
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn syntax_error() {
    let (text, line) = edited("data_octets = 10000000\n", "data_octets = 10000000 =\n");
    refused(&text, line, &["grant.data_octets"]);
    let (text, line) = edited("validity_time = \"10m\"", "validity_time = \"10m");
    refused(&text, line, &["grant.validity_time"]);
}

#[test]
fn unknown_field() {
    let (text, line) = edited(
        "voice_seconds = 300\n",
        "voice_seconds = 300\nvoice_second = 1\n",
    );
    refused(&text, line + 1, &["grant.voice_second", "unknown field"]);
}

#[test]
fn wrong_type() {
    let (text, line) = edited("voice_seconds = 300\n", "voice_seconds = \"300\"\n");
    refused(&text, line, &["grant.voice_seconds", "invalid type"]);
}

#[test]
fn bad_rate_code_in_a_group() {
    // E212-232-01 is in both groups: the line is that of the group at fault.
    let (text, line) = edited("\"E212-440-00\"", "\"E212-44x-00\"");
    refused(
        &text,
        line,
        &["rate_code_groups.\"world\"", "'E212-44x-00'"],
    );
}

#[test]
fn bad_network_in_a_tariff() {
    let (text, line) = edited("\"21377\" = \"1.01\"", "\"2137x\" = \"1.01\"");
    refused(&text, line, &["tariff partner-x", "network '2137x'"]);
}

#[test]
fn negative_price() {
    let (text, line) = edited("\"29701\" = \"0.41\"", "\"29701\" = \"-0.41\"");
    refused(
        &text,
        line,
        &["tariff partner-y", "network 29701", "negative"],
    );
}

#[test]
fn validity_time_under_a_second() {
    let (text, line) = edited("validity_time = \"10m\"", "validity_time = \"500ms\"");
    refused(&text, line, &["grant.validity_time", "at least 1s"]);
}

#[test]
fn a_fault_not_found_in_the_text_still_names_the_file() {
    // Parsed values no longer say where they came from: a rate code written
    // with an escape is not found again, and the error keeps the file.
    let (text, _) = edited("\"E212-440-00\"", "\"E212-44\\u0078-00\"");
    let e = Rating::parse(&text, FILE).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{FILE}: rate_code_groups")), "{e}");
}
