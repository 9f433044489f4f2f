//! Borrowed AVP views (RFC 6733 §4): an AVP is read in place over the received
//! bytes, and a grouped AVP is only walked when someone asks for its members.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::value::{DiameterTime, DiameterUri};

/// AVP flag bits (RFC 6733 §4.1).
pub mod avp_flags {
    pub const VENDOR: u8 = 0x80;
    pub const MANDATORY: u8 = 0x40;
    pub const PROTECTED: u8 = 0x20;
    pub const RESERVED: u8 = 0x1f;
}

/// One AVP, borrowed from the message buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Avp<'a> {
    pub code: u32,
    pub flags: u8,
    pub vendor: u32,
    data: &'a [u8],
    /// Header and data, without padding: what Failed-AVP carries.
    raw: &'a [u8],
}

/// A value whose octets do not fit the AVP's data type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("expected {expected} octets of data, found {found}")]
    Length { expected: usize, found: usize },
    #[error("not valid UTF-8")]
    NotUtf8,
    #[error("address family {family} with {len} octets is not a valid address")]
    Address { family: u16, len: usize },
    #[error("not a DiameterURI: {0}")]
    Uri(&'static str),
    #[error("not an ASCII DiameterIdentity")]
    Identity,
}

/// An AVP header that cannot be framed inside its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvpFramingError<'a> {
    pub code: u32,
    pub flags: u8,
    pub vendor: u32,
    /// The declared AVP length (0 if the header itself is cut short).
    pub declared_len: u32,
    /// Whatever octets of the broken AVP were present.
    pub raw: &'a [u8],
}

impl<'a> Avp<'a> {
    pub fn is_mandatory(&self) -> bool {
        self.flags & avp_flags::MANDATORY != 0
    }
    pub fn is_vendor(&self) -> bool {
        self.flags & avp_flags::VENDOR != 0
    }
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    pub fn header_len(&self) -> usize {
        self.raw.len() - self.data.len()
    }

    fn fixed<const N: usize>(&self) -> Result<[u8; N], ValueError> {
        self.data.try_into().map_err(|_| ValueError::Length {
            expected: N,
            found: self.data.len(),
        })
    }
    pub fn u32(&self) -> Result<u32, ValueError> {
        self.fixed::<4>().map(u32::from_be_bytes)
    }
    pub fn i32(&self) -> Result<i32, ValueError> {
        self.fixed::<4>().map(i32::from_be_bytes)
    }
    pub fn u64(&self) -> Result<u64, ValueError> {
        self.fixed::<8>().map(u64::from_be_bytes)
    }
    pub fn i64(&self) -> Result<i64, ValueError> {
        self.fixed::<8>().map(i64::from_be_bytes)
    }
    pub fn f32(&self) -> Result<f32, ValueError> {
        self.fixed::<4>().map(f32::from_be_bytes)
    }
    pub fn f64(&self) -> Result<f64, ValueError> {
        self.fixed::<8>().map(f64::from_be_bytes)
    }
    /// Enumerated is an Integer32 on the wire.
    pub fn enumerated(&self) -> Result<i32, ValueError> {
        self.i32()
    }
    pub fn octets(&self) -> &'a [u8] {
        self.data
    }
    pub fn utf8(&self) -> Result<&'a str, ValueError> {
        std::str::from_utf8(self.data).map_err(|_| ValueError::NotUtf8)
    }
    pub fn identity(&self) -> Result<&'a str, ValueError> {
        if self.data.is_ascii() && !self.data.is_empty() {
            // ASCII is valid UTF-8.
            Ok(std::str::from_utf8(self.data).map_err(|_| ValueError::Identity)?)
        } else {
            Err(ValueError::Identity)
        }
    }
    pub fn uri(&self) -> Result<DiameterUri<'a>, ValueError> {
        DiameterUri::parse(self.utf8()?).map_err(ValueError::Uri)
    }
    pub fn time(&self) -> Result<DiameterTime, ValueError> {
        self.u32().map(DiameterTime)
    }
    pub fn address(&self) -> Result<IpAddr, ValueError> {
        let d = self.data;
        let bad = || ValueError::Address {
            family: if d.len() >= 2 {
                u16::from_be_bytes([d[0], d[1]])
            } else {
                0
            },
            len: d.len(),
        };
        match d {
            [0, 1, a, b, c, e] => Ok(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *e))),
            [0, 2, rest @ ..] if rest.len() == 16 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(rest);
                Ok(IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => Err(bad()),
        }
    }
    /// Members of a grouped AVP, parsed on demand.
    pub fn grouped(&self) -> AvpIter<'a> {
        AvpIter::new(self.data)
    }
    /// First member with this code and vendor (None also when the group is broken).
    pub fn member(&self, code: u32, vendor: u32) -> Option<Avp<'a>> {
        self.grouped()
            .map_while(Result::ok)
            .find(|a| a.code == code && a.vendor == vendor)
    }
}

