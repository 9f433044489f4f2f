//! Instants as people read them: `UnixTime` to and from RFC 3339
//! (`2026-03-01T00:00:00Z`), for the API, the CLI, events and the audit.

use super::UnixTime;

/// A time that is not RFC 3339; says what was given and why it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' is not an RFC 3339 time: {reason}")]
pub struct Rfc3339Error {
    given: String,
    reason: String,
}

/// Formats a UTC instant as RFC 3339 (civil-from-days, no time-zone database).
pub fn rfc3339(unix: UnixTime) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Parses an RFC 3339 instant with any offset (`2026-03-01T01:00:00+01:00`).
pub fn parse_rfc3339(s: &str) -> Result<UnixTime, Rfc3339Error> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| Rfc3339Error {
            given: s.to_string(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parsing_takes_any_offset_and_names_what_it_refuses() {
        assert_eq!(
            parse_rfc3339("2024-01-01T01:00:00+01:00"),
            Ok(1_704_067_200)
        );
        let e = parse_rfc3339("yesterday").unwrap_err().to_string();
        assert!(
            e.starts_with("'yesterday' is not an RFC 3339 time: "),
            "{e}"
        );
    }
}
