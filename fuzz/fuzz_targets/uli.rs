//! Bytes as 3GPP-User-Location-Info data, and (when they are UTF-8) as the MCC-MNC text, rate
//! code and IMS-Visited-Network-Identifier forms; whatever decodes must survive a round trip.
#![no_main]

use gyro::model::{Plmn, RateCode};
use gyro::resolver::serving_network::{decode_uli, plmn_from_visited_network};
use libfuzzer_sys::fuzz_target;

fn check(plmn: Plmn) {
    assert_eq!(Plmn::from_tbcd(plmn.to_tbcd()), Ok(plmn));
    assert_eq!(Plmn::parse(&plmn.to_string()), Ok(plmn));
    assert_eq!(
        RateCode::parse(&plmn.rate_code().to_string()),
        Ok(plmn.rate_code())
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(loc) = decode_uli(data) {
        assert_eq!(loc.kind.code(), data[0]);
        assert!(loc.kind.data_lens().contains(&data.len()));
        check(loc.plmn);
    }
    if let Ok(b) = <[u8; 3]>::try_from(data.get(..3).unwrap_or_default()) {
        if let Ok(plmn) = Plmn::from_tbcd(b) {
            assert_eq!(plmn.to_tbcd(), b);
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(plmn) = Plmn::parse(text) {
        assert_eq!(plmn.to_string(), text);
        check(plmn);
    }
    if let Ok(code) = RateCode::parse(text) {
        assert_eq!(code.to_string(), text);
    }
    if let Ok(plmn) = plmn_from_visited_network(text) {
        check(plmn);
    }
    let _ = Plmn::from_imsi_prefix(text, 2);
    let _ = Plmn::from_imsi_prefix(text, 3);
});
