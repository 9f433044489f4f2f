//! Derived Diameter data types (RFC 6733 §4.3.1) that need more than a byte copy:
//! Time with its NTP era rule, and DiameterURI.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds between 1900-01-01 (NTP epoch) and 1970-01-01.
const NTP_TO_UNIX: i64 = 2_208_988_800;
/// Unix seconds of the start of NTP era 1 (2036-02-07T06:28:16Z).
const ERA1_UNIX: i64 = (1i64 << 32) - NTP_TO_UNIX;

/// A Diameter Time value: the 32-bit seconds field of an NTP timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DiameterTime(pub u32);

impl DiameterTime {
    /// Applies the SNTP rule (RFC 4330 §3): a clear top bit means era 1, so
    /// values keep meaning something after 2036. Era-0 values from 1968-01-20
    /// up to 1970 are before the Unix epoch, hence signed.
    pub fn unix_seconds(self) -> i64 {
        let v = self.0 as i64;
        if self.0 & 0x8000_0000 != 0 {
            v - NTP_TO_UNIX
        } else {
            v + ERA1_UNIX
        }
    }
    pub fn to_system_time(self) -> SystemTime {
        let s = self.unix_seconds();
        if s >= 0 {
            UNIX_EPOCH + Duration::from_secs(s as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(s.unsigned_abs())
        }
    }
    pub fn from_unix_seconds(secs: i64) -> Self {
        DiameterTime((secs + NTP_TO_UNIX).rem_euclid(1 << 32) as u32)
    }
    pub fn from_system_time(t: SystemTime) -> Self {
        let secs = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(before) => -(before.duration().as_secs() as i64),
        };
        Self::from_unix_seconds(secs)
    }
}

/// `aaa://FQDN[:port][;transport=T][;protocol=P]`, or `aaas://` with TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiameterUri<'a> {
    pub secure: bool,
    pub fqdn: &'a str,
    pub port: u16,
    pub transport: &'a str,
    pub protocol: &'a str,
}

impl<'a> DiameterUri<'a> {
    pub fn parse(s: &'a str) -> Result<Self, &'static str> {
        let (secure, rest) = if let Some(r) = s.strip_prefix("aaas://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("aaa://") {
            (false, r)
        } else {
            return Err("scheme must be aaa:// or aaas://");
        };
        let mut parts = rest.split(';');
        let hostport = parts.next().unwrap_or("");
        let (fqdn, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| "port is not a number")?),
            None => (hostport, if secure { 5868 } else { 3868 }),
        };
        if fqdn.is_empty() {
            return Err("missing FQDN");
        }
        let mut uri = DiameterUri {
            secure,
            fqdn,
            port,
            transport: "tcp",
            protocol: "diameter",
        };
        for p in parts {
            match p.split_once('=') {
                Some(("transport", t @ ("tcp" | "sctp" | "udp"))) => uri.transport = t,
                Some(("protocol", v @ ("diameter" | "radius" | "tacacs+"))) => uri.protocol = v,
                _ => return Err("unknown or bad parameter"),
            }
        }
        Ok(uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_examples_from_reference() {
        // 2024-01-01T00:00:00Z
        let t = DiameterTime(0xE93C_7F00);
        assert_eq!(t.unix_seconds(), 1_704_067_200);
        assert_eq!(DiameterTime::from_unix_seconds(1_704_067_200), t);
        // 2040-01-01T00:00:00Z is in era 1.
        let t = DiameterTime(0x0754_FD00);
        assert_eq!(t.unix_seconds(), 2_208_988_800);
        assert_eq!(DiameterTime::from_unix_seconds(2_208_988_800), t);
        // 1969-12-31T23:59:59Z: era 0, before the Unix epoch, no overflow.
        let t = DiameterTime(0x83AA_7E7F);
        assert_eq!(t.unix_seconds(), -1);
        assert_eq!(DiameterTime::from_unix_seconds(-1), t);
        assert!(t.to_system_time() < UNIX_EPOCH);
    }

    #[test]
    fn uris() {
        let u = DiameterUri::parse("aaa://ocs.example:3869;transport=tcp").unwrap();
        assert_eq!((u.fqdn, u.port, u.secure), ("ocs.example", 3869, false));
        assert_eq!(DiameterUri::parse("aaas://x").unwrap().port, 5868);
        assert!(DiameterUri::parse("http://x").is_err());
        assert!(DiameterUri::parse("aaa://x;transport=carrier-pigeon").is_err());
    }
}
