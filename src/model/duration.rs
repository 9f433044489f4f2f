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

impl std::fmt::Display for HumaneDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        let s = self.0.as_secs();
        if ms % 1000 != 0 {
            write!(f, "{ms}ms")
        } else if s != 0 && s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s != 0 && s % 3600 == 0 {
            write!(f, "{}h", s / 3600)
        } else if s != 0 && s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl serde::Serialize for HumaneDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl HumaneDuration {
    pub fn secs(&self) -> i64 {
        self.0.as_secs() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::HumaneDuration;

    #[test]
    fn written_back_as_read() {
        for s in ["500ms", "30s", "5m", "12h", "180d", "90s"] {
            let d: HumaneDuration = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
    }
}
