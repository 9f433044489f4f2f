//! Property tests for the Diameter codec (RFC 6733): typed AVP round trips
//! through `MessageBuilder` and the borrowed readers, random grouped-AVP trees,
//! stream framing under arbitrary read splits, and robustness of every decoder
//! entry point (framer, message, AVP iterator, validator, dump, error answers)
//! against arbitrary and dictionary-shaped bytes.

use std::net::IpAddr;
use std::sync::OnceLock;

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;

use gyro::diameter::answer::{error_answer, Origin};
use gyro::diameter::avp::{avp_flags, Avp};
use gyro::diameter::dictionary::{AvpId, DataType};
use gyro::diameter::framer::FramingError;
use gyro::diameter::header::{flags, Header, HEADER_LEN, VERSION};
use gyro::diameter::validate::validate;
use gyro::diameter::value::DiameterTime;
use gyro::diameter::{dump, AvpDef, AvpIter, Dictionary, Framer, Message, MessageBuilder};

fn dict() -> &'static Dictionary {
    static DICT: OnceLock<Dictionary> = OnceLock::new();
    DICT.get_or_init(Dictionary::builtin)
}

fn origin() -> Origin {
    Origin {
        host: "gyro.test.example".into(),
        realm: "test.example".into(),
        state_id: 1,
    }
}

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_TO_UNIX: i64 = 2_208_988_800;
/// Unix second at which NTP era 1 starts (2036-02-07T06:28:16Z).
const ERA1_UNIX: i64 = (1 << 32) - NTP_TO_UNIX;
/// Last Unix second a Time can carry under the RFC 4330 era rule
/// (2104-02-26T09:42:23Z); the window starts at 1968-01-20T03:14:08Z.
const TIME_MAX_UNIX: i64 = ERA1_UNIX + 0x7fff_ffff;
const TIME_MIN_UNIX: i64 = 0x8000_0000 - NTP_TO_UNIX;
/// Raw Time values for 1968-01-20..1970-01-01: `DiameterTime::unix_seconds`
/// underflows on them (see `time_before_1970_does_not_panic`), so the
/// generators below stay clear of them until that is fixed.
const PRE_1970_RAW: std::ops::Range<u32> = 0x8000_0000..NTP_TO_UNIX as u32;

const M: u8 = avp_flags::MANDATORY;
const P: u8 = avp_flags::PROTECTED;
const V: u8 = avp_flags::VENDOR;

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn vendor() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), Just(10415u32), any::<u32>()]
}

/// Any AVP definition the builder accepts: M and P bits only (V follows vendor).
fn avp_def() -> impl Strategy<Value = AvpDef> {
    (any::<u32>(), vendor(), any::<bool>(), any::<bool>()).prop_map(|(code, vendor, m, p)| AvpDef {
        code,
        vendor,
        flags: (if m { M } else { 0 }) | (if p { P } else { 0 }),
    })
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<u8>(),
        any::<u8>(),
        0u32..1 << 24,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(version, flags, command, application, hop_by_hop, end_to_end)| Header {
                version,
                length: 0,
                flags,
                command,
                application,
                hop_by_hop,
                end_to_end,
            },
        )
}

/// f32 bit patterns, with NaNs (both signs, quiet and signalling) and the
/// special values well represented.
fn f32_bits() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => any::<u32>(),
        1 => 0x7f80_0001u32..=0x7fff_ffff,
        1 => 0xff80_0001u32..=0xffff_ffff,
        1 => prop::sample::select(vec![0u32, 0x8000_0000, 0x7f80_0000, 0xff80_0000, 1, 0x7fc0_0000]),
    ]
}

fn f64_bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => any::<u64>(),
        1 => 0x7ff0_0000_0000_0001u64..=0x7fff_ffff_ffff_ffff,
        1 => 0xfff0_0000_0000_0001u64..=0xffff_ffff_ffff_ffff,
        1 => prop::sample::select(vec![
            0u64,
            0x8000_0000_0000_0000,
            0x7ff0_0000_0000_0000,
            0xfff0_0000_0000_0000,
            1,
            0x7ff8_0000_0000_0000,
        ]),
    ]
}

