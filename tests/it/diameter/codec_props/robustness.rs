//! Nothing panics on hostile input: arbitrary bytes, consistent headers with
//! random bodies and dictionary-shaped messages go through the framer, the
//! message and AVP readers, the validator, the dump and the error answers.

use super::*;

/// Calls every getter; checks the invariants that hold for any framed AVP.
fn exercise_avp(a: &Avp<'_>) {
    assert_eq!(a.raw().len(), a.header_len() + a.data().len());
    assert_eq!(a.header_len(), if a.is_vendor() { 12 } else { 8 });
    assert_eq!(a.is_vendor(), a.flags & V != 0);
    assert_eq!(a.octets(), a.data());
    let _ = (a.u32(), a.i32(), a.u64(), a.i64(), a.f32(), a.f64());
    let _ = (a.enumerated(), a.utf8(), a.identity(), a.uri(), a.address());
    assert_eq!(a.u32().is_ok(), a.data().len() == 4);
    assert_eq!(a.u64().is_ok(), a.data().len() == 8);
    if let Ok(t) = a.time() {
        if !PRE_1970_RAW.contains(&t.0) {
            let _ = t.to_system_time();
            let _ = dump::rfc3339(t.unix_seconds());
        }
    }
    let _ = format!("{a:?}");
    let _ = a.member(a.code, a.vendor);
}

