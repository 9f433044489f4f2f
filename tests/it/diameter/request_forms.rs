//! The request forms production nodes send, over a raw socket against
//! `gyro serve` (the Erlang/OTP peer cannot send most of them): SMS events
//! with every Requested-Action, time quota on Gy, IMS by MSISDN and SIP URI,
//! rating groups outside the bundle or outside credit control, and the
//! Final-Unit-Indication on a 4012 for REDIRECT and RESTRICT_ACCESS. tshark
//! checks every answer.

use crate::support::*;
use gyro::diameter::builder::AvpDef;
use gyro::diameter::dictionary::VENDOR_3GPP;
use gyro::diameter::{Message, MessageBuilder};

const IMSI: &str = "262019000000001";
const MSISDN: &str = "491700000001";

fn v(code: u32) -> AvpDef {
    AvpDef::vendor(code, VENDOR_3GPP, true)
}

fn b(code: u32) -> AvpDef {
    AvpDef::base(code)
}

/// The request's fixed part: Service-Context-Id, CC-Request-Type/-Number.
fn head(m: &mut MessageBuilder<'_>, context: &str, kind: i32, number: u32) {
    m.utf8(b(461), context)
        .i32(b(416), kind)
        .u32(b(415), number);
}

fn subscription(m: &mut MessageBuilder<'_>, kind: i32, data: &str) {
    m.group(b(443), |m| {
        m.i32(b(450), kind).utf8(b(444), data);
    });
}

fn ps_location(m: &mut MessageBuilder<'_>, plmn: &str) {
    m.group(v(873), |m| {
        m.group(v(874), |m| {
            m.utf8(AvpDef::vendor(18, VENDOR_3GPP, false), plmn);
        });
    });
}

/// IMS-Information: visited network, Role-Of-Node, Called-Party-Address.
fn ims(m: &mut MessageBuilder<'_>, role: i32, called: &str) {
    m.group(v(873), |m| {
        m.group(v(876), |m| {
            m.i32(v(862), 0) // Node-Functionality S-CSCF
                .i32(v(829), role)
                .utf8(v(832), called)
                .utf8(v(2713), "ims.mnc001.mcc262.3gppnetwork.org");
        });
    });
}

/// An SMS node's event: one message, top-level units (TS 32.274).
fn sms_event(session: &str, e2e: u32, action: Option<i32>, count: u64) -> Vec<u8> {
    session_request(272, session, e2e, |m| {
        head(m, "32274@3gpp.org", 4, 0);
        subscription(m, 0, MSISDN);
        if let Some(a) = action {
            m.i32(b(436), a);
        }
        m.group(b(437), |m| {
            m.u64(b(417), count);
        });
        ps_location(m, "26201");
    })
}

fn mscc_ccr(session: &str, e2e: u32, kind: i32, rg: u32, rsu: &[(u32, u64)], used: u64) -> Vec<u8> {
    session_request(272, session, e2e, |m| {
        head(m, "32251@3gpp.org", kind, (kind - 1).max(0) as u32);
        subscription(m, 1, IMSI);
        m.i32(b(455), 1);
        m.group(b(456), |m| {
            m.group(b(437), |m| {
                for &(code, n) in rsu {
                    if code == 420 {
                        m.u32(b(code), n as u32);
                    } else {
                        m.u64(b(code), n);
                    }
                }
            });
            if used > 0 {
                m.group(b(446), |m| {
                    m.u64(b(421), used);
                });
            }
            m.u32(b(432), rg);
        });
        ps_location(m, "26201");
    })
}

fn u64_at(m: &Message<'_>, path: &[u32]) -> Option<u64> {
    let mut a = m.find(path[0], 0)?;
    for &c in &path[1..] {
        a = a.member(c, 0)?;
    }
    a.u64().ok().or_else(|| a.u32().ok().map(u64::from))
}

fn sms_used(g: &Gyro) -> u64 {
    let id = api_get(g, &format!("/api/v1/imsis/{IMSI}"))["account"]["id"]
        .as_u64()
        .unwrap();
    api_get(g, &format!("/api/v1/accounts/{id}/balance"))["sms"]["used"]
        .as_u64()
        .unwrap()
}

fn dissect_clean(cap: Option<Capture>, peers: Option<std::path::PathBuf>, expect: &[&str]) {
    if let (Some(mut c), Some(peers)) = (cap, peers) {
        let (ok, text) = c.dissect_with(&peers, &["--avps"]);
        assert!(ok, "tshark found problems:\n{text}");
        for e in expect {
            assert!(text.contains(e), "tshark shows no {e}:\n{text}");
        }
    }
}

