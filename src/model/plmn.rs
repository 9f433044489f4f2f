//! Mobile networks and the tariff key built from them: a PLMN (E.212 MCC + MNC) in its text and
//! TBCD forms, and the `E212-<MCC>-<MNC>` rate code that rating, OTA decisions, profile rules and
//! the proxy all key on.

use std::fmt;
use std::str::FromStr;

/// Why a text or TBCD value is not a PLMN or a rate code. Every variant is `Copy` so that the
/// charging decode path never allocates, even when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlmnError {
    #[error("PLMN {field} digit holds the non-decimal nibble {nibble:#X}")]
    BadDigit { field: &'static str, nibble: u8 },
    #[error("invalid PLMN: MCC {mcc} must be below 1000 and MNC {mnc} must fit in {mnc_digits} digits (2 or 3)")]
    OutOfRange { mcc: u16, mnc: u16, mnc_digits: u8 },
    #[error(
        "MCC-MNC text must be exactly 5 or 6 ASCII digits (3-digit MCC, then 2- or 3-digit MNC)"
    )]
    BadMccMnc,
    #[error("rate code must read E212-<3-digit MCC>-<2- or 3-digit MNC>")]
    BadRateCode,
}

/// A mobile network (E.212 MCC + MNC). The MNC digit count is part of the identity: 262/01 and
/// 262/001 are different networks, so they never compare or hash equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Plmn {
    mcc: u16,
    mnc: u16,
    mnc_digits: u8,
}

impl Plmn {
    /// Checked constructor; the fields stay private so that every `Plmn` encodes to valid TBCD.
    pub const fn new(mcc: u16, mnc: u16, mnc_digits: u8) -> Result<Self, PlmnError> {
        let mnc_fits = (mnc_digits == 2 && mnc < 100) || (mnc_digits == 3 && mnc < 1000);
        if mcc > 999 || !mnc_fits {
            return Err(PlmnError::OutOfRange {
                mcc,
                mnc,
                mnc_digits,
            });
        }
        Ok(Self {
            mcc,
            mnc,
            mnc_digits,
        })
    }

    pub const fn mcc(self) -> u16 {
        self.mcc
    }

    pub const fn mnc(self) -> u16 {
        self.mnc
    }

    /// 2 or 3.
    pub const fn mnc_digits(self) -> u8 {
        self.mnc_digits
    }

    /// The MCC and MNC as ASCII digits; the MNC's length is its digit count. None unless the MCC
    /// is 3 digits and the MNC 2 or 3.
    pub fn from_digits(mcc: &[u8], mnc: &[u8]) -> Option<Self> {
        if mcc.len() != 3 {
            return None;
        }
        Self::new(dec(mcc)?, dec(mnc)?, mnc.len() as u8).ok()
    }

    /// The 3GPP-SGSN-MCC-MNC (and IMSI-/GGSN-MCC-MNC) text form: the string length is what
    /// carries the MNC length, so "26201" and "262001" stay distinct.
    pub fn parse(s: &str) -> Result<Self, PlmnError> {
        let b = s.as_bytes();
        if !(5..=6).contains(&b.len()) {
            return Err(PlmnError::BadMccMnc);
        }
        Self::from_digits(&b[..3], &b[3..]).ok_or(PlmnError::BadMccMnc)
    }

    /// Splits an IMSI when the caller already knows the MNC length; the digit string alone can
    /// not tell 505/57 from 505/571, so guessing is left to the numbering table.
    pub fn from_imsi_prefix(imsi: &str, mnc_digits: u8) -> Option<Self> {
        let end = 3 + usize::from(mnc_digits);
        let b = imsi.as_bytes().get(..end)?;
        Self::from_digits(&b[..3], &b[3..])
    }

    /// The 3-octet TBCD form used in ULI, GTP and S1/NG. A 0xF filler in the third MNC digit
    /// means a 2-digit MNC; any other non-decimal nibble is corruption, not a wildcard.
    pub fn from_tbcd(b: [u8; 3]) -> Result<Self, PlmnError> {
        let digit = |field, nibble: u8| {
            if nibble <= 9 {
                Ok(u16::from(nibble))
            } else {
                Err(PlmnError::BadDigit { field, nibble })
            }
        };
        let mcc = digit("MCC", b[0] & 0xF)? * 100
            + digit("MCC", b[0] >> 4)? * 10
            + digit("MCC", b[1] & 0xF)?;
        let two = digit("MNC", b[2] & 0xF)? * 10 + digit("MNC", b[2] >> 4)?;
        match b[1] >> 4 {
            0xF => Self::new(mcc, two, 2),
            n => Self::new(mcc, two * 10 + digit("MNC", n)?, 3),
        }
    }

    pub const fn to_tbcd(self) -> [u8; 3] {
        let (m1, m2, m3) = if self.mnc_digits == 2 {
            (self.mnc / 10, self.mnc % 10, 0xF)
        } else {
            (self.mnc / 100, self.mnc / 10 % 10, self.mnc % 10)
        };
        let (c1, c2, c3) = (self.mcc / 100, self.mcc / 10 % 10, self.mcc % 10);
        [
            (c2 << 4 | c1) as u8,
            (m3 << 4 | c3) as u8,
            (m2 << 4 | m1) as u8,
        ]
    }

    pub const fn rate_code(self) -> RateCode {
        RateCode(self)
    }
}

impl fmt::Display for Plmn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = usize::from(self.mnc_digits);
        write!(f, "{:03}{:0w$}", self.mcc, self.mnc)
    }
}

impl FromStr for Plmn {
    type Err = PlmnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Tariff key `E212-<MCC>-<MNC>`. Holds the PLMN rather than the text so it is `Copy` and can be
/// hashed on the hot path without building a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RateCode(Plmn);

impl RateCode {
    pub const fn plmn(self) -> Plmn {
        self.0
    }

    pub fn parse(s: &str) -> Result<Self, PlmnError> {
        let rest = s
            .strip_prefix("E212-")
            .ok_or(PlmnError::BadRateCode)?
            .as_bytes();
        if !(6..=7).contains(&rest.len()) || rest[3] != b'-' {
            return Err(PlmnError::BadRateCode);
        }
        Plmn::from_digits(&rest[..3], &rest[4..])
            .map(RateCode)
            .ok_or(PlmnError::BadRateCode)
    }
}

impl fmt::Display for RateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p, w) = (self.0, usize::from(self.0.mnc_digits));
        write!(f, "E212-{:03}-{:0w$}", p.mcc, p.mnc)
    }
}

impl FromStr for RateCode {
    type Err = PlmnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Up to 3 ASCII digits as a number; longer input is refused so the `u16` can never overflow.
fn dec(b: &[u8]) -> Option<u16> {
    if b.is_empty() || b.len() > 3 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, &c| n * 10 + u16::from(c - b'0')))
}

#[cfg(test)]
mod tests;
