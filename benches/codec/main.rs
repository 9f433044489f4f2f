//! Codec benchmarks: a realistic Gy CCR-UPDATE decoded and validated in place,
//! the matching CCA encoded into a reused buffer, and the same CCR decoded into
//! an owned tree the way typical Diameter libraries do (the baseline).
//!
//! Run: `cargo bench --bench codec -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};

use gyro::diameter::builder::{AvpDef, MessageBuilder};
use gyro::diameter::codes::{self, result};
use gyro::diameter::dictionary::{DataType, Dictionary, VENDOR_3GPP};
use gyro::diameter::header::{application, command};
use gyro::diameter::validate::validate;
use gyro::diameter::value::DiameterTime;
use gyro::diameter::{Avp, AvpIter, Message};

mod baseline;
use baseline::{decode_owned, decode_typed_avps, owned_fields, typed_fields};

// --- AVP definitions (codes, vendors and flags as in dictionaries/*.xml) ---

// RFC 4006 / 8506 credit-control AVPs: vendor 0, M set.
const SERVICE_CONTEXT_ID: AvpDef = AvpDef::base(461);
const CC_REQUEST_TYPE: AvpDef = AvpDef::base(416);
const CC_REQUEST_NUMBER: AvpDef = AvpDef::base(415);
const SUBSCRIPTION_ID: AvpDef = AvpDef::base(443);
const SUBSCRIPTION_ID_TYPE: AvpDef = AvpDef::base(450);
const SUBSCRIPTION_ID_DATA: AvpDef = AvpDef::base(444);
const MULTIPLE_SERVICES_INDICATOR: AvpDef = AvpDef::base(455);
const MSCC: AvpDef = AvpDef::base(456);
const REQUESTED_SERVICE_UNIT: AvpDef = AvpDef::base(437);
const USED_SERVICE_UNIT: AvpDef = AvpDef::base(446);
const GRANTED_SERVICE_UNIT: AvpDef = AvpDef::base(431);
const CC_TOTAL_OCTETS: AvpDef = AvpDef::base(421);
const CC_INPUT_OCTETS: AvpDef = AvpDef::base(412);
const CC_OUTPUT_OCTETS: AvpDef = AvpDef::base(414);
const SERVICE_IDENTIFIER: AvpDef = AvpDef::base(439);
const RATING_GROUP: AvpDef = AvpDef::base(432);
const VALIDITY_TIME: AvpDef = AvpDef::base(448);
const CALLED_STATION_ID: AvpDef = AvpDef::base(30);

// TS 32.299 AVPs: vendor 10415, V+M.
const REPORTING_REASON: AvpDef = AvpDef::vendor(872, VENDOR_3GPP, true);
const SERVICE_INFORMATION: AvpDef = AvpDef::vendor(873, VENDOR_3GPP, true);
const PS_INFORMATION: AvpDef = AvpDef::vendor(874, VENDOR_3GPP, true);
const PDP_ADDRESS: AvpDef = AvpDef::vendor(1227, VENDOR_3GPP, true);
const SGSN_ADDRESS: AvpDef = AvpDef::vendor(1228, VENDOR_3GPP, true);
const GGSN_ADDRESS: AvpDef = AvpDef::vendor(847, VENDOR_3GPP, true);

// TS 29.061 "3GPP-" AVPs: vendor 10415, V only (what senders write).
const TGPP_CHARGING_ID: AvpDef = AvpDef::vendor(2, VENDOR_3GPP, false);
const TGPP_PDP_TYPE: AvpDef = AvpDef::vendor(3, VENDOR_3GPP, false);
const TGPP_IMSI_MCC_MNC: AvpDef = AvpDef::vendor(8, VENDOR_3GPP, false);
const TGPP_GGSN_MCC_MNC: AvpDef = AvpDef::vendor(9, VENDOR_3GPP, false);
const TGPP_NSAPI: AvpDef = AvpDef::vendor(10, VENDOR_3GPP, false);
const TGPP_SELECTION_MODE: AvpDef = AvpDef::vendor(12, VENDOR_3GPP, false);
const TGPP_CHARGING_CHARACTERISTICS: AvpDef = AvpDef::vendor(13, VENDOR_3GPP, false);
const TGPP_SGSN_MCC_MNC: AvpDef = AvpDef::vendor(18, VENDOR_3GPP, false);
const TGPP_RAT_TYPE: AvpDef = AvpDef::vendor(21, VENDOR_3GPP, false);
const TGPP_USER_LOCATION_INFO: AvpDef = AvpDef::vendor(22, VENDOR_3GPP, false);
const TGPP_MS_TIMEZONE: AvpDef = AvpDef::vendor(23, VENDOR_3GPP, false);

