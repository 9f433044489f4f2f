//! PLMNs and rate codes: the TBCD and text forms, their reference vectors,
//! what each refuses, and round trips.

use super::*;
use proptest::prelude::*;
use PlmnError as E;

fn p(mcc: u16, mnc: u16, d: u8) -> Plmn {
    Plmn::new(mcc, mnc, d).unwrap()
}

#[test]
fn tbcd_reference_vectors() {
    for (plmn, bytes, text) in [
        (p(262, 1, 2), [0x62, 0xF2, 0x10], "26201"),
        (p(302, 777, 3), [0x03, 0x72, 0x77], "302777"),
        (p(310, 260, 3), [0x13, 0x00, 0x62], "310260"),
        (p(234, 15, 2), [0x32, 0xF4, 0x51], "23415"),
        (p(262, 1, 3), [0x62, 0x12, 0x00], "262001"),
    ] {
        assert_eq!(plmn.to_tbcd(), bytes, "{plmn}");
        assert_eq!(Plmn::from_tbcd(bytes), Ok(plmn));
        assert_eq!(plmn.to_string(), text);
        assert_eq!(text.parse(), Ok(plmn));
    }
    assert_ne!(p(262, 1, 2), p(262, 1, 3));
}

#[test]
fn plmn_rejects_bad_input() {
    for (b, field, nibble) in [
        ([0xA2, 0xF2, 0x10], "MCC", 0xA),
        ([0x62, 0xFB, 0x10], "MCC", 0xB),
        ([0x62, 0xC2, 0x10], "MNC", 0xC),
        ([0x62, 0xF2, 0x1F], "MNC", 0xF),
    ] {
        assert_eq!(Plmn::from_tbcd(b), Err(E::BadDigit { field, nibble }));
    }
    for (mcc, mnc, d) in [(1000, 1, 2), (262, 100, 2), (262, 1000, 3), (262, 1, 4)] {
        assert!(Plmn::new(mcc, mnc, d).is_err());
    }
    let bad_text = [
        "",
        "2620",
        "2620011",
        "2620a",
        "+26201",
        "26 01",
        "２６２０１",
    ];
    for bad in bad_text {
        assert_eq!(Plmn::parse(bad), Err(E::BadMccMnc), "{bad:?}");
    }
}

#[test]
fn imsi_prefix() {
    assert_eq!(
        Plmn::from_imsi_prefix("262011234567890", 2),
        Some(p(262, 1, 2))
    );
    assert_eq!(
        Plmn::from_imsi_prefix("310260123456789", 3),
        Some(p(310, 260, 3))
    );
    for (imsi, d) in [("2620", 2), ("26201", 4), ("26x011234", 2)] {
        assert_eq!(Plmn::from_imsi_prefix(imsi, d), None);
    }
}

#[test]
fn rate_code_round_trip() {
    assert_eq!(p(262, 1, 2).rate_code().to_string(), "E212-262-01");
    assert_eq!(p(302, 777, 3).rate_code().to_string(), "E212-302-777");
    assert_eq!(p(1, 1, 3).rate_code().to_string(), "E212-001-001");
    for s in ["E212-262-01", "E212-302-777", "E212-262-001"] {
        assert_eq!(RateCode::parse(s).unwrap().to_string(), s);
    }
    assert_eq!(RateCode::parse("E212-262-01").unwrap().plmn(), p(262, 1, 2));
    let bad_codes = [
        "E212-262-1",
        "E212-26201",
        "e212-262-01",
        "E212-262-0001",
        "E212-2a2-",
    ];
    for bad in bad_codes {
        assert_eq!(RateCode::parse(bad), Err(E::BadRateCode), "{bad:?}");
    }
}

fn any_plmn() -> impl Strategy<Value = Plmn> {
    let mnc = |(mcc, d): (u16, u8)| (0..10u16.pow(d.into())).prop_map(move |m| p(mcc, m, d));
    (0u16..1000, 2u8..=3).prop_flat_map(mnc)
}

proptest! {
    #[test]
    fn tbcd_and_text_round_trip(plmn in any_plmn()) {
        prop_assert_eq!(Plmn::from_tbcd(plmn.to_tbcd()), Ok(plmn));
        prop_assert_eq!(Plmn::parse(&plmn.to_string()), Ok(plmn));
        prop_assert_eq!(RateCode::parse(&plmn.rate_code().to_string()), Ok(plmn.rate_code()));
    }
}
