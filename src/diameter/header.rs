//! The fixed 20-octet Diameter message header (RFC 6733 §3).

use nom::number::complete::{be_u24, be_u32, be_u8};
use nom::IResult;

pub const HEADER_LEN: usize = 20;
pub const VERSION: u8 = 1;

/// Command flag bits (RFC 6733 §3).
pub mod flags {
    pub const REQUEST: u8 = 0x80;
    pub const PROXIABLE: u8 = 0x40;
    pub const ERROR: u8 = 0x20;
    pub const RETRANSMIT: u8 = 0x10;
}

/// Base and credit-control command codes.
pub mod command {
    pub const CAPABILITIES_EXCHANGE: u32 = 257;
    pub const RE_AUTH: u32 = 258;
    pub const ACCOUNTING: u32 = 271;
    pub const CREDIT_CONTROL: u32 = 272;
    pub const ABORT_SESSION: u32 = 274;
    pub const SESSION_TERMINATION: u32 = 275;
    pub const DEVICE_WATCHDOG: u32 = 280;
    pub const DISCONNECT_PEER: u32 = 282;
}

/// Application ids used by gyro.
pub mod application {
    pub const COMMON: u32 = 0;
    pub const CREDIT_CONTROL: u32 = 4;
    pub const RELAY: u32 = 0xffff_ffff;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub length: u32,
    pub flags: u8,
    pub command: u32,
    pub application: u32,
    pub hop_by_hop: u32,
    pub end_to_end: u32,
}

impl Header {
    pub fn is_request(&self) -> bool {
        self.flags & flags::REQUEST != 0
    }
    pub fn is_proxiable(&self) -> bool {
        self.flags & flags::PROXIABLE != 0
    }
    pub fn is_error(&self) -> bool {
        self.flags & flags::ERROR != 0
    }
    pub fn is_retransmit(&self) -> bool {
        self.flags & flags::RETRANSMIT != 0
    }

    /// Parses the header; the caller guarantees at least 20 octets.
    pub fn parse(input: &[u8]) -> Option<Header> {
        parse_header(input).ok().map(|(_, h)| h)
    }

    pub fn write(&self, out: &mut [u8; HEADER_LEN]) {
        out[0] = self.version;
        out[1..4].copy_from_slice(&self.length.to_be_bytes()[1..]);
        out[4] = self.flags;
        out[5..8].copy_from_slice(&self.command.to_be_bytes()[1..]);
        out[8..12].copy_from_slice(&self.application.to_be_bytes());
        out[12..16].copy_from_slice(&self.hop_by_hop.to_be_bytes());
        out[16..20].copy_from_slice(&self.end_to_end.to_be_bytes());
    }
}

fn parse_header(i: &[u8]) -> IResult<&[u8], Header> {
    let (i, version) = be_u8(i)?;
    let (i, length) = be_u24(i)?;
    let (i, flags) = be_u8(i)?;
    let (i, command) = be_u24(i)?;
    let (i, application) = be_u32(i)?;
    let (i, hop_by_hop) = be_u32(i)?;
    let (i, end_to_end) = be_u32(i)?;
    Ok((
        i,
        Header {
            version,
            length,
            flags,
            command,
            application,
            hop_by_hop,
            end_to_end,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_from_reference() {
        let bytes = [
            0x01, 0x00, 0x00, 0x40, 0xc0, 0x00, 0x01, 0x10, 0, 0, 0, 4, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        let h = Header::parse(&bytes).unwrap();
        assert_eq!(h.command, 272);
        assert_eq!(h.length, 64);
        assert!(h.is_request() && h.is_proxiable() && !h.is_error());
        assert_eq!(h.application, 4);
        assert_eq!(h.hop_by_hop, 0x01020304);
        let mut out = [0u8; HEADER_LEN];
        h.write(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn short_input_is_none() {
        assert!(Header::parse(&[1, 0, 0]).is_none());
    }
}
