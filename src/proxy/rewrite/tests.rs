use bytes::BytesMut;

use super::*;
use crate::diameter::codes::avp as a;

fn ccr(with_sgsn: bool, route: Option<&str>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 272, 4, true, 77, 99);
    b.utf8(codes::SESSION_ID, "pgw;1")
        .utf8(codes::ORIGIN_HOST, "gy.partner-x.example")
        .utf8(codes::ORIGIN_REALM, "partner-x.example")
        .utf8(codes::DESTINATION_REALM, "test.local")
        .utf8(codes::DESTINATION_HOST, "gyro.test.local");
    b.group(SUBSCRIPTION_ID, |b| {
        b.i32(SUBSCRIPTION_ID_TYPE, 1)
            .utf8(SUBSCRIPTION_ID_DATA, "262019000000001");
    });
    b.utf8(codes::USER_NAME, "262019000000001@imsi");
    b.group(AvpDef::base(a::MULTIPLE_SERVICES_CREDIT_CONTROL), |b| {
        b.u32(AvpDef::base(a::RATING_GROUP), 10);
    });
    b.group(SERVICE_INFORMATION, |b| {
        b.group(PS_INFORMATION, |b| {
            b.octets(
                AvpDef::vendor(a::TGPP_USER_LOCATION_INFO, VENDOR_3GPP, false),
                &[0x82, 0x12, 0xf3, 0x77, 0, 1, 0x12, 0xf3, 0x77, 0, 0, 0, 1],
            );
            if with_sgsn {
                b.utf8(SGSN_MCC_MNC, "21377");
            }
        });
    });
    if let Some(r) = route {
        b.utf8(codes::ROUTE_RECORD, r);
    }
    b.finish();
    buf.to_vec()
}

fn forward(req: &[u8], retransmit: bool) -> Result<Vec<u8>, RewriteError> {
    let m = Message::new(req).unwrap();
    let c = Canonical::msisdn("491700000001");
    let mut out = BytesMut::new();
    forward_request(
        &mut out,
        &m,
        &Forward {
            our_host: "gyro.test.local",
            destination_host: Some("ocs1.test.local"),
            names: Names::Canonical(&c),
            visited: Some("21377"),
            retransmit,
        },
    )?;
    Ok(out.to_vec())
}

#[test]
fn identities_become_the_canonical_one_and_the_rest_is_byte_for_byte() {
    let req = ccr(true, Some("dra.test.local"));
    let out = forward(&req, false).unwrap();
    let (i, o) = (Message::new(&req).unwrap(), Message::new(&out).unwrap());
    assert_eq!(o.header.hop_by_hop, 77);
    assert_eq!(o.header.end_to_end, 99);
    assert!(!o.header.is_retransmit());
    assert_eq!(
        o.avps().next().unwrap().unwrap().code,
        a::SESSION_ID,
        "Session-Id first"
    );
    let subs: Vec<_> = o.find_all(a::SUBSCRIPTION_ID, 0).collect();
    assert_eq!(subs.len(), 1);
    let kind = subs[0]
        .member(a::SUBSCRIPTION_ID_TYPE, 0)
        .unwrap()
        .enumerated();
    let data = subs[0].member(a::SUBSCRIPTION_ID_DATA, 0).unwrap().utf8();
    assert_eq!((kind, data), (Ok(0), Ok("491700000001")));
    assert_eq!(
        o.find(a::USER_NAME, 0).unwrap().utf8(),
        Ok("491700000001@msisdn")
    );
    assert_eq!(
        o.find(a::DESTINATION_HOST, 0).unwrap().utf8(),
        Ok("ocs1.test.local")
    );
    let routes: Vec<_> = o
        .find_all(a::ROUTE_RECORD, 0)
        .map(|r| r.utf8().unwrap())
        .collect();
    assert_eq!(routes, ["dra.test.local", "gyro.test.local"]);
    for code in [
        a::MULTIPLE_SERVICES_CREDIT_CONTROL,
        a::ORIGIN_HOST,
        a::DESTINATION_REALM,
    ] {
        assert_eq!(
            i.find(code, 0).unwrap().raw(),
            o.find(code, 0).unwrap().raw()
        );
    }
    let si = a::SERVICE_INFORMATION;
    assert_eq!(
        i.find(si, VENDOR_3GPP).unwrap().raw(),
        o.find(si, VENDOR_3GPP).unwrap().raw(),
        "the location was there already: untouched"
    );
}

#[test]
fn the_visited_network_is_added_when_missing() {
    let out = forward(&ccr(false, None), true).unwrap();
    let o = Message::new(&out).unwrap();
    assert!(o.header.is_retransmit(), "T flag on a failover");
    assert!(has_sgsn_mcc_mnc(&o));
    let ps = o
        .find(a::SERVICE_INFORMATION, VENDOR_3GPP)
        .and_then(|s| s.member(a::PS_INFORMATION, VENDOR_3GPP))
        .unwrap();
    assert!(
        ps.member(a::TGPP_USER_LOCATION_INFO, VENDOR_3GPP).is_some(),
        "ULI kept"
    );
    assert_eq!(
        ps.member(a::TGPP_SGSN_MCC_MNC, VENDOR_3GPP).unwrap().utf8(),
        Ok("21377")
    );
}

#[test]
fn our_own_route_record_is_a_loop() {
    assert_eq!(
        forward(&ccr(true, Some("GYRO.test.local")), false),
        Err(RewriteError::Loop)
    );
}

#[test]
fn answers_go_back_with_the_gateways_identities() {
    let req = ccr(true, None);
    let fwd = forward(&req, false).unwrap();
    let f = Message::new(&fwd).unwrap();
    let mut ans = BytesMut::new();
    let mut b = MessageBuilder::answer(&mut ans, &f.header, false);
    b.utf8(codes::SESSION_ID, "pgw;1")
        .u32(codes::RESULT_CODE, 2001)
        .utf8(codes::USER_NAME, "491700000001@msisdn");
    b.finish();
    // The upstream connection gave it its own Hop-by-Hop id.
    ans[12..16].copy_from_slice(&5u32.to_be_bytes());
    let mut out = BytesMut::new();
    relay_answer(
        &mut out,
        &Message::new(&ans).unwrap(),
        &Message::new(&req).unwrap(),
    );
    let o = Message::new(&out).unwrap();
    assert_eq!((o.header.hop_by_hop, o.header.end_to_end), (77, 99));
    assert_eq!(o.result_code(), Some(2001));
    assert_eq!(
        o.find(a::USER_NAME, 0).unwrap().utf8(),
        Ok("262019000000001@imsi")
    );
    assert_eq!(o.find_all(a::SUBSCRIPTION_ID, 0).count(), 1);
}
