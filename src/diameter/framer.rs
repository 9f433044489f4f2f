//! Stream framing: cuts whole messages out of a TCP byte stream, however the
//! reads split or join them.

use bytes::{Bytes, BytesMut};

use super::header::HEADER_LEN;

/// The stream cannot be re-synchronised: RFC 6733 §2.1 says close the transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("message length {0} is shorter than a Diameter header")]
    TooShort(u32),
    #[error("message length {length} exceeds the limit of {limit} octets")]
    TooLong { length: u32, limit: u32 },
}

#[derive(Debug, Clone, Copy)]
pub struct Framer {
    max_len: u32,
}

impl Default for Framer {
    fn default() -> Self {
        Framer { max_len: 1 << 20 }
    }
}

impl Framer {
    pub fn new(max_len: u32) -> Self {
        Framer {
            max_len: max_len.max(HEADER_LEN as u32),
        }
    }

    /// Takes the next complete message off the front of `buf`, if there is one.
    /// The version and the multiple-of-4 rule are left to the validator, which
    /// can answer them (5011, 5015); only lengths that make the stream
    /// unreadable are errors here.
    pub fn next_frame(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let length = u32::from_be_bytes([0, buf[1], buf[2], buf[3]]);
        if length < HEADER_LEN as u32 {
            return Err(FramingError::TooShort(length));
        }
        if length > self.max_len {
            return Err(FramingError::TooLong {
                length,
                limit: self.max_len,
            });
        }
        if buf.len() < length as usize {
            buf.reserve(length as usize - buf.len());
            return Ok(None);
        }
        Ok(Some(buf.split_to(length as usize).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(len: u8) -> Vec<u8> {
        let mut v = vec![0u8; len as usize];
        v[0] = 1;
        v[3] = len;
        v
    }

    #[test]
    fn partial_and_joined_reads() {
        let f = Framer::default();
        let mut stream = msg(20);
        stream.extend(msg(24));
        let mut buf = BytesMut::new();
        let mut frames = vec![];
        for chunk in stream.chunks(3) {
            buf.extend_from_slice(chunk);
            while let Some(fr) = f.next_frame(&mut buf).unwrap() {
                frames.push(fr.len());
            }
        }
        assert_eq!(frames, vec![20, 24]);
        assert!(buf.is_empty());
    }

    #[test]
    fn unrecoverable_lengths() {
        let f = Framer::new(100);
        let mut b = BytesMut::from(&msg(8)[..]);
        assert_eq!(f.next_frame(&mut b), Err(FramingError::TooShort(8)));
        let mut b = BytesMut::from(&[1u8, 0, 1, 0][..]);
        assert!(matches!(
            f.next_frame(&mut b),
            Err(FramingError::TooLong { .. })
        ));
    }
}
