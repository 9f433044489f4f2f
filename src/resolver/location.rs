//! Where a charging request comes from: decodes 3GPP-User-Location-Info, the MCC-MNC text AVPs and
//! IMS-Visited-Network-Identifier into a serving PLMN and the E.212 rate code tariffs are keyed by.

use std::fmt;
use std::str::FromStr;

/// Why a location value could not be turned into a PLMN. Every variant is `Copy` so the decode
/// path never allocates, even when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("3GPP-User-Location-Info is empty: the geographic location type octet is missing")]
    Empty,
    #[error("geographic location type {0} is spare or has no supported layout")]
    UnsupportedType(u8),
    #[error(
        "{kind} location needs {} octets of AVP data (type octet included), got {actual}",
        Lens(.expected)
    )]
    BadLength {
        kind: GeoLocationType,
        expected: &'static [usize],
        actual: usize,
    },
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
    #[error("visited network identifier is not of the form [label.]mnc<3 digits>.mcc<3 digits>.3gppnetwork.org")]
    NotImsDomain,
}

struct Lens<'a>(&'a [usize]);

impl fmt::Display for Lens<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
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
    pub const fn new(mcc: u16, mnc: u16, mnc_digits: u8) -> Result<Self, LocationError> {
        let mnc_fits = (mnc_digits == 2 && mnc < 100) || (mnc_digits == 3 && mnc < 1000);
        if mcc > 999 || !mnc_fits {
            return Err(LocationError::OutOfRange {
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

    /// The 3GPP-SGSN-MCC-MNC (and IMSI-/GGSN-MCC-MNC) text form: the string length is what
    /// carries the MNC length, so "26201" and "262001" stay distinct.
    pub fn parse(s: &str) -> Result<Self, LocationError> {
        let b = s.as_bytes();
        if !(5..=6).contains(&b.len()) {
            return Err(LocationError::BadMccMnc);
        }
        match (dec(&b[..3]), dec(&b[3..])) {
            (Some(mcc), Some(mnc)) => Self::new(mcc, mnc, b.len() as u8 - 3),
            _ => Err(LocationError::BadMccMnc),
        }
    }

    /// Splits an IMSI when the caller already knows the MNC length; the digit string alone can
    /// not tell 505/57 from 505/571, so guessing is left to the numbering table.
    pub fn from_imsi_prefix(imsi: &str, mnc_digits: u8) -> Option<Self> {
        let end = 3 + usize::from(mnc_digits);
        let b = imsi.as_bytes().get(..end)?;
        Self::new(dec(&b[..3])?, dec(&b[3..])?, mnc_digits).ok()
    }

    /// The 3-octet TBCD form used in ULI, GTP and S1/NG. A 0xF filler in the third MNC digit
    /// means a 2-digit MNC; any other non-decimal nibble is corruption, not a wildcard.
    pub fn from_tbcd(b: [u8; 3]) -> Result<Self, LocationError> {
        let digit = |field, nibble: u8| {
            if nibble <= 9 {
                Ok(u16::from(nibble))
            } else {
                Err(LocationError::BadDigit { field, nibble })
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
    type Err = LocationError;
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

    pub fn parse(s: &str) -> Result<Self, LocationError> {
        let rest = s
            .strip_prefix("E212-")
            .ok_or(LocationError::BadRateCode)?
            .as_bytes();
        if !(6..=7).contains(&rest.len()) || rest[3] != b'-' {
            return Err(LocationError::BadRateCode);
        }
        match (dec(&rest[..3]), dec(&rest[4..])) {
            (Some(mcc), Some(mnc)) => Ok(RateCode(Plmn::new(mcc, mnc, rest.len() as u8 - 4)?)),
            _ => Err(LocationError::BadRateCode),
        }
    }
}

impl fmt::Display for RateCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p, w) = (self.0, usize::from(self.0.mnc_digits));
        write!(f, "E212-{:03}-{:0w$}", p.mcc, p.mnc)
    }
}

impl FromStr for RateCode {
    type Err = LocationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// One row per type keeps the code, the name used in errors and the accepted lengths together.
macro_rules! geo_location_types {
    ($($variant:ident = $code:literal, $name:literal, $lens:expr;)*) => {
        /// Geographic Location Type octet of 3GPP-User-Location-Info (TS 29.061). 138/139 exist
        /// but their layout is not established, so they are rejected like spare values.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum GeoLocationType {
            $($variant = $code,)*
        }

        impl GeoLocationType {
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Accepted AVP data lengths, type octet included.
            pub const fn data_lens(self) -> &'static [usize] {
                match self {
                    $(Self::$variant => &$lens,)*
                }
            }
        }

        impl TryFrom<u8> for GeoLocationType {
            type Error = LocationError;
            fn try_from(code: u8) -> Result<Self, Self::Error> {
                match code {
                    $($code => Ok(Self::$variant),)*
                    other => Err(LocationError::UnsupportedType(other)),
                }
            }
        }
    };
}

// 5GS TAI: TS 24.501 makes the TAC 24-bit, but Wireshark decodes a 16-bit one. Senders of both
// kinds exist and the length is the only thing that tells them apart, so both are accepted.
geo_location_types! {
    Cgi = 0, "CGI", [8];
    Sai = 1, "SAI", [8];
    Rai = 2, "RAI", [8];
    Tai = 128, "TAI", [6];
    Ecgi = 129, "ECGI", [8];
    TaiEcgi = 130, "TAI+ECGI", [13];
    ENodeB = 131, "eNodeB ID", [7];
    TaiENodeB = 132, "TAI+eNodeB ID", [12];
    ExtENodeB = 133, "extended eNodeB ID", [7];
    TaiExtENodeB = 134, "TAI+extended eNodeB ID", [12];
    Ncgi = 135, "NCGI", [9];
    Tai5gs = 136, "5GS TAI", [7, 6];
    Tai5gsNcgi = 137, "5GS TAI+NCGI", [15, 14];
}

impl GeoLocationType {
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for GeoLocationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// A decoded 3GPP-User-Location-Info. Only the ids present in `kind` are `Some`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserLocation {
    pub kind: GeoLocationType,
    /// Serving network; for combined types, the PLMN of the first (TAI) part.
    pub plmn: Plmn,
    pub lac: Option<u16>,
    pub ci: Option<u16>,
    pub sac: Option<u16>,
    /// The whole 2-octet RAC field: sources disagree on which octet holds the RAC byte.
    pub rac: Option<u16>,
    pub tac: Option<u32>,
    pub eci: Option<u32>,
    /// 20-bit macro id (131/132) or the 21-bit field of an extended id (133/134).
    pub enb_id: Option<u32>,
    pub nci: Option<u64>,
}

impl UserLocation {
    pub const fn rate_code(&self) -> RateCode {
        self.plmn.rate_code()
    }
}

const ECI_MASK: u64 = 0x0FFF_FFFF;
const ENB_MASK: u64 = 0x0F_FFFF;
// Covers both the 21-bit long and the 18-bit short form (whose top 3 bits are spare zeros), so
// the SMeNB flag never has to be read: its polarity differs between Wireshark and ergw_aaa.
const EXT_ENB_MASK: u64 = 0x1F_FFFF;
// The 36-bit NR cell id sits in the low bits of its 5 octets, as cgrates reads it; Wireshark
// instead treats the trailing nibble as spare. A capture from a live NR cell would settle it.
const NCI_MASK: u64 = 0x0F_FFFF_FFFF;

/// Decodes the data of 3GPP-User-Location-Info (type octet + location field). Never allocates.
pub fn decode_uli(data: &[u8]) -> Result<UserLocation, LocationError> {
    use GeoLocationType as T;
    let (&code, f) = data.split_first().ok_or(LocationError::Empty)?;
    let kind = T::try_from(code)?;
    let expected = kind.data_lens();
    if !expected.contains(&data.len()) {
        return Err(LocationError::BadLength {
            kind,
            expected,
            actual: data.len(),
        });
    }
    // Every layout starts with a PLMN and the length check above guarantees all slices below.
    let mut loc = UserLocation {
        kind,
        plmn: plmn_at(f)?,
        lac: None,
        ci: None,
        sac: None,
        rac: None,
        tac: None,
        eci: None,
        enb_id: None,
        nci: None,
    };
    // A combined type is a TAI followed by one single-part layout. That part repeats a PLMN,
    // which is checked for corruption but not kept: rating follows the tracking area's network.
    let (part, ids) = match kind {
        T::TaiEcgi | T::TaiENodeB | T::TaiExtENodeB | T::Tai5gsNcgi => {
            let part = match kind {
                T::TaiEcgi => T::Ecgi,
                T::TaiENodeB => T::ENodeB,
                T::TaiExtENodeB => T::ExtENodeB,
                _ => T::Ncgi,
            };
            let (tai, second) = f.split_at(data.len() - part.data_lens()[0]);
            loc.tac = Some(be(&tai[3..]) as u32);
            plmn_at(second)?;
            (part, &second[3..])
        }
        _ => (kind, &f[3..]),
    };
    let two = |i: usize| Some(be(&ids[i..i + 2]) as u16);
    match part {
        T::Cgi => (loc.lac, loc.ci) = (two(0), two(2)),
        T::Sai => (loc.lac, loc.sac) = (two(0), two(2)),
        T::Rai => (loc.lac, loc.rac) = (two(0), two(2)),
        T::Tai | T::Tai5gs => loc.tac = Some(be(ids) as u32),
        T::Ecgi => loc.eci = Some((be(ids) & ECI_MASK) as u32),
        T::ENodeB => loc.enb_id = Some((be(ids) & ENB_MASK) as u32),
        T::ExtENodeB => loc.enb_id = Some((be(ids) & EXT_ENB_MASK) as u32),
        T::Ncgi => loc.nci = Some(be(ids) & NCI_MASK),
        T::TaiEcgi | T::TaiENodeB | T::TaiExtENodeB | T::Tai5gsNcgi => {}
    }
    Ok(loc)
}

/// PLMN from IMS-Visited-Network-Identifier when it is a 3GPP IMS domain name. That form pads
/// every MNC to 3 digits, so the MNC length is lost: a leading '0' is read as a padded 2-digit
/// MNC ("mnc001" → 01), anything else as 3 digits. A 3-digit MNC starting with 0 therefore comes
/// back wrong, and the resolver's numbering table is expected to correct it.
pub fn plmn_from_visited_network(s: &str) -> Result<Plmn, LocationError> {
    let mut labels = s.rsplit('.');
    let is = |label: Option<&str>, want: &str| label.is_some_and(|l| l.eq_ignore_ascii_case(want));
    if !is(labels.next(), "org") || !is(labels.next(), "3gppnetwork") {
        return Err(LocationError::NotImsDomain);
    }
    let mcc = tagged_digits(labels.next(), b"mcc").and_then(dec);
    let mnc = tagged_digits(labels.next(), b"mnc");
    // Any prefix ("ims", "pcscf.ims", none) is fine, but not an empty label such as "..".
    if labels.any(str::is_empty) {
        return Err(LocationError::NotImsDomain);
    }
    let (Some(mcc), Some(mnc)) = (mcc, mnc) else {
        return Err(LocationError::NotImsDomain);
    };
    let (digits, width) = if mnc[0] == b'0' {
        (&mnc[1..], 2)
    } else {
        (mnc, 3)
    };
    Plmn::new(mcc, dec(digits).ok_or(LocationError::NotImsDomain)?, width)
}

fn tagged_digits<'a>(label: Option<&'a str>, tag: &[u8]) -> Option<&'a [u8]> {
    let b = label?.as_bytes();
    let ok =
        b.len() == 6 && b[..3].eq_ignore_ascii_case(tag) && b[3..].iter().all(u8::is_ascii_digit);
    ok.then(|| &b[3..])
}