/// One value of each RFC 6733 basic or derived data type the builder writes.
#[derive(Debug, Clone)]
enum Typed {
    Octets(Vec<u8>),
    Utf8(String),
    I32(i32),
    I64(i64),
    U32(u32),
    U64(u64),
    F32(u32),
    F64(u64),
    Addr(IpAddr),
    /// Unix seconds.
    Time(i64),
}

fn typed() -> impl Strategy<Value = Typed> {
    prop_oneof![
        vec(any::<u8>(), 0..300).prop_map(Typed::Octets),
        any::<String>().prop_map(Typed::Utf8),
        any::<i32>().prop_map(Typed::I32),
        any::<i64>().prop_map(Typed::I64),
        any::<u32>().prop_map(Typed::U32),
        any::<u64>().prop_map(Typed::U64),
        f32_bits().prop_map(Typed::F32),
        f64_bits().prop_map(Typed::F64),
        any::<IpAddr>().prop_map(Typed::Addr),
        (TIME_MIN_UNIX..=TIME_MAX_UNIX).prop_map(Typed::Time),
    ]
}

fn put(b: &mut MessageBuilder<'_>, def: AvpDef, v: &Typed) {
    match v {
        Typed::Octets(d) => b.octets(def, d),
        Typed::Utf8(s) => b.utf8(def, s),
        Typed::I32(x) => b.i32(def, *x),
        Typed::I64(x) => b.i64(def, *x),
        Typed::U32(x) => b.u32(def, *x),
        Typed::U64(x) => b.u64(def, *x),
        Typed::F32(x) => b.f32(def, f32::from_bits(*x)),
        Typed::F64(x) => b.f64(def, f64::from_bits(*x)),
        Typed::Addr(ip) => b.address(def, *ip),
        Typed::Time(s) => b.time(def, DiameterTime::from_unix_seconds(*s)),
    };
}

// ---------------------------------------------------------------------------
// Typed round trips
// ---------------------------------------------------------------------------

fn check_avp_header(a: &Avp<'_>, def: AvpDef) -> Result<(), TestCaseError> {
    let vendor = def.vendor != 0;
    prop_assert_eq!(a.code, def.code);
    prop_assert_eq!(a.vendor, def.vendor);
    prop_assert_eq!(a.flags, def.flags | if vendor { V } else { 0 });
    prop_assert_eq!(a.is_vendor(), vendor);
    prop_assert_eq!(a.is_mandatory(), def.flags & M != 0);
    prop_assert_eq!(a.header_len(), if vendor { 12 } else { 8 });
    prop_assert_eq!(a.raw().len(), a.header_len() + a.data().len());
    prop_assert_eq!(&a.raw()[a.header_len()..], a.data());
    Ok(())
}

fn check_typed(a: &Avp<'_>, def: AvpDef, v: &Typed) -> Result<(), TestCaseError> {
    check_avp_header(a, def)?;
    match v {
        Typed::Octets(d) => prop_assert_eq!(a.octets(), &d[..]),
        Typed::Utf8(s) => prop_assert_eq!(a.utf8(), Ok(s.as_str())),
        Typed::I32(x) => {
            prop_assert_eq!(a.i32(), Ok(*x));
            prop_assert_eq!(a.enumerated(), Ok(*x));
            prop_assert!(a.i64().is_err());
        }
        Typed::I64(x) => {
            prop_assert_eq!(a.i64(), Ok(*x));
            prop_assert!(a.i32().is_err());
        }
        Typed::U32(x) => {
            prop_assert_eq!(a.u32(), Ok(*x));
            prop_assert!(a.u64().is_err());
        }
        Typed::U64(x) => {
            prop_assert_eq!(a.u64(), Ok(*x));
            prop_assert!(a.u32().is_err());
        }
        Typed::F32(bits) => prop_assert_eq!(a.f32().map(f32::to_bits), Ok(*bits)),
        Typed::F64(bits) => prop_assert_eq!(a.f64().map(f64::to_bits), Ok(*bits)),
        Typed::Addr(ip) => {
            prop_assert_eq!(a.address(), Ok(*ip));
            prop_assert_eq!(a.data().len(), if ip.is_ipv4() { 6 } else { 18 });
        }
        Typed::Time(secs) => {
            let t = a.time().expect("four octets");
            prop_assert_eq!(t, DiameterTime::from_unix_seconds(*secs));
            prop_assert_eq!(t.unix_seconds(), *secs);
            // Era rule (RFC 4330 §3): top bit set = era 0 (before 2036-02-07T06:28:16Z).
            prop_assert_eq!(t.0 & 0x8000_0000 != 0, *secs < ERA1_UNIX);
        }
    }
    Ok(())
}