const SESSION: &str = "pgw01.epc.mnc001.mcc262.3gppnetwork.org;1704067200;42;7";
const IMSI: &str = "262019000000001";
/// (Rating-Group, Service-Identifier, used total/input/output octets) per MSCC.
const SERVICES: [(u32, u32, u64, u64, u64); 2] = [
    (10, 1000, 1_048_576, 262_144, 786_432),
    (20, 2000, 524_288, 131_072, 393_216),
];
/// TS 29.274 §8.21 ULI, type 130 (TAI+ECGI), MCC 262 MNC 01:
/// type, TAI (PLMN 62 f2 10, TAC 0x0001), ECGI (PLMN 62 f2 10, ECI 0x0000101).
const ULI: [u8; 13] = [
    130, 0x62, 0xf2, 0x10, 0x00, 0x01, 0x62, 0xf2, 0x10, 0x00, 0x00, 0x01, 0x01,
];

// --- Message construction (once, at startup) ---

fn build_ccr_u(buf: &mut BytesMut) -> usize {
    let mut b = MessageBuilder::request(
        buf,
        command::CREDIT_CONTROL,
        application::CREDIT_CONTROL,
        true,
        0x1234_5678,
        0x9abc_def0,
    );
    b.utf8(codes::SESSION_ID, SESSION)
        .utf8(
            codes::ORIGIN_HOST,
            "pgw01.epc.mnc001.mcc262.3gppnetwork.org",
        )
        .utf8(codes::ORIGIN_REALM, "epc.mnc001.mcc262.3gppnetwork.org")
        .utf8(
            codes::DESTINATION_REALM,
            "ocs.mnc001.mcc262.3gppnetwork.org",
        )
        .u32(codes::AUTH_APPLICATION_ID, application::CREDIT_CONTROL)
        .utf8(SERVICE_CONTEXT_ID, "32251@3gpp.org")
        .i32(CC_REQUEST_TYPE, 2)
        .u32(CC_REQUEST_NUMBER, 1)
        .time(
            codes::EVENT_TIMESTAMP,
            DiameterTime::from_unix_seconds(1_704_067_260),
        )
        .group(SUBSCRIPTION_ID, |b| {
            b.i32(SUBSCRIPTION_ID_TYPE, 1)
                .utf8(SUBSCRIPTION_ID_DATA, IMSI);
        })
        .group(SUBSCRIPTION_ID, |b| {
            b.i32(SUBSCRIPTION_ID_TYPE, 0)
                .utf8(SUBSCRIPTION_ID_DATA, "491700000001");
        })
        .i32(MULTIPLE_SERVICES_INDICATOR, 1);
    for (rg, sid, total, input, output) in SERVICES {
        b.group(MSCC, |b| {
            b.group(REQUESTED_SERVICE_UNIT, |b| {
                b.u64(CC_TOTAL_OCTETS, 0);
            })
            .group(USED_SERVICE_UNIT, |b| {
                b.u64(CC_TOTAL_OCTETS, total)
                    .u64(CC_INPUT_OCTETS, input)
                    .u64(CC_OUTPUT_OCTETS, output)
                    .i32(REPORTING_REASON, 3); // QUOTA_EXHAUSTED
            })
            .u32(SERVICE_IDENTIFIER, sid)
            .u32(RATING_GROUP, rg);
        });
    }
    b.group(SERVICE_INFORMATION, |b| {
        b.group(PS_INFORMATION, |b| {
            b.u32(TGPP_CHARGING_ID, 0x0a0b_0c0d)
                .u32(TGPP_PDP_TYPE, 0)
                .address(PDP_ADDRESS, IpAddr::V4(Ipv4Addr::new(10, 45, 0, 2)))
                .address(SGSN_ADDRESS, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)))
                .address(GGSN_ADDRESS, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20)))
                .utf8(TGPP_IMSI_MCC_MNC, "26201")
                .utf8(TGPP_GGSN_MCC_MNC, "26201")
                .utf8(TGPP_NSAPI, "5")
                .utf8(CALLED_STATION_ID, "internet")
                .utf8(TGPP_SELECTION_MODE, "0")
                .utf8(TGPP_CHARGING_CHARACTERISTICS, "0800")
                .utf8(TGPP_SGSN_MCC_MNC, "26201")
                .octets(TGPP_MS_TIMEZONE, &[0x40, 0x00])
                .octets(TGPP_USER_LOCATION_INFO, &ULI)
                .octets(TGPP_RAT_TYPE, &[6]);
        });
    });
    b.finish()
}