/// Walks every AVP and, whatever its type, its data as a group.
fn walk(mut it: AvpIter<'_>, depth: usize) {
    while let Some(item) = it.next() {
        match item {
            Ok(a) => {
                exercise_avp(&a);
                if depth < 24 {
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

fn exercise_message(bytes: &[u8]) {
    let Some(m) = Message::new(bytes) else {
        return;
    };
    assert_eq!(m.header.length as usize, bytes.len());
    assert_eq!(m.raw(), bytes);
    walk(m.avps(), 0);
    let _ = (
        m.session_id(),
        m.origin_host(),
        m.origin_realm(),
        m.result_code(),
    );
    let _ = m.find_all(263, 0).count();
    let _ = dump::to_json(dict(), &m).to_string();
    let _ = dump::to_human(dict(), &m);
    let Err(v) = validate(dict(), &m) else {
        return;
    };
    let mut out = BytesMut::new();
    let n = error_answer(&mut out, dict(), &origin(), &m, &v);
    assert_eq!(n, out.len());
    let ans = Message::new(&out).expect("the error answer parses");
    assert!(!ans.header.is_request());
    assert_eq!(ans.header.is_error(), v.is_protocol_error());
    assert_eq!(ans.result_code(), Some(v.result_code));
    assert_eq!(
        (
            ans.header.command,
            ans.header.hop_by_hop,
            ans.header.end_to_end
        ),
        (m.header.command, m.header.hop_by_hop, m.header.end_to_end)
    );
    assert!(
        ans.avps().all(|r| r.is_ok()),
        "the error answer's AVPs frame"
    );
    walk(ans.avps(), 0);
    let _ = validate(dict(), &ans);
}

fn exercise_stream(bytes: &[u8], framer: Framer) {
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(frame)) = framer.next_frame(&mut buf) {
        assert!(
            Message::new(&frame).is_some(),
            "a frame is always a message"
        );
        exercise_message(&frame);
    }
}

/// A message whose header length matches whatever body follows (mostly
/// version 1 and a multiple of four, so that validation gets past the header).
fn consistent_message() -> impl Strategy<Value = Vec<u8>> {
    let version = prop_oneof![3 => Just(VERSION), 1 => any::<u8>()];
    let body = prop_oneof![
        3 => vec(any::<[u8; 4]>(), 0..150).prop_map(|w| w.concat()),
        1 => vec(any::<u8>(), 0..600),
    ];
    (header(), version, body).prop_map(|(h, version, body)| {
        let mut out = [0u8; HEADER_LEN];
        Header {
            version,
            length: (HEADER_LEN + body.len()) as u32,
            ..h
        }
        .write(&mut out);
        let mut v = out.to_vec();
        v.extend(body);
        v
    })
}

// Dictionary-shaped messages: known AVPs, mostly well-typed values, known
// commands, with some corrupted lengths and flags, to reach deep into the
// validator, the dump and the error answers.

#[derive(Debug, Clone)]
struct RawAvp {
    code: u32,
    vendor: u32,
    flags: u8,
    /// Added to the length field (0 most of the time).
    len_delta: i8,
    data: Vec<u8>,
    members: Option<Vec<RawAvp>>,
}

fn defs_where(f: impl Fn(DataType) -> bool) -> Vec<AvpId> {
    let d = dict();
    (0..d.avp_count() as AvpId)
        .filter(|&id| f(d.def(id).data_type))
        .collect()
}

fn typed_data(id: AvpId) -> BoxedStrategy<Vec<u8>> {
    use DataType::*;
    let def = dict().def(id);
    let valid: BoxedStrategy<Vec<u8>> = match def.data_type {
        Integer32 | Unsigned32 | Float32 => any::<u32>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        Integer64 | Unsigned64 | Float64 => any::<u64>().prop_map(|v| v.to_be_bytes().to_vec()).boxed(),
        // Both eras, but not the pre-1970 values of the known bug.
        Time => prop_oneof![0u32..0x8000_0000, PRE_1970_RAW.end..=u32::MAX]
            .prop_map(|v| v.to_be_bytes().to_vec())
            .boxed(),
        Enumerated => {
            let mut vals: Vec<i32> = def.enums.iter().map(|(v, _)| *v).collect();
            vals.push(-1);
            prop::sample::select(vals).prop_map(|v| v.to_be_bytes().to_vec()).boxed()
        }
        Address => prop_oneof![
            any::<IpAddr>().prop_map(|ip| match ip {
                IpAddr::V4(a) => [&[0u8, 1][..], &a.octets()].concat(),
                IpAddr::V6(a) => [&[0u8, 2][..], &a.octets()].concat(),
            }),
            vec(any::<u8>(), 0..20),
        ]
        .boxed(),
        DiameterIdentity => "[a-z0-9.-]{0,24}".prop_map(String::into_bytes).boxed(),
        DiameterURI => prop_oneof![
            "aaas?://[a-z.]{0,12}(:[0-9]{1,6})?(;transport=(tcp|sctp|udp|x))?(;protocol=(diameter|radius|y))?",
            "[ -~]{0,24}",
        ]
        .prop_map(String::into_bytes)
        .boxed(),
        UTF8String | IPFilterRule => any::<String>().prop_map(String::into_bytes).boxed(),
        OctetString | Grouped => vec(any::<u8>(), 0..32).boxed(),
    };
    // Wrong-sized or arbitrary data, never four octets on a Time AVP (known bug).
    let time = def.data_type == Time;
    let junk = vec(any::<u8>(), 0..12).prop_filter("known pre-1970 bug", move |d| {
        !(time
            && d.len() == 4
            && PRE_1970_RAW.contains(&u32::from_be_bytes([d[0], d[1], d[2], d[3]])))
    });
    prop_oneof![4 => valid, 1 => junk].boxed()
}

fn avp_flags_for(id: AvpId) -> impl Strategy<Value = u8> {
    let def = dict().def(id);
    let must = def.must | if def.vendor != 0 { V } else { 0 };
    prop_oneof![
        40 => Just(must),
        1 => prop::sample::select(vec![0, M, P, V, M | P, V | M, V | M | P]),
        1 => any::<u8>(),
    ]
}

fn len_delta() -> impl Strategy<Value = i8> {
    prop_oneof![30 => Just(0i8), 1 => -12i8..12]
}

fn raw_avp() -> impl Strategy<Value = RawAvp> {
    let leaves = defs_where(|t| t != DataType::Grouped);
    let groups = defs_where(|t| t == DataType::Grouped);
    let leaf = prop::sample::select(leaves).prop_flat_map(|id| {
        let def = dict().def(id);
        (
            Just((def.code, def.vendor)),
            avp_flags_for(id),
            len_delta(),
            typed_data(id),
        )
            .prop_map(|((code, vendor), flags, len_delta, data)| RawAvp {
                code,
                vendor,
                flags,
                len_delta,
                data,
                members: None,
            })
    });
    let unknown = (any::<u32>(), vendor(), any::<u8>(), vec(any::<u8>(), 0..16)).prop_map(
        |(code, vendor, flags, data)| RawAvp {
            code,
            vendor,
            flags,
            len_delta: 0,
            data,
            members: None,
        },
    );
    let leaf = prop_oneof![8 => leaf, 1 => unknown];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        (prop::sample::select(groups.clone()), vec(inner, 0..6)).prop_flat_map(|(id, members)| {
            let def = dict().def(id);
            (
                Just((def.code, def.vendor, members)),
                avp_flags_for(id),
                len_delta(),
            )
                .prop_map(|((code, vendor, members), flags, len_delta)| RawAvp {
                    code,
                    vendor,
                    flags,
                    len_delta,
                    data: vec![],
                    members: Some(members),
                })
        })
    })
}

/// Writes the AVP by hand, so that flags, vendor and length can disagree.
fn write_raw(out: &mut Vec<u8>, a: &RawAvp) {
    let mut data = a.data.clone();
    if let Some(members) = &a.members {
        data.clear();
        for m in members {
            write_raw(&mut data, m);
        }
    }
    let hdr = if a.flags & V != 0 { 12 } else { 8 };
    let len = (hdr + data.len()) as i64 + a.len_delta as i64;
    let len = len.clamp(0, 0xff_ffff) as u32;
    out.extend_from_slice(&a.code.to_be_bytes());
    out.extend_from_slice(&(((a.flags as u32) << 24) | len).to_be_bytes());
    if a.flags & V != 0 {
        out.extend_from_slice(&a.vendor.to_be_bytes());
    }
    out.extend_from_slice(&data);
    out.resize(out.len().div_ceil(4) * 4, 0);
}

fn dictionary_message() -> impl Strategy<Value = Vec<u8>> {
    let command = prop::sample::select(vec![
        (0u32, 257u32),
        (0, 258),
        (0, 271),
        (0, 274),
        (0, 275),
        (0, 280),
        (0, 282),
        (4, 272),
        (4, 258),
        (3, 271),
        (16_777_238, 272),
    ]);
    let hflags = prop_oneof![
        4 => prop::sample::select(vec![0x80u8, 0xc0, 0x40, 0x00, 0x20, 0x60]),
        1 => any::<u8>(),
    ];
    let version = prop_oneof![9 => Just(VERSION), 1 => any::<u8>()];
    (
        command,
        hflags,
        version,
        any::<(u32, u32)>(),
        vec(raw_avp(), 0..12),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |((application, command), flags, version, (hbh, e2e), avps, tail)| {
                let mut body = vec![];
                for a in &avps {
                    write_raw(&mut body, a);
                }
                if tail {
                    // A ragged end: cut a few octets off.
                    body.truncate(body.len().saturating_sub(3));
                }
                let mut out = [0u8; HEADER_LEN];
                Header {
                    version,
                    length: (HEADER_LEN + body.len()) as u32,
                    flags,
                    command,
                    application,
                    hop_by_hop: hbh,
                    end_to_end: e2e,
                }
                .write(&mut out);
                [&out[..], &body].concat()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary bytes through every entry point.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048), limit in 0u32..4096) {
        exercise_stream(&bytes, Framer::default());
        exercise_stream(&bytes, Framer::new(limit));
        exercise_message(&bytes);
        walk(AvpIter::new(&bytes), 0);
        let _ = Header::parse(&bytes);
    }

    /// Random bodies behind a header whose length fits, so that every decoder runs.
    #[test]
    fn consistent_header_random_body_never_panics(msg in consistent_message()) {
        prop_assert!(Message::new(&msg).is_some());
        exercise_message(&msg);
        exercise_stream(&msg, Framer::default());
    }

    /// Dictionary-shaped messages, some of them broken.
    #[test]
    fn dictionary_shaped_messages_never_panic(msg in dictionary_message()) {
        exercise_message(&msg);
        exercise_stream(&msg, Framer::default());
    }
}