const SENTINEL: AvpDef = AvpDef {
    code: 0x00de_ad00,
    vendor: 0,
    flags: 0,
};

proptest! {
    /// Every typed AVP reads back as written, with its flags and vendor, and
    /// whatever follows it (padding included) still parses.
    #[test]
    fn typed_avps_round_trip(items in vec((avp_def(), typed()), 1..8), h in header()) {
        let mut buf = BytesMut::new();
        let mut b = MessageBuilder::new(&mut buf, h);
        for (def, v) in &items {
            put(&mut b, *def, v);
        }
        b.u32(SENTINEL, 0x5a5a_5a5a);
        let len = b.finish();
        prop_assert_eq!(len, buf.len());
        prop_assert_eq!(len % 4, 0);
        let m = Message::new(&buf).expect("built message parses");
        let mut it = m.avps();
        for (def, v) in &items {
            let a = it.next().expect("AVP present").expect("AVP framed");
            check_typed(&a, *def, v)?;
        }
        let s = it.next().expect("sentinel present").expect("sentinel framed");
        prop_assert_eq!((s.code, s.u32()), (SENTINEL.code, Ok(0x5a5a_5a5a)));
        prop_assert!(it.next().is_none());
    }

    /// OctetString of any length is padded with zeros to a multiple of four and
    /// the next AVP starts right after the padding.
    #[test]
    fn octet_string_padding(def in avp_def(), data in vec(any::<u8>(), 0..300)) {
        let mut buf = BytesMut::new();
        let mut b = MessageBuilder::request(&mut buf, 272, 4, true, 1, 2);
        b.octets(def, &data).u32(SENTINEL, 7);
        b.finish();
        let body = &buf[HEADER_LEN..];
        let hdr = if def.vendor != 0 { 12 } else { 8 };
        let avp_len = hdr + data.len();
        let padded = avp_len.div_ceil(4) * 4;
        prop_assert_eq!(u32::from_be_bytes([0, body[5], body[6], body[7]]) as usize, avp_len);
        prop_assert!(body[avp_len..padded].iter().all(|&x| x == 0));
        let mut it = AvpIter::new(body);
        let a = it.next().unwrap().unwrap();
        check_typed(&a, def, &Typed::Octets(data.clone()))?;
        let s = it.next().unwrap().unwrap();
        prop_assert_eq!(s.raw().as_ptr(), body[padded..].as_ptr());
        prop_assert_eq!(s.u32(), Ok(7));
        prop_assert!(it.next().is_none());
    }

    /// Unix seconds anywhere in 1968-01-20..=2104-02-26T09:42:23Z survive the
    /// NTP conversion, and the era is chosen by the top bit.
    #[test]
    fn time_unix_round_trip(secs in TIME_MIN_UNIX..=TIME_MAX_UNIX) {
        let t = DiameterTime::from_unix_seconds(secs);
        prop_assert_eq!(t.unix_seconds(), secs);
        prop_assert_eq!(t.0 & 0x8000_0000 != 0, secs < ERA1_UNIX);
        prop_assert_eq!(DiameterTime::from_system_time(t.to_system_time()), t);
    }

    /// Every raw Time value maps to one Unix second and back.
    #[test]
    fn time_raw_round_trip(raw: u32) {
        let t = DiameterTime(raw);
        let secs = t.unix_seconds();
        prop_assert!((TIME_MIN_UNIX..=TIME_MAX_UNIX).contains(&secs));
        prop_assert_eq!(secs >= ERA1_UNIX, raw < 0x8000_0000);
        prop_assert_eq!(DiameterTime::from_unix_seconds(secs), t);
    }

    /// request() and answer() set the header flags RFC 6733 §3 asks for.
    #[test]
    fn request_and_answer_headers(
        command in 0u32..1 << 24,
        application: u32,
        hbh: u32,
        e2e: u32,
        proxiable: bool,
        error: bool,
        extra: u8,
    ) {
        let mut buf = BytesMut::new();
        let n = MessageBuilder::request(&mut buf, command, application, proxiable, hbh, e2e).finish();
        prop_assert_eq!(n, HEADER_LEN);
        let req = Message::new(&buf).unwrap().header;
        prop_assert_eq!(req.version, VERSION);
        prop_assert_eq!(req.flags, flags::REQUEST | if proxiable { flags::PROXIABLE } else { 0 });
        prop_assert_eq!(
            (req.command, req.application, req.hop_by_hop, req.end_to_end),
            (command, application, hbh, e2e)
        );
        let mut req = req;
        req.flags |= extra;
        let mut buf = BytesMut::new();
        MessageBuilder::answer(&mut buf, &req, error).finish();
        let ans = Message::new(&buf).unwrap().header;
        prop_assert_eq!(
            ans.flags,
            (req.flags & flags::PROXIABLE) | if error { flags::ERROR } else { 0 }
        );
        prop_assert!(!ans.is_request() && !ans.is_retransmit());
        prop_assert_eq!(
            (ans.command, ans.application, ans.hop_by_hop, ans.end_to_end),
            (command, application, hbh, e2e)
        );
    }
}

