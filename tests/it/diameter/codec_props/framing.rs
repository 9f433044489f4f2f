//! Stream framing: the framer reassembles any split of a stream of encoded
//! messages, and refuses a message over its limit.

use super::*;

fn encoded_message() -> impl Strategy<Value = Vec<u8>> {
    (header(), vec((avp_def(), vec(any::<u8>(), 0..64)), 0..6)).prop_map(|(h, avps)| {
        let mut buf = BytesMut::new();
        let mut b = MessageBuilder::new(&mut buf, h);
        for (def, data) in &avps {
            b.octets(*def, data);
        }
        b.finish();
        buf.to_vec()
    })
}

/// Feeds `stream` to the framer in chunks of the given sizes (cycled),
/// draining every complete frame after each read.
fn reframe(
    framer: &Framer,
    stream: &[u8],
    chunks: &[usize],
) -> (Vec<Vec<u8>>, Option<FramingError>, BytesMut) {
    let mut buf = BytesMut::new();
    let mut frames = vec![];
    let mut pos = 0;
    for &size in chunks.iter().cycle() {
        if pos >= stream.len() {
            break;
        }
        let end = (pos + size).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
        loop {
            match framer.next_frame(&mut buf) {
                Ok(Some(f)) => frames.push(f.to_vec()),
                Ok(None) => break,
                Err(e) => return (frames, Some(e), buf),
            }
        }
    }
    (frames, None, buf)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However the reads split or join messages, the frames come out whole and in order.
    #[test]
    fn framer_reassembles_any_split(
        msgs in vec(encoded_message(), 1..10),
        chunks in vec(1usize..=300, 1..32),
    ) {
        let stream = msgs.concat();
        let (frames, err, rest) = reframe(&Framer::default(), &stream, &chunks);
        prop_assert_eq!(err, None);
        prop_assert!(rest.is_empty());
        prop_assert_eq!(frames, msgs);
    }

    /// With a length limit, every message before the first oversized one is
    /// delivered, then the stream fails with TooLong.
    #[test]
    fn framer_limit(
        msgs in vec(encoded_message(), 1..10),
        chunks in vec(1usize..=300, 1..32),
        limit in 20u32..400,
    ) {
        let stream = msgs.concat();
        let (frames, err, _) = reframe(&Framer::new(limit), &stream, &chunks);
        let ok = msgs.iter().take_while(|m| m.len() as u32 <= limit).count();
        prop_assert_eq!(&frames[..], &msgs[..ok]);
        match msgs.get(ok) {
            Some(m) => prop_assert_eq!(
                err,
                Some(FramingError::TooLong { length: m.len() as u32, limit })
            ),
            None => prop_assert_eq!(err, None),
        }
    }
}
