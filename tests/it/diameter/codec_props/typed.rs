//! Typed AVP round trips: every RFC 6733 data type written with
//! `MessageBuilder` reads back as written, with its flags, vendor and padding;
//! the Time type across its NTP era window; request and answer headers.

use super::*;

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