impl std::fmt::Debug for Avp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Avp(code={} vendor={} flags={:#04x} len={})",
            self.code,
            self.vendor,
            self.flags,
            self.raw.len()
        )
    }
}

/// Iterates the AVPs of a message body or grouped AVP; stops after the first
/// framing error, which it yields.
#[derive(Clone)]
pub struct AvpIter<'a> {
    rest: &'a [u8],
}

impl<'a> AvpIter<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        AvpIter { rest: bytes }
    }
}

#[inline]
fn be24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

impl<'a> Iterator for AvpIter<'a> {
    type Item = Result<Avp<'a>, AvpFramingError<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.rest;
        if b.is_empty() {
            return None;
        }
        let fail = |code, flags, vendor, declared_len| {
            Some(Err(AvpFramingError {
                code,
                flags,
                vendor,
                declared_len,
                raw: b,
            }))
        };
        if b.len() < 8 {
            self.rest = &[];
            let code = if b.len() >= 4 {
                u32::from_be_bytes([b[0], b[1], b[2], b[3]])
            } else {
                0
            };
            return fail(code, b.get(4).copied().unwrap_or(0), 0, 0);
        }
        let code = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let flags = b[4];
        let len = be24(&b[5..8]) as usize;
        let (vendor, hdr) = if flags & avp_flags::VENDOR != 0 {
            if b.len() < 12 {
                self.rest = &[];
                return fail(code, flags, 0, len as u32);
            }
            (u32::from_be_bytes([b[8], b[9], b[10], b[11]]), 12)
        } else {
            (0, 8)
        };
        let padded = (len + 3) & !3;
        if len < hdr || padded > b.len() {
            self.rest = &[];
            return fail(code, flags, vendor, len as u32);
        }
        self.rest = &b[padded..];
        Some(Ok(Avp {
            code,
            flags,
            vendor,
            data: &b[hdr..len],
            raw: &b[..len],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgsn_mcc_mnc_from_reference() {
        // 3GPP-SGSN-MCC-MNC "26201": the reference sheet's byte example.
        let bytes = [
            0, 0, 0, 0x12, 0x80, 0, 0, 0x11, 0, 0, 0x28, 0xaf, 0x32, 0x36, 0x32, 0x30, 0x31, 0, 0,
            0,
        ];
        let mut it = AvpIter::new(&bytes);
        let avp = it.next().unwrap().unwrap();
        assert_eq!((avp.code, avp.vendor), (18, 10415));
        assert_eq!(avp.utf8().unwrap(), "26201");
        assert!(it.next().is_none());
    }

    #[test]
    fn overrun_is_a_framing_error() {
        let bytes = [0, 0, 1, 0x28, 0x40, 0, 0, 200, 1, 2, 3, 4];
        let err = AvpIter::new(&bytes).next().unwrap().unwrap_err();
        assert_eq!(err.code, 296);
        assert_eq!(err.declared_len, 200);
    }

    #[test]
    fn address_families() {
        let v4 = [0, 0, 1, 1, 0x40, 0, 0, 14, 0, 1, 127, 0, 0, 1, 0, 0];
        let a = AvpIter::new(&v4).next().unwrap().unwrap();
        assert_eq!(a.address().unwrap(), IpAddr::from([127, 0, 0, 1]));
        let bad = [0, 0, 1, 1, 0x40, 0, 0, 13, 0, 1, 127, 0, 0, 0, 0, 0];
        let a = AvpIter::new(&bad).next().unwrap().unwrap();
        assert!(a.address().is_err());
    }
}
