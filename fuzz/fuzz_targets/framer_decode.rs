//! A TCP byte stream, delivered in reads of varying size, through the framer;
//! every frame is viewed as a message and all of its AVPs are walked, every
//! AVP's data also being tried as a group.
#![no_main]

use bytes::BytesMut;
use gyro::diameter::{AvpIter, Framer, Message};
use libfuzzer_sys::fuzz_target;

fn walk(mut it: AvpIter<'_>, depth: usize) {
    while let Some(item) = it.next() {
        match item {
            Ok(a) => {
                assert_eq!(a.raw().len(), a.header_len() + a.data().len());
                if depth < 16 {
                    walk(a.grouped(), depth + 1);
                }
            }
            Err(_) => {
                assert!(
                    it.next().is_none(),
                    "iteration goes on after a framing error"
                );
                return;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The first octet picks the read size, so that messages are split and joined.
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let read = split as usize % 64 + 1;
    let framer = Framer::default();
    let mut buf = BytesMut::new();
    for chunk in stream.chunks(read) {
        buf.extend_from_slice(chunk);
        loop {
            match framer.next_frame(&mut buf) {
                Ok(Some(frame)) => {
                    let msg = Message::new(&frame).expect("a frame is always a message");
                    assert_eq!(msg.header.length as usize, frame.len());
                    walk(msg.avps(), 0);
                }
                Ok(None) => break,
                // The stream cannot be re-synchronised: the transport would close.
                Err(_) => return,
            }
        }
    }
});
