//! Where a charging request comes from: decodes 3GPP-User-Location-Info, the MCC-MNC text AVPs and
//! IMS-Visited-Network-Identifier into a serving PLMN and the E.212 rate code tariffs are keyed by.

use std::fmt;

use crate::model::{Plmn, PlmnError, RateCode};

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
    #[error(transparent)]
    Plmn(#[from] PlmnError),
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
    let mcc = tagged_digits(labels.next(), b"mcc");
    let mnc = tagged_digits(labels.next(), b"mnc");
    // Any prefix ("ims", "pcscf.ims", none) is fine, but not an empty label such as "..".
    if labels.any(str::is_empty) {
        return Err(LocationError::NotImsDomain);
    }
    let (Some(mcc), Some(mnc)) = (mcc, mnc) else {
        return Err(LocationError::NotImsDomain);
    };
    let digits = if mnc[0] == b'0' { &mnc[1..] } else { mnc };
    Plmn::from_digits(mcc, digits).ok_or(LocationError::NotImsDomain)
}

fn tagged_digits<'a>(label: Option<&'a str>, tag: &[u8]) -> Option<&'a [u8]> {
    let b = label?.as_bytes();
    let ok =
        b.len() == 6 && b[..3].eq_ignore_ascii_case(tag) && b[3..].iter().all(u8::is_ascii_digit);
    ok.then(|| &b[3..])
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0, |n, &x| n << 8 | u64::from(x))
}

fn plmn_at(f: &[u8]) -> Result<Plmn, LocationError> {
    Ok(Plmn::from_tbcd([f[0], f[1], f[2]])?)
}

#[cfg(test)]
mod tests;
