//! Arbitrary text as an SM-DP+ output file for a small fixed order, through all three
//! readers gyro runs on what the SM-DP+ sends: `output_kind` (which file, which order), the
//! "Standard" parser and the "Perso" parser. None may panic; each accepts only a file that
//! carries exactly the order's profiles; the Standard parser never copies a secret field
//! into an error.
#![no_main]

use gyro::profilegen::perso::{output_kind, parse_perso};
use gyro::profilegen::{parse_standard, OrderProfile, OrderView};
use libfuzzer_sys::fuzz_target;

fn order() -> OrderView {
    OrderView {
        customer: "Local MNO".into(),
        pool: "Own+X for EU Neighbour - Andorra".into(),
        order_id: "17".into(),
        transport_key: "MNO.PROD.SM.TRK.AES".into(),
        imsis_per_profile: 2,
        profiles: vec![
            OrderProfile {
                iccid: "8949102620100000012".into(),
                imsis: vec!["262019000000001".into(), "213779000000001".into()],
            },
            OrderProfile {
                iccid: "8949102620100000020".into(),
                imsis: vec!["262019000000002".into(), "213779000000002".into()],
            },
        ],
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let o = order();
    let _ = output_kind(text);
    if let Ok(rows) = parse_perso(text, &o, 17) {
        assert_eq!(rows.len(), o.profiles.len());
        for r in &rows {
            assert!(o.profiles.iter().any(|q| q.iccid == r.iccid));
        }
    }
    match parse_standard(text, &o) {
        Ok(rows) => {
            assert_eq!(rows.len(), o.profiles.len());
            for r in &rows {
                assert!(o.profiles.iter().any(|q| q.iccid == r.iccid && q.imsis == r.imsis));
            }
        }
        Err(e) => {
            assert!(e.total >= e.errors.len() && !e.errors.is_empty());
            for err in &e.errors {
                if ["KI", "OPC", "PIN1", "PUK1", "PIN2", "PUK2"].contains(&err.field.as_str()) {
                    assert_eq!(err.value, "<redacted>");
                }
            }
        }
    }
});
