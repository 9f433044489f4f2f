//! The messages the load sends: its CER, and CCRs with the AVPs a real PGW
//! puts in them (MSCC with RSU/USU, PS-Information with the serving network
//! and the User-Location-Info).

use bytes::{Bytes, BytesMut};

use crate::diameter::builder::{AvpDef, MessageBuilder};
use crate::diameter::codes::{self, avp};
use crate::diameter::dictionary::VENDOR_3GPP;

/// CC-Request-Type values.
pub(super) const INITIAL: i32 = 1;
pub(super) const UPDATE: i32 = 2;
pub(super) const TERMINATION: i32 = 3;

pub(super) fn cer(origin: &str, n: usize) -> Bytes {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 257, 0, false, n as u32, n as u32);
    b.utf8(codes::ORIGIN_HOST, origin)
        .utf8(codes::ORIGIN_REALM, "test.local")
        .address(
            codes::HOST_IP_ADDRESS,
            "127.0.0.1".parse().expect("literal address"),
        )
        .u32(codes::VENDOR_ID, 0)
        .utf8(codes::PRODUCT_NAME, "gyro load")
        .u32(codes::AUTH_APPLICATION_ID, 4);
    b.finish();
    buf.freeze()
}

pub(super) struct Req<'a> {
    pub origin: &'a str,
    pub realm: &'a str,
    pub session: &'a str,
    pub kind: i32,
    pub number: u32,
    pub hbh: u32,
    /// Unique per Origin-Host across connections: servers use (Origin-Host,
    /// End-to-End) to spot retransmissions.
    pub e2e: u32,
    pub imsi: &'a str,
    pub plmn: &'a str,
    pub used: u64,
}

pub(super) fn ccr(r: &Req<'_>) -> Bytes {
    let mut buf = BytesMut::with_capacity(640);
    let mut b = MessageBuilder::request(&mut buf, 272, 4, true, r.hbh, r.e2e);
    b.utf8(codes::SESSION_ID, r.session)
        .utf8(codes::ORIGIN_HOST, r.origin)
        .utf8(codes::ORIGIN_REALM, "test.local")
        .utf8(codes::DESTINATION_REALM, r.realm)
        .u32(codes::AUTH_APPLICATION_ID, 4)
        .utf8(AvpDef::base(avp::SERVICE_CONTEXT_ID), "32251@3gpp.org")
        .i32(AvpDef::base(avp::CC_REQUEST_TYPE), r.kind)
        .u32(AvpDef::base(avp::CC_REQUEST_NUMBER), r.number)
        .time(
            codes::EVENT_TIMESTAMP,
            crate::diameter::value::DiameterTime::from_system_time(crate::model::clock::wall_time()),
        );
    b.group(AvpDef::base(avp::SUBSCRIPTION_ID), |b| {
        b.i32(AvpDef::base(avp::SUBSCRIPTION_ID_TYPE), 1)
            .utf8(AvpDef::base(avp::SUBSCRIPTION_ID_DATA), r.imsi);
    });
    if r.kind == TERMINATION {
        b.i32(codes::TERMINATION_CAUSE, 1);
    }
    b.i32(AvpDef::base(avp::MULTIPLE_SERVICES_INDICATOR), 1);
    b.group(AvpDef::base(avp::MULTIPLE_SERVICES_CREDIT_CONTROL), |b| {
        mscc(b, r)
    });
    b.group(
        AvpDef::vendor(avp::SERVICE_INFORMATION, VENDOR_3GPP, true),
        |b| {
            b.group(
                AvpDef::vendor(avp::PS_INFORMATION, VENDOR_3GPP, true),
                |b| ps_information(b, r),
            );
        },
    );
    b.finish();
    buf.freeze()
}

/// One rating group: units requested (but on CCR-T), used (but on CCR-I)
/// and why they are reported.
fn mscc(b: &mut MessageBuilder<'_>, r: &Req<'_>) {
    if r.kind != TERMINATION {
        b.group(AvpDef::base(avp::REQUESTED_SERVICE_UNIT), |b| {
            b.u64(AvpDef::base(avp::CC_TOTAL_OCTETS), 1_000_000);
        });
    }
    if r.kind != INITIAL {
        b.group(AvpDef::base(avp::USED_SERVICE_UNIT), |b| {
            b.u64(AvpDef::base(avp::CC_TOTAL_OCTETS), r.used)
                .u64(AvpDef::base(avp::CC_INPUT_OCTETS), r.used / 3)
                .u64(AvpDef::base(avp::CC_OUTPUT_OCTETS), r.used - r.used / 3);
        });
    }
    b.u32(AvpDef::base(avp::SERVICE_IDENTIFIER), 1)
        .u32(AvpDef::base(avp::RATING_GROUP), 10);
    if r.kind != INITIAL {
        // FINAL on the termination, QUOTA_EXHAUSTED on updates.
        b.i32(
            AvpDef::vendor(avp::REPORTING_REASON, VENDOR_3GPP, true),
            if r.kind == TERMINATION { 2 } else { 3 },
        );
    }
}

fn ps_information(b: &mut MessageBuilder<'_>, r: &Req<'_>) {
    let uli = user_location_info(r.plmn);
    b.u32(
        AvpDef::vendor(avp::TGPP_CHARGING_ID, VENDOR_3GPP, false),
        r.hbh,
    )
    .i32(AvpDef::vendor(avp::TGPP_PDP_TYPE, VENDOR_3GPP, false), 0)
    .address(
        AvpDef::vendor(avp::PDP_ADDRESS, VENDOR_3GPP, true),
        "10.0.0.1".parse().expect("literal"),
    )
    .address(
        AvpDef::vendor(avp::SGSN_ADDRESS, VENDOR_3GPP, true),
        "192.0.2.1".parse().expect("literal"),
    )
    .utf8(
        AvpDef::vendor(avp::TGPP_IMSI_MCC_MNC, VENDOR_3GPP, false),
        &r.imsi[..5],
    )
    .utf8(AvpDef::base(avp::CALLED_STATION_ID), "internet")
    .utf8(
        AvpDef::vendor(avp::TGPP_SGSN_MCC_MNC, VENDOR_3GPP, false),
        r.plmn,
    )
    .octets(
        AvpDef::vendor(avp::TGPP_USER_LOCATION_INFO, VENDOR_3GPP, false),
        &uli,
    )
    .octets(AvpDef::vendor(avp::TGPP_RAT_TYPE, VENDOR_3GPP, false), &[6]);
}

/// A TAI+ECGI User-Location-Info in the visited network `plmn` (MCC+MNC).
fn user_location_info(plmn: &str) -> Vec<u8> {
    let (mcc, mnc) = plmn.split_at(3);
    let d = |c: u8| c - b'0';
    let (m, n) = (mcc.as_bytes(), mnc.as_bytes());
    let plmn = [
        d(m[1]) << 4 | d(m[0]),
        if n.len() == 3 { d(n[2]) << 4 } else { 0xf0 } | d(m[2]),
        d(n[1]) << 4 | d(n[0]),
    ];
    let mut uli = vec![130u8];
    uli.extend_from_slice(&plmn);
    uli.extend_from_slice(&[0, 1]);
    uli.extend_from_slice(&plmn);
    uli.extend_from_slice(&[0, 0, 1, 1]);
    uli
}
