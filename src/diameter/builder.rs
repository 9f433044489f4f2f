//! Writes messages straight into a reusable buffer: no intermediate tree, grouped
//! AVP and message lengths are patched in place when they close.

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};

use super::avp::avp_flags;
use super::header::{flags, Header, HEADER_LEN, VERSION};
use super::value::DiameterTime;

/// What the builder needs to know to write an AVP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvpDef {
    pub code: u32,
    pub vendor: u32,
    /// M and P bits; V is derived from `vendor`.
    pub flags: u8,
}

impl AvpDef {
    pub const fn base(code: u32) -> Self {
        AvpDef {
            code,
            vendor: 0,
            flags: avp_flags::MANDATORY,
        }
    }
    /// A vendor-0 AVP whose M bit must not be set.
    pub const fn base_optional(code: u32) -> Self {
        AvpDef {
            code,
            vendor: 0,
            flags: 0,
        }
    }
    pub const fn vendor(code: u32, vendor: u32, mandatory: bool) -> Self {
        AvpDef {
            code,
            vendor,
            flags: if mandatory { avp_flags::MANDATORY } else { 0 },
        }
    }
}

pub struct MessageBuilder<'b> {
    buf: &'b mut BytesMut,
    start: usize,
}

/// Position of an open grouped AVP.
#[must_use]
pub struct Group(usize);

impl<'b> MessageBuilder<'b> {
    pub fn new(buf: &'b mut BytesMut, header: Header) -> Self {
        let start = buf.len();
        let mut h = [0u8; HEADER_LEN];
        header.write(&mut h);
        buf.extend_from_slice(&h);
        MessageBuilder { buf, start }
    }

    pub fn request(
        buf: &'b mut BytesMut,
        command: u32,
        application: u32,
        proxiable: bool,
        hop_by_hop: u32,
        end_to_end: u32,
    ) -> Self {
        let f = flags::REQUEST | if proxiable { flags::PROXIABLE } else { 0 };
        Self::new(
            buf,
            Header {
                version: VERSION,
                length: 0,
                flags: f,
                command,
                application,
                hop_by_hop,
                end_to_end,
            },
        )
    }

    /// Answer header for `request`: R and T cleared, P copied, same identifiers.
    pub fn answer(buf: &'b mut BytesMut, request: &Header, error: bool) -> Self {
        let f = (request.flags & flags::PROXIABLE) | if error { flags::ERROR } else { 0 };
        Self::new(
            buf,
            Header {
                version: VERSION,
                length: 0,
                flags: f,
                command: request.command,
                application: request.application,
                hop_by_hop: request.hop_by_hop,
                end_to_end: request.end_to_end,
            },
        )
    }

    #[inline]
    fn avp_header(&mut self, def: AvpDef, data_len: usize) {
        let vendor = def.vendor != 0;
        let hdr = if vendor { 12 } else { 8 };
        let flags = def.flags | if vendor { avp_flags::VENDOR } else { 0 };
        self.buf.reserve(hdr + data_len + 3);
        self.buf.put_u32(def.code);
        self.buf
            .put_u32(((flags as u32) << 24) | (hdr + data_len) as u32);
        if vendor {
            self.buf.put_u32(def.vendor);
        }
    }

    #[inline]
    fn pad(&mut self, data_len: usize) {
        let pad = (4 - data_len % 4) % 4;
        self.buf.put_bytes(0, pad);
    }

    pub fn octets(&mut self, def: AvpDef, data: &[u8]) -> &mut Self {
        self.avp_header(def, data.len());
        self.buf.extend_from_slice(data);
        self.pad(data.len());
        self
    }
    pub fn utf8(&mut self, def: AvpDef, s: &str) -> &mut Self {
        self.octets(def, s.as_bytes())
    }
    pub fn u32(&mut self, def: AvpDef, v: u32) -> &mut Self {
        self.avp_header(def, 4);
        self.buf.put_u32(v);
        self
    }
    pub fn i32(&mut self, def: AvpDef, v: i32) -> &mut Self {
        self.avp_header(def, 4);
        self.buf.put_i32(v);
        self
    }
    pub fn u64(&mut self, def: AvpDef, v: u64) -> &mut Self {
        self.avp_header(def, 8);
        self.buf.put_u64(v);
        self
    }
    pub fn i64(&mut self, def: AvpDef, v: i64) -> &mut Self {
        self.avp_header(def, 8);
        self.buf.put_i64(v);
        self
    }
    pub fn f32(&mut self, def: AvpDef, v: f32) -> &mut Self {
        self.avp_header(def, 4);
        self.buf.put_f32(v);
        self
    }
    pub fn f64(&mut self, def: AvpDef, v: f64) -> &mut Self {
        self.avp_header(def, 8);
        self.buf.put_f64(v);
        self
    }
    pub fn time(&mut self, def: AvpDef, t: DiameterTime) -> &mut Self {
        self.u32(def, t.0)
    }
    pub fn address(&mut self, def: AvpDef, ip: IpAddr) -> &mut Self {
        match ip {
            IpAddr::V4(a) => {
                self.avp_header(def, 6);
                self.buf.put_u16(1);
                self.buf.extend_from_slice(&a.octets());
                self.pad(6);
            }
            IpAddr::V6(a) => {
                self.avp_header(def, 18);
                self.buf.put_u16(2);
                self.buf.extend_from_slice(&a.octets());
                self.pad(18);
            }
        }
        self
    }
    /// Copies a complete AVP (header and data, as received) and pads it.
    pub fn raw_avp(&mut self, raw: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(raw);
        self.pad(raw.len());
        self
    }

    pub fn open_group(&mut self, def: AvpDef) -> Group {
        let pos = self.buf.len();
        self.avp_header(def, 0);
        Group(pos)
    }
    pub fn close_group(&mut self, g: Group) {
        // Members are already padded, so the group length is a multiple of 4.
        let len = self.buf.len() - g.0;
        let b = &mut self.buf[g.0 + 5..g.0 + 8];
        b.copy_from_slice(&(len as u32).to_be_bytes()[1..]);
    }
    pub fn group(&mut self, def: AvpDef, f: impl FnOnce(&mut Self)) -> &mut Self {
        let g = self.open_group(def);
        f(self);
        self.close_group(g);
        self
    }

    /// Patches the message length; returns it.
    pub fn finish(self) -> usize {
        let len = self.buf.len() - self.start;
        self.buf[self.start + 1..self.start + 4].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
        len
    }
}
