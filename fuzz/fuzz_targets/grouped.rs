//! Bytes as the body of a grouped AVP: walks the members to depth 16 and calls
//! every typed getter on each of them.
#![no_main]

use bytes::BytesMut;
use gyro::diameter::avp::Avp;
use gyro::diameter::{AvpDef, AvpIter, Message, MessageBuilder};
use libfuzzer_sys::fuzz_target;

fn getters(a: &Avp<'_>) {
    assert_eq!(a.raw().len(), a.header_len() + a.data().len());
    assert_eq!(a.header_len(), if a.is_vendor() { 12 } else { 8 });
    assert_eq!(a.octets(), a.data());
    let _ = a.is_mandatory();
    let _ = (a.u32(), a.i32(), a.u64(), a.i64(), a.f32(), a.f64());
    let _ = (a.enumerated(), a.utf8(), a.identity(), a.uri(), a.address());
    if let Ok(t) = a.time() {
        let _ = t.unix_seconds();
        let _ = t.to_system_time();
    }
    let _ = a.member(a.code, a.vendor);
    let _ = format!("{a:?}");
}

fn walk(mut it: AvpIter<'_>, depth: usize) {
    while let Some(item) = it.next() {
        match item {
            Ok(a) => {
                getters(&a);
                if depth < 16 {
                    walk(a.grouped(), depth + 1);
                }
            }
            Err(e) => {
                assert!(!e.raw.is_empty());
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
    walk(AvpIter::new(data), 0);

    // The same bytes inside a real grouped AVP (Failed-AVP) of a built message.
    if data.len() > 0xff_0000 {
        return;
    }
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 272, 4, true, 1, 2);
    b.group(AvpDef::base(279), |b| {
        b.raw_avp(data);
    });
    b.finish();
    let msg = Message::new(&buf).expect("built message parses");
    let group = msg.find(279, 0).expect("the group is there");
    getters(&group);
    walk(group.grouped(), 1);
});