#[test]
fn time_window_edges() {
    let cases: [(i64, u32, &str); 5] = [
        (TIME_MIN_UNIX, 0x8000_0000, "1968-01-20T03:14:08Z"),
        (0, 0x83aa_7e80, "1970-01-01T00:00:00Z"),
        (ERA1_UNIX - 1, 0xffff_ffff, "2036-02-07T06:28:15Z"),
        (ERA1_UNIX, 0, "2036-02-07T06:28:16Z"),
        (TIME_MAX_UNIX, 0x7fff_ffff, "2104-02-26T09:42:23Z"),
    ];
    for (secs, raw, text) in cases {
        assert_eq!(DiameterTime::from_unix_seconds(secs), DiameterTime(raw));
        assert_eq!(DiameterTime(raw).unix_seconds(), secs);
        assert_eq!(dump::rfc3339(secs), text);
    }
}

/// Time values from 1968-01-20T03:14:08Z (0x8000_0000) to just before 1970 are
/// in era 0 but precede the Unix epoch: they are negative Unix seconds, and
/// dumping a message that carries one (e.g. Event-Timestamp) must not panic.
#[test]
fn time_before_1970_does_not_panic() {
    for raw in [PRE_1970_RAW.start, PRE_1970_RAW.end - 1] {
        let _ = DiameterTime(raw).unix_seconds();
        let mut buf = BytesMut::new();
        let mut b = MessageBuilder::request(&mut buf, 272, 4, true, 1, 2);
        b.time(AvpDef::base(55), DiameterTime(raw));
        b.finish();
        let _ = dump::to_json(dict(), &Message::new(&buf).unwrap());
    }
}

// ---------------------------------------------------------------------------
// Grouped trees
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Tree {
    Leaf { def: AvpDef, data: Vec<u8> },
    Group { def: AvpDef, members: Vec<Tree> },
}