#[test]
fn sms_events_with_every_requested_action() {
    let g = Gyro::start("forms-sms", "");
    let peers = peers_dir();
    let cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let mut p = open_peer(&g, "smsc.test.local");

    // DIRECT_DEBITING (also the default): the message is debited now.
    let a = ask(&mut p, &sms_event("sms1", 1, None, 1));
    let m = Message::new(&a).unwrap();
    assert_eq!(m.result_code(), Some(2001));
    assert_eq!(
        u64_at(&m, &[431, 417]),
        Some(1),
        "GSU CC-Service-Specific-Units"
    );
    let a = ask(&mut p, &sms_event("sms2", 2, Some(0), 2));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
    assert_eq!(sms_used(&g), 3, "the SMS allowance, not data");

    // CHECK_BALANCE: an answer, no debit.
    let a = ask(&mut p, &sms_event("sms3", 3, Some(2), 1));
    let m = Message::new(&a).unwrap();
    assert_eq!(m.result_code(), Some(2001));
    assert_eq!(
        m.find(422, 0).and_then(|x| x.enumerated().ok()),
        Some(0),
        "ENOUGH_CREDIT"
    );
    let a = ask(&mut p, &sms_event("sms4", 4, Some(2), 10_000));
    let m = Message::new(&a).unwrap();
    assert_eq!(
        m.find(422, 0).and_then(|x| x.enumerated().ok()),
        Some(1),
        "NO_CREDIT"
    );

    // PRICE_ENQUIRY: inside the bundle a message costs nothing more.
    let a = ask(&mut p, &sms_event("sms5", 5, Some(3), 1));
    let m = Message::new(&a).unwrap();
    assert_eq!(m.result_code(), Some(2001));
    assert_eq!(u64_at(&m, &[423, 445, 447]), Some(0), "Value-Digits");
    assert_eq!(u64_at(&m, &[423, 425]), Some(978), "EUR");
    assert_eq!(sms_used(&g), 3);

    // REFUND_ACCOUNT gives one back.
    let a = ask(&mut p, &sms_event("sms6", 6, Some(1), 1));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(2001));
    assert_eq!(sms_used(&g), 2);

    // Not one of RFC 4006's four.
    let a = ask(&mut p, &sms_event("sms7", 7, Some(9), 1));
    assert_eq!(Message::new(&a).unwrap().result_code(), Some(5004));

    // Every debit and refund has its xDR, keyed for mediation.
    let x = xdrs(&g);
    let of = |s: &str| x.iter().find(|l| l["session_id"] == s).cloned();
    let d = of("sms2").expect("an xDR for the debit");
    assert_eq!(
        (
            &d["allowance"],
            &d["allowance_consumed"],
            &d["requested_action"],
            &d["end_to_end"]
        ),
        (
            &"sms".into(),
            &2.into(),
            &"DIRECT_DEBITING".into(),
            &2.into()
        )
    );
    let r = of("sms6").expect("an xDR for the refund");
    assert_eq!(
        (&r["allowance_refunded"], &r["requested_action"]),
        (&1.into(), &"REFUND_ACCOUNT".into())
    );
    assert!(
        of("sms3").is_none() && of("sms5").is_none(),
        "checks debit nothing"
    );
    dissect_clean(cap, peers, &["Check-Balance-Result", "Cost-Information"]);
}

#[test]
fn time_quota_on_gy_and_ims_by_number() {
    let g = Gyro::start("forms-time", "");
    let peers = peers_dir();
    let cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let mut p = open_peer(&g, "pgw.test.local");

    // A CC-Time RSU on Gy is granted time, not refused.
    let a = ask(&mut p, &mscc_ccr("t1", 1, 1, 10, &[(420, 120)], 0));
    let m = Message::new(&a).unwrap();
    assert_eq!(u64_at(&m, &[456, 268]), Some(2001));
    assert_eq!(u64_at(&m, &[456, 431, 420]), Some(120), "GSU CC-Time");
    assert_eq!(u64_at(&m, &[456, 431, 421]), None, "no octets asked for");

    // IMS by E.164 MSISDN, SIP URI, tel: URI or User-Name; a call to Germany.
    for (i, (kind, id)) in [
        (0, "491700000001"),
        (2, "sip:+491700000001@ims.mnc001.mcc262.3gppnetwork.org"),
        (2, "tel:+49-170-0000001"),
        // No Subscription-Id: User-Name <MSISDN>@msisdn.
        (-1, "491700000001@msisdn"),
    ]
    .into_iter()
    .enumerate()
    {
        let sid = format!("ims{i}");
        let req = session_request(272, &sid, 10 + i as u32, |m| {
            head(m, "32260@3gpp.org", 1, 0);
            if kind < 0 {
                m.utf8(b(1), id);
            } else {
                subscription(m, kind, id);
            }
            m.i32(b(455), 1);
            m.group(b(456), |m| {
                m.group(b(437), |m| {
                    m.u32(b(420), 60);
                });
            });
            ims(m, 0, "tel:+493012345678");
        });
        let a = ask(&mut p, &req);
        let m = Message::new(&a).unwrap();
        assert_eq!(m.result_code(), Some(2001), "{id}");
        assert_eq!(u64_at(&m, &[456, 431, 420]), Some(60), "{id}");
    }
    // A SIP URI with no number in it names no account gyro can find.
    let req = session_request(272, "ims-alice", 20, |m| {
        head(m, "32260@3gpp.org", 1, 0);
        subscription(m, 2, "sip:alice@example.org");
        ims(m, 0, "tel:+493012345678");
    });
    let m = ask(&mut p, &req);
    assert_eq!(Message::new(&m).unwrap().result_code(), Some(5030));
    dissect_clean(cap, peers, &["CC-Time(420) l=12 f=-M- val=120"]);
}

