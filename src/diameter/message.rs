//! A received message as a borrowed view: the header plus an AVP iterator over
//! the body. Nothing is copied; callers read only the AVPs they need.

use super::avp::{Avp, AvpIter};
use super::header::{Header, HEADER_LEN};

#[derive(Clone, Copy)]
pub struct Message<'a> {
    pub header: Header,
    raw: &'a [u8],
}

impl<'a> Message<'a> {
    /// Views a complete frame as produced by the framer: at least a header, and
    /// the header's length equal to the frame's.
    pub fn new(frame: &'a [u8]) -> Option<Message<'a>> {
        let header = Header::parse(frame)?;
        if header.length as usize != frame.len() {
            return None;
        }
        Some(Message { header, raw: frame })
    }
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    pub fn body(&self) -> &'a [u8] {
        &self.raw[HEADER_LEN..]
    }
    pub fn avps(&self) -> AvpIter<'a> {
        AvpIter::new(self.body())
    }
    /// First top-level AVP with this code and vendor; a framing error ends the search.
    #[inline]
    pub fn find(&self, code: u32, vendor: u32) -> Option<Avp<'a>> {
        self.avps()
            .map_while(Result::ok)
            .find(|a| a.code == code && a.vendor == vendor)
    }
    pub fn find_all(&self, code: u32, vendor: u32) -> impl Iterator<Item = Avp<'a>> + 'a {
        self.avps()
            .map_while(Result::ok)
            .filter(move |a| a.code == code && a.vendor == vendor)
    }
    pub fn session_id(&self) -> Option<&'a str> {
        self.find(263, 0).and_then(|a| a.utf8().ok())
    }
    pub fn origin_host(&self) -> Option<&'a str> {
        self.find(264, 0).and_then(|a| a.identity().ok())
    }
    pub fn origin_realm(&self) -> Option<&'a str> {
        self.find(296, 0).and_then(|a| a.identity().ok())
    }
    pub fn result_code(&self) -> Option<u32> {
        self.find(268, 0).and_then(|a| a.u32().ok())
    }
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}