fn tree_def() -> impl Strategy<Value = AvpDef> {
    let vendor = prop_oneof![Just(0u32), Just(10415u32), any::<u32>()];
    (
        any::<u32>(),
        vendor,
        prop::sample::select(vec![0, M, P, M | P]),
    )
        .prop_map(|(code, vendor, flags)| AvpDef {
            code,
            vendor,
            flags,
        })
}

/// At most four AVP levels (three of groups, then leaves), at most five members each.
fn tree() -> impl Strategy<Value = Tree> {
    let leaf =
        (tree_def(), vec(any::<u8>(), 0..40)).prop_map(|(def, data)| Tree::Leaf { def, data });
    leaf.prop_recursive(3, 64, 5, |inner| {
        (tree_def(), vec(inner, 0..=5)).prop_map(|(def, members)| Tree::Group { def, members })
    })
}

fn hdr_len(def: AvpDef) -> usize {
    if def.vendor != 0 {
        12
    } else {
        8
    }
}

/// Octets the tree takes on the wire, padding included.
fn wire_len(t: &Tree) -> usize {
    match t {
        Tree::Leaf { def, data } => (hdr_len(*def) + data.len()).div_ceil(4) * 4,
        Tree::Group { def, members } => hdr_len(*def) + members.iter().map(wire_len).sum::<usize>(),
    }
}

fn encode(b: &mut MessageBuilder<'_>, t: &Tree, closures: bool) {
    match t {
        Tree::Leaf { def, data } => {
            b.octets(*def, data);
        }
        Tree::Group { def, members } if closures => {
            b.group(*def, |b| {
                for m in members {
                    encode(b, m, closures);
                }
            });
        }
        Tree::Group { def, members } => {
            let g = b.open_group(*def);
            for m in members {
                encode(b, m, closures);
            }
            b.close_group(g);
        }
    }
}

fn check_tree(it: AvpIter<'_>, expected: &[Tree]) -> Result<(), TestCaseError> {
    let got: Vec<Avp<'_>> = it
        .collect::<Result<_, _>>()
        .map_err(|e| TestCaseError::fail(format!("framing error {e:?}")))?;
    prop_assert_eq!(got.len(), expected.len());
    for (a, t) in got.iter().zip(expected) {
        match t {
            Tree::Leaf { def, data } => {
                check_avp_header(a, *def)?;
                prop_assert_eq!(a.data(), &data[..]);
            }
            Tree::Group { def, members } => {
                check_avp_header(a, *def)?;
                prop_assert_eq!(a.data().len(), members.iter().map(wire_len).sum::<usize>());
                check_tree(a.grouped(), members)?;
                if let Some(first) = members.first() {
                    let (code, vendor) = match first {
                        Tree::Leaf { def, .. } | Tree::Group { def, .. } => (def.code, def.vendor),
                    };
                    let found = a.member(code, vendor).expect("member found");
                    let direct = a.grouped().next().unwrap().unwrap();
                    prop_assert_eq!(found, direct);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A random tree of grouped AVPs, written with open/close_group or group(),
    /// reads back exactly, and the header survives (also when the buffer
    /// already holds something before the message).
    #[test]
    fn grouped_tree_round_trip(
        avps in vec(tree(), 0..=5),
        h in header(),
        closures: bool,
        prefix in vec(any::<u8>(), 0..8),
    ) {
        let mut buf = BytesMut::from(&prefix[..]);
        let mut b = MessageBuilder::new(&mut buf, h);
        for t in &avps {
            encode(&mut b, t, closures);
        }
        let len = b.finish();
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        prop_assert_eq!(buf.len(), prefix.len() + len);
        prop_assert_eq!(len, HEADER_LEN + avps.iter().map(wire_len).sum::<usize>());
        let m = Message::new(&buf[prefix.len()..]).expect("built message parses");
        let got = m.header;
        prop_assert_eq!(got.length as usize, len);
        prop_assert_eq!(got, Header { length: len as u32, ..h });
        check_tree(m.avps(), &avps)?;
    }
}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Robustness: nothing panics on hostile input
// ---------------------------------------------------------------------------

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