/// The CCA for `req`: both services granted 10 MB for an hour.
fn build_cca(buf: &mut BytesMut, req: &Message<'_>, session_id: &str) -> usize {
    let mut b = MessageBuilder::answer(buf, &req.header, false);
    b.utf8(codes::SESSION_ID, session_id)
        .u32(codes::RESULT_CODE, result::SUCCESS)
        .utf8(
            codes::ORIGIN_HOST,
            "ocs01.ocs.mnc001.mcc262.3gppnetwork.org",
        )
        .utf8(codes::ORIGIN_REALM, "ocs.mnc001.mcc262.3gppnetwork.org")
        .u32(codes::AUTH_APPLICATION_ID, application::CREDIT_CONTROL)
        .i32(CC_REQUEST_TYPE, 2)
        .u32(CC_REQUEST_NUMBER, 1);
    for (rg, ..) in SERVICES {
        b.group(MSCC, |b| {
            b.group(GRANTED_SERVICE_UNIT, |b| {
                b.u64(CC_TOTAL_OCTETS, 10 * 1024 * 1024);
            })
            .u32(RATING_GROUP, rg)
            .u32(VALIDITY_TIME, 3600)
            .u32(codes::RESULT_CODE, result::SUCCESS);
        });
    }
    b.finish()
}

fn count_avps(dict: &Dictionary, avps: AvpIter<'_>) -> usize {
    avps.map(|a| a.expect("well-framed AVP"))
        .map(|a| {
            let grouped = dict
                .avp(a.code, a.vendor)
                .is_some_and(|d| d.data_type == DataType::Grouped);
            1 + if grouped {
                count_avps(dict, a.grouped())
            } else {
                0
            }
        })
        .sum()
}

// --- What a charging decision reads ---

#[derive(Debug, Default, PartialEq, Eq)]
struct Fields<'a> {
    session_id: &'a str,
    request_type: i32,
    request_number: u32,
    imsi: &'a str,
    /// (Rating-Group, USU CC-Total-Octets) per MSCC.
    services: [(u32, u64); 4],
    service_count: usize,
    uli: &'a [u8],
}

/// Borrowed view: validate, then read the fields in place.
fn decode_validate<'a>(dict: &Dictionary, bytes: &'a [u8]) -> Option<Fields<'a>> {
    let msg = Message::new(bytes)?;
    validate(dict, &msg).ok()?;
    read_fields(msg)
}