/// Up to 3 ASCII digits as a number; longer input is refused so the `u16` can never overflow.
fn dec(b: &[u8]) -> Option<u16> {
    if b.is_empty() || b.len() > 3 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, &c| n * 10 + u16::from(c - b'0')))
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0, |n, &x| n << 8 | u64::from(x))
}

fn plmn_at(f: &[u8]) -> Result<Plmn, LocationError> {
    Plmn::from_tbcd([f[0], f[1], f[2]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use LocationError as E;

    fn hex(s: &str) -> Vec<u8> {
        let digit = |h| u8::from_str_radix(h, 16).unwrap();
        s.split_whitespace().map(digit).collect()
    }

    fn p(mcc: u16, mnc: u16, d: u8) -> Plmn {
        Plmn::new(mcc, mnc, d).unwrap()
    }

    /// Type, PLMN and every id that is present, so one string also proves the others are `None`.
    fn summary(data: &str) -> String {
        let l = decode_uli(&hex(data)).unwrap();
        let (s, w) = (
            |v: Option<u16>| v.map(u64::from),
            |v: Option<u32>| v.map(u64::from),
        );
        let ids = [
            s(l.lac),
            s(l.ci),
            s(l.sac),
            s(l.rac),
            w(l.tac),
            w(l.eci),
            w(l.enb_id),
            l.nci,
        ];
        let names = ["lac", "ci", "sac", "rac", "tac", "eci", "enb", "nci"];
        let mut out = format!("{} {}", l.kind.code(), l.plmn);
        for (name, v) in names.iter().zip(ids) {
            if let Some(v) = v {
                out += &format!(" {name}={v:X}");
            }
        }
        out
    }

    #[test]
    fn tbcd_reference_vectors() {
        for (plmn, bytes, text) in [
            (p(262, 1, 2), [0x62, 0xF2, 0x10], "26201"),
            (p(302, 777, 3), [0x03, 0x72, 0x77], "302777"),
            (p(310, 260, 3), [0x13, 0x00, 0x62], "310260"),
            (p(234, 15, 2), [0x32, 0xF4, 0x51], "23415"),
            (p(262, 1, 3), [0x62, 0x12, 0x00], "262001"),
        ] {
            assert_eq!(plmn.to_tbcd(), bytes, "{plmn}");
            assert_eq!(Plmn::from_tbcd(bytes), Ok(plmn));
            assert_eq!(plmn.to_string(), text);
            assert_eq!(text.parse(), Ok(plmn));
        }
        assert_ne!(p(262, 1, 2), p(262, 1, 3));
    }

    #[test]
    fn plmn_rejects_bad_input() {
        for (b, field, nibble) in [
            ([0xA2, 0xF2, 0x10], "MCC", 0xA),
            ([0x62, 0xFB, 0x10], "MCC", 0xB),
            ([0x62, 0xC2, 0x10], "MNC", 0xC),
            ([0x62, 0xF2, 0x1F], "MNC", 0xF),
        ] {
            assert_eq!(Plmn::from_tbcd(b), Err(E::BadDigit { field, nibble }));
        }
        for (mcc, mnc, d) in [(1000, 1, 2), (262, 100, 2), (262, 1000, 3), (262, 1, 4)] {
            assert!(Plmn::new(mcc, mnc, d).is_err());
        }
        let bad_text = [
            "",
            "2620",
            "2620011",
            "2620a",
            "+26201",
            "26 01",
            "２６２０１",
        ];
        for bad in bad_text {
            assert_eq!(Plmn::parse(bad), Err(E::BadMccMnc), "{bad:?}");
        }
    }

    #[test]
    fn imsi_prefix() {
        assert_eq!(
            Plmn::from_imsi_prefix("262011234567890", 2),
            Some(p(262, 1, 2))
        );
        assert_eq!(
            Plmn::from_imsi_prefix("310260123456789", 3),
            Some(p(310, 260, 3))
        );
        for (imsi, d) in [("2620", 2), ("26201", 4), ("26x011234", 2)] {
            assert_eq!(Plmn::from_imsi_prefix(imsi, d), None);
        }
    }

    #[test]
    fn rate_code_round_trip() {
        assert_eq!(p(262, 1, 2).rate_code().to_string(), "E212-262-01");
        assert_eq!(p(302, 777, 3).rate_code().to_string(), "E212-302-777");
        assert_eq!(p(1, 1, 3).rate_code().to_string(), "E212-001-001");
        for s in ["E212-262-01", "E212-302-777", "E212-262-001"] {
            assert_eq!(RateCode::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(RateCode::parse("E212-262-01").unwrap().plmn(), p(262, 1, 2));
        let bad_codes = [
            "E212-262-1",
            "E212-26201",
            "e212-262-01",
            "E212-262-0001",
            "E212-2a2-",
        ];
        for bad in bad_codes {
            assert_eq!(RateCode::parse(bad), Err(E::BadRateCode), "{bad:?}");
        }
    }

    #[test]
    fn decodes_every_layout() {
        for row in [
            // Reference examples.
            "82 62 F2 10 12 34 62 F2 10 0A BC DE F1 => 130 26201 tac=1234 eci=ABCDEF1",
            "81 03 72 77 0A BC DE F1 => 129 302777 eci=ABCDEF1",
            "80 03 72 77 00 64 => 128 302777 tac=64",
            // Computed from the layouts; spare bits are set where a mask must drop them.
            "81 03 72 77 FA BC DE F1 => 129 302777 eci=ABCDEF1",
            "00 62 F2 10 12 34 56 78 => 0 26201 lac=1234 ci=5678",
            "01 03 72 77 00 01 FF FE => 1 302777 lac=1 sac=FFFE",
            "02 13 00 62 AB CD 2A FF => 2 310260 lac=ABCD rac=2AFF",
            "83 62 F2 10 FA BC DE => 131 26201 enb=ABCDE",
            "84 62 F2 10 00 01 62 F2 10 0A BC DE => 132 26201 tac=1 enb=ABCDE",
            "85 32 F4 51 9F FF FF => 133 23415 enb=1FFFFF",
            "85 32 F4 51 E1 23 45 => 133 23415 enb=12345",
            "86 32 F4 51 00 07 32 F4 51 01 23 45 => 134 23415 tac=7 enb=12345",
            "87 03 72 77 F1 23 45 67 89 => 135 302777 nci=123456789",
            "88 62 F2 10 12 34 56 => 136 26201 tac=123456",
            "88 62 F2 10 12 34 => 136 26201 tac=1234",
            "89 62 F2 10 00 00 01 62 F2 10 01 23 45 67 89 => 137 26201 tac=1 nci=123456789",
            "89 62 F2 10 AB CD 62 F2 10 F1 23 45 67 89 => 137 26201 tac=ABCD nci=123456789",
            // The serving PLMN of a combined type is the TAI's, not the cell's.
            "82 62 F2 10 00 01 03 72 77 00 00 00 01 => 130 26201 tac=1 eci=1",
        ] {
            let (data, want) = row.split_once(" => ").unwrap();
            assert_eq!(summary(data), want, "{data}");
        }
        let l = decode_uli(&hex("82 62 F2 10 12 34 62 F2 10 0A BC DE F1")).unwrap();
        assert_eq!(l.rate_code().to_string(), "E212-262-01");
    }

    #[test]
    fn decode_errors() {
        let digit = |field, nibble| E::BadDigit { field, nibble };
        let (kind, expected) = (GeoLocationType::Ecgi, &[8][..]);
        for (data, want) in [
            ("", E::Empty),
            ("03 62 F2 10 12 34 56 78", E::UnsupportedType(3)),
            ("8A 62 F2 10 12 34", E::UnsupportedType(138)),
            ("FF", E::UnsupportedType(255)),
            (
                "81 03 72 77 0A BC DE",
                E::BadLength {
                    kind,
                    expected,
                    actual: 7,
                },
            ),
            ("80 6A F2 10 00 64", digit("MCC", 0xA)),
            // A corrupt second PLMN is refused even though only the first one is kept.
            ("82 62 F2 10 12 34 62 F2 1A 0A BC DE F1", digit("MNC", 0xA)),
        ] {
            assert_eq!(decode_uli(&hex(data)), Err(want), "{data}");
        }
        let msg = |data| decode_uli(&hex(data)).unwrap_err().to_string();
        assert_eq!(
            msg("81 03 72 77 0A BC DE"),
            "ECGI (129) location needs 8 octets of AVP data (type octet included), got 7"
        );
        assert!(msg("88 62 F2 10 12 34 56 78").starts_with("5GS TAI (136) location needs 7 or 6"));
    }

    #[test]
    fn visited_network() {
        for (s, plmn) in [
            ("ims.mnc099.mcc460.3gppnetwork.org", p(460, 99, 2)),
            ("ims.mnc777.mcc302.3gppnetwork.org", p(302, 777, 3)),
            ("ims.mnc001.mcc262.3gppnetwork.org", p(262, 1, 2)),
            ("IMS.MNC001.MCC262.3GPPNETWORK.ORG", p(262, 1, 2)),
            ("mnc260.mcc310.3gppnetwork.org", p(310, 260, 3)),
            ("pcscf.ims.mnc015.mcc234.3gppnetwork.org", p(234, 15, 2)),
        ] {
            assert_eq!(plmn_from_visited_network(s), Ok(plmn), "{s}");
        }
        for bad in [
            "",
            "ims.mnc01.mcc262.3gppnetwork.org",
            "ims.mnc001.mcc2620.3gppnetwork.org",
            "ims.mcc262.mnc001.3gppnetwork.org",
            "ims.mnc0a1.mcc262.3gppnetwork.org",
            "ims.mnc001.mcc262.3gppnetwork.org.",
            "ims.mnc001.mcc262.example.org",
            ".mnc001.mcc262.3gppnetwork.org",
            "mcc262.3gppnetwork.org",
            "operator.example.com",
        ] {
            let got = plmn_from_visited_network(bad);
            assert_eq!(got, Err(E::NotImsDomain), "{bad:?}");
        }
    }

    fn any_plmn() -> impl Strategy<Value = Plmn> {
        let mnc = |(mcc, d): (u16, u8)| (0..10u16.pow(d.into())).prop_map(move |m| p(mcc, m, d));
        (0u16..1000, 2u8..=3).prop_flat_map(mnc)
    }

    proptest! {
        #[test]
        fn tbcd_and_text_round_trip(plmn in any_plmn()) {
            prop_assert_eq!(Plmn::from_tbcd(plmn.to_tbcd()), Ok(plmn));
            prop_assert_eq!(Plmn::parse(&plmn.to_string()), Ok(plmn));
            prop_assert_eq!(RateCode::parse(&plmn.rate_code().to_string()), Ok(plmn.rate_code()));
        }

        #[test]
        fn decode_uli_never_panics(data in proptest::collection::vec(any::<u8>(), 0..24)) {
            let _ = decode_uli(&data);
        }

        // Plain random bytes seldom start with a known type at a near-valid length; these do.
        #[test]
        fn known_types_at_their_lengths_never_panic(
            code in prop::sample::select(vec![0u8, 1, 2, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137]),
            rest in proptest::collection::vec(any::<u8>(), 5..16),
        ) {
            let mut data = vec![code];
            data.extend(rest);
            if let Ok(l) = decode_uli(&data) {
                prop_assert_eq!(l.kind.code(), code);
                prop_assert!(l.kind.data_lens().contains(&data.len()));
            }
        }
    }
}
