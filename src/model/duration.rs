//! Durations as operators write them in configuration.

use std::time::Duration;

use serde::Deserialize;

/// A duration written as `30s`, `500ms`, `5m`, `12h` or `180d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumaneDuration(pub Duration);

impl std::str::FromStr for HumaneDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (n, unit) = s.split_at(split);
        let n: u64 = n
            .parse()
            .map_err(|_| format!("'{s}' is not a duration like 30s, 5m, 12h or 180d"))?;
        let secs = |k: u64| Duration::from_secs(n.saturating_mul(k));
        Ok(HumaneDuration(match unit {
            "ms" => Duration::from_millis(n),
            "s" => secs(1),
            "m" => secs(60),
            "h" => secs(3600),
            "d" => secs(86_400),
            _ => return Err(format!("'{s}': unit must be ms, s, m, h or d")),
        }))
    }
}

impl<'de> Deserialize<'de> for HumaneDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