#[test]
fn rating_groups_and_final_unit_restrict_access_on_4012() {
    let g = Gyro::start_with_charging(
        "forms-restrict",
        "",
        "final_unit_action = \"restrict_access\"\nfilter_id = \"topup-only\"",
    );
    let peers = peers_dir();
    let cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let mut p = open_peer(&g, "pgw.test.local");
    // RG 55 is not in the bundle's list, RG 90 (top-up portal) is free.
    let a = ask(&mut p, &mscc_ccr("rg55", 1, 1, 55, &[(421, 1000)], 0));
    assert_eq!(u64_at(&Message::new(&a).unwrap(), &[456, 268]), Some(5031));
    let a = ask(&mut p, &mscc_ccr("rg90", 2, 1, 90, &[(421, 1000)], 0));
    let m = Message::new(&a).unwrap();
    assert_eq!(u64_at(&m, &[456, 268]), Some(4011));
    assert!(
        m.find(456, 0).unwrap().member(431, 0).is_none(),
        "no quota for a free group"
    );

    // Use the whole 100 GB bundle, then ask for more: 4012 with the
    // restriction, and when to ask again.
    let a = ask(&mut p, &mscc_ccr("big", 3, 1, 10, &[(421, 1000)], 0));
    assert_eq!(u64_at(&Message::new(&a).unwrap(), &[456, 268]), Some(2001));
    let a = ask(
        &mut p,
        &mscc_ccr("big", 4, 2, 10, &[(421, 1000)], 100_000_000_000),
    );
    let m = Message::new(&a).unwrap();
    let mscc = m.find(456, 0).unwrap();
    assert_eq!(mscc.member(268, 0).and_then(|x| x.u32().ok()), Some(4012));
    assert!(mscc.member(448, 0).is_some(), "Validity-Time");
    let fui = mscc
        .member(430, 0)
        .expect("Final-Unit-Indication on the 4012");
    assert_eq!(
        fui.member(449, 0).and_then(|x| x.enumerated().ok()),
        Some(2),
        "RESTRICT_ACCESS"
    );
    assert_eq!(
        fui.member(11, 0).and_then(|x| x.utf8().ok()),
        Some("topup-only")
    );
    dissect_clean(
        cap,
        peers,
        &["RESTRICT_ACCESS", "Filter-Id(11) l=18 f=-M- val=topup-only"],
    );
}

#[test]
fn final_unit_redirect_on_4012() {
    let g = Gyro::start_with_charging(
        "forms-redirect",
        "",
        "final_unit_action = \"redirect\"\nredirect_url = \"https://topup.example/\"",
    );
    let peers = peers_dir();
    let cap = peers.as_ref().map(|p| Capture::start(p, &g.dir, &[g.port]));
    let mut p = open_peer(&g, "pgw.test.local");
    ask(&mut p, &mscc_ccr("r", 1, 1, 10, &[(421, 1000)], 0));
    let a = ask(
        &mut p,
        &mscc_ccr("r", 2, 2, 10, &[(421, 1000)], 100_000_000_000),
    );
    let m = Message::new(&a).unwrap();
    let mscc = m.find(456, 0).unwrap();
    assert_eq!(mscc.member(268, 0).and_then(|x| x.u32().ok()), Some(4012));
    let fui = mscc
        .member(430, 0)
        .expect("Final-Unit-Indication on the 4012");
    assert_eq!(
        fui.member(449, 0).and_then(|x| x.enumerated().ok()),
        Some(1),
        "REDIRECT"
    );
    let url = fui
        .member(434, 0)
        .and_then(|r| r.member(435, 0))
        .and_then(|x| x.utf8().ok());
    assert_eq!(url, Some("https://topup.example/"));
    dissect_clean(
        cap,
        peers,
        &["Redirect-Server-Address(435) l=30 f=-M- val=https://topup.example/"],
    );
}