/// The reads a charging decision needs, in place.
fn read_fields(msg: Message<'_>) -> Option<Fields<'_>> {
    let mut f = Fields {
        session_id: msg.session_id()?,
        ..Fields::default()
    };
    for avp in msg.avps().map_while(Result::ok) {
        match (avp.code, avp.vendor) {
            (416, 0) => f.request_type = avp.enumerated().ok()?,
            (415, 0) => f.request_number = avp.u32().ok()?,
            (443, 0) if subscription_is_imsi(&avp) => {
                f.imsi = avp.member(444, 0)?.utf8().ok()?;
            }
            (456, 0) if f.service_count < f.services.len() => {
                let rg = avp.member(432, 0).and_then(|a| a.u32().ok())?;
                let used = avp
                    .member(446, 0)
                    .and_then(|u| u.member(421, 0))
                    .and_then(|a| a.u64().ok())
                    .unwrap_or(0);
                f.services[f.service_count] = (rg, used);
                f.service_count += 1;
            }
            (873, VENDOR_3GPP) => {
                if let Some(uli) = avp
                    .member(874, VENDOR_3GPP)
                    .and_then(|ps| ps.member(22, VENDOR_3GPP))
                {
                    f.uli = uli.octets();
                }
            }
            _ => {}
        }
    }
    Some(f)
}

fn subscription_is_imsi(avp: &Avp<'_>) -> bool {
    avp.member(450, 0).and_then(|t| t.enumerated().ok()) == Some(1)
}

// --- Benchmarks ---

fn codec(c: &mut Criterion) {
    let dict = Dictionary::builtin();

    let mut ccr = BytesMut::new();
    let ccr_len = build_ccr_u(&mut ccr);
    let ccr = ccr.freeze();
    let msg = Message::new(&ccr).expect("CCR frames");
    if let Err(v) = validate(&dict, &msg) {
        panic!("CCR-U does not validate: {} {}", v.result_code, v.message);
    }
    let top = msg.avps().count();
    let total = count_avps(&dict, msg.avps());
    println!("CCR-U: {ccr_len} octets, {top} top-level AVPs, {total} AVPs counting nested ones");

    // Both decoders must read the same thing.
    let expected = Fields {
        session_id: SESSION,
        request_type: 2,
        request_number: 1,
        imsi: IMSI,
        services: [(10, 1_048_576), (20, 524_288), (0, 0), (0, 0)],
        service_count: 2,
        uli: &ULI,
    };
    assert_eq!(decode_validate(&dict, &ccr), Some(expected));
    let tree = decode_owned(&dict, &ccr).expect("owned decode");
    assert_eq!(owned_fields(&tree), decode_validate(&dict, &ccr));
    drop(tree);

    let mut cca = BytesMut::with_capacity(1024);
    let cca_len = build_cca(&mut cca, &msg, SESSION);
    let cca_msg = Message::new(&cca).expect("CCA frames");
    if let Err(v) = validate(&dict, &cca_msg) {
        panic!("CCA does not validate: {} {}", v.result_code, v.message);
    }
    let cca_total = count_avps(&dict, cca_msg.avps());
    println!("CCA: {cca_len} octets, {cca_total} AVPs counting nested ones");

    let mut g = c.benchmark_group("codec");
    g.bench_function("decode_validate_ccr_u", |b| {
        b.iter(|| {
            let f = decode_validate(&dict, black_box(&ccr));
            black_box(f);
        })
    });
    g.bench_function("decode_read_ccr_u_no_validation", |b| {
        b.iter(|| {
            let f = Message::new(black_box(&ccr)).and_then(read_fields);
            black_box(f);
        })
    });
    g.bench_function("encode_cca", |b| {
        b.iter(|| {
            cca.clear();
            let n = build_cca(&mut cca, black_box(&msg), black_box(SESSION));
            black_box(&cca);
            black_box(n);
        })
    });
    g.bench_function("decode_owned_tree_baseline", |b| {
        b.iter(|| {
            let tree = decode_owned(&dict, black_box(&ccr));
            let f = tree.as_ref().and_then(owned_fields);
            black_box(f);
        })
    });
    g.bench_function("decode_typed_tree_baseline", |b| {
        b.iter(|| {
            let m = Message::new(black_box(&ccr)).expect("frames");
            let tree = decode_typed_avps(&dict, m.body());
            let f = tree.as_deref().and_then(typed_fields);
            black_box(f);
        })
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
