//! Requests a gateway sends, built with gyro's own `MessageBuilder`: the Gy
//! CCR of a PGW, any Credit-Control request, AVPs appended to an encoded
//! request, a DRA's Proxy-Info; and what an answer granted.

/// A Gy CCR as a PGW sends it: IMSI and MSISDN, one MSCC of rating group
/// 10, the visited network in 3GPP-SGSN-MCC-MNC.
#[derive(Clone, Copy)]
pub struct GyCcr<'a> {
    pub session: &'a str,
    pub kind: u32,
    pub number: u32,
    pub e2e: u32,
    pub imsi: &'a str,
    pub requested: Option<u64>,
    pub used: u64,
    pub retransmit: bool,
    pub plmn: &'a str,
    pub origin: &'a str,
    /// Destination-Realm.
    pub realm: &'a str,
}

impl GyCcr<'static> {
    pub const BASE: GyCcr<'static> = GyCcr {
        session: "s",
        kind: 1,
        number: 0,
        e2e: 1,
        imsi: "262019000000001",
        requested: None,
        used: 0,
        retransmit: false,
        plmn: "26201",
        origin: "pgw.test.local",
        realm: "test.local",
    };
}

pub fn gy_ccr(c: &GyCcr<'_>) -> Vec<u8> {
    gy_ccr_with(c, |_| {}, |_| {})
}

/// `gy_ccr` plus what `top` adds at top level and `mscc` inside the MSCC.
pub fn gy_ccr_with(
    c: &GyCcr<'_>,
    top: impl FnOnce(&mut gyro::diameter::MessageBuilder<'_>),
    mscc: impl FnOnce(&mut gyro::diameter::MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    let mut b = gyro::diameter::MessageBuilder::request(&mut buf, 272, 4, true, c.e2e, c.e2e);
    b.utf8(gyro::diameter::codes::SESSION_ID, c.session)
        .utf8(gyro::diameter::codes::ORIGIN_HOST, c.origin)
        .utf8(gyro::diameter::codes::ORIGIN_REALM, "test.local")
        .utf8(gyro::diameter::codes::DESTINATION_REALM, c.realm)
        .u32(gyro::diameter::codes::AUTH_APPLICATION_ID, 4)
        .utf8(gyro::diameter::builder::AvpDef::base(461), "32251@3gpp.org")
        .i32(gyro::diameter::builder::AvpDef::base(416), c.kind as i32)
        .u32(gyro::diameter::builder::AvpDef::base(415), c.number);
    // An MSISDN first: it must not take the IMSI's place.
    b.group(gyro::diameter::builder::AvpDef::base(443), |b| {
        b.i32(gyro::diameter::builder::AvpDef::base(450), 0)
            .utf8(gyro::diameter::builder::AvpDef::base(444), "491700009999");
    });
    b.group(gyro::diameter::builder::AvpDef::base(443), |b| {
        b.i32(gyro::diameter::builder::AvpDef::base(450), 1)
            .utf8(gyro::diameter::builder::AvpDef::base(444), c.imsi);
    });
    b.i32(gyro::diameter::builder::AvpDef::base(455), 1);
    top(&mut b);
    b.group(gyro::diameter::builder::AvpDef::base(456), |b| {
        if let Some(r) = c.requested {
            b.group(gyro::diameter::builder::AvpDef::base(437), |b| {
                b.u64(gyro::diameter::builder::AvpDef::base(421), r);
            });
        }
        if c.used > 0 {
            b.group(gyro::diameter::builder::AvpDef::base(446), |b| {
                b.u64(gyro::diameter::builder::AvpDef::base(421), c.used);
            });
        }
        b.u32(gyro::diameter::builder::AvpDef::base(432), 10);
        mscc(b);
    });
    b.group(
        gyro::diameter::builder::AvpDef::vendor(873, gyro::diameter::dictionary::VENDOR_3GPP, true),
        |b| {
            b.group(
                gyro::diameter::builder::AvpDef::vendor(
                    874,
                    gyro::diameter::dictionary::VENDOR_3GPP,
                    true,
                ),
                |b| {
                    b.utf8(
                        gyro::diameter::builder::AvpDef::vendor(
                            18,
                            gyro::diameter::dictionary::VENDOR_3GPP,
                            false,
                        ),
                        c.plmn,
                    );
                },
            );
        },
    );
    b.finish();
    if c.retransmit {
        buf[4] |= 0x10;
    }
    buf.to_vec()
}

/// A request on the Credit-Control application from pgw.test.local;
/// `extra` adds the command's own AVPs.
pub fn session_request(
    command: u32,
    session: &str,
    e2e: u32,
    extra: impl FnOnce(&mut gyro::diameter::MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    let mut b = gyro::diameter::MessageBuilder::request(&mut buf, command, 4, true, e2e, e2e);
    b.utf8(gyro::diameter::codes::SESSION_ID, session)
        .utf8(gyro::diameter::codes::ORIGIN_HOST, "pgw.test.local")
        .utf8(gyro::diameter::codes::ORIGIN_REALM, "test.local")
        .utf8(gyro::diameter::codes::DESTINATION_REALM, "test.local")
        .u32(gyro::diameter::codes::AUTH_APPLICATION_ID, 4);
    extra(&mut b);
    b.finish();
    buf.to_vec()
}

/// Appends AVPs to an encoded request and fixes its length.
pub fn with_avps(
    mut msg: Vec<u8>,
    add: impl FnOnce(&mut gyro::diameter::MessageBuilder<'_>),
) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    let mut b = gyro::diameter::MessageBuilder::request(&mut buf, 0, 0, false, 0, 0);
    add(&mut b);
    b.finish();
    msg.extend_from_slice(&buf[20..]);
    let len = (msg.len() as u32).to_be_bytes();
    msg[1..4].copy_from_slice(&len[1..]);
    msg
}

/// A Proxy-Info a DRA would add: its host and its state.
pub fn proxy_info(b: &mut gyro::diameter::MessageBuilder<'_>, host: &str, state: &[u8]) {
    use gyro::diameter::builder::AvpDef;
    b.group(gyro::diameter::codes::PROXY_INFO, |b| {
        b.utf8(AvpDef::base(280), host)
            .octets(AvpDef::base(33), state);
    });
}

/// The octets granted in an answer's (first) MSCC.
pub fn granted_octets(answer: &[u8]) -> Option<u64> {
    let m = gyro::diameter::Message::new(answer).unwrap();
    m.find(456, 0)?.member(431, 0)?.member(421, 0)?.u64().ok()
}
