use super::*;
use proptest::prelude::*;
use LocationError as E;

fn hex(s: &str) -> Vec<u8> {
    let digit = |h| u8::from_str_radix(h, 16).unwrap();
    s.split_whitespace().map(digit).collect()
}

fn p(mcc: u16, mnc: u16, d: u8) -> Plmn {
    Plmn::new(mcc, mnc, d).unwrap()
}

/// Type, PLMN and every id that is present, so one string also proves the others are `None`.
fn summary(data: &str) -> String {
    let l = decode_uli(&hex(data)).unwrap();
    let (s, w) = (
        |v: Option<u16>| v.map(u64::from),
        |v: Option<u32>| v.map(u64::from),
    );
    let ids = [
        s(l.lac),
        s(l.ci),
        s(l.sac),
        s(l.rac),
        w(l.tac),
        w(l.eci),
        w(l.enb_id),
        l.nci,
    ];
    let names = ["lac", "ci", "sac", "rac", "tac", "eci", "enb", "nci"];
    let mut out = format!("{} {}", l.kind.code(), l.plmn);
    for (name, v) in names.iter().zip(ids) {
        if let Some(v) = v {
            out += &format!(" {name}={v:X}");
        }
    }
    out
}

#[test]
fn decodes_every_layout() {
    for row in [
        // Reference examples.
        "82 62 F2 10 12 34 62 F2 10 0A BC DE F1 => 130 26201 tac=1234 eci=ABCDEF1",
        "81 03 72 77 0A BC DE F1 => 129 302777 eci=ABCDEF1",
        "80 03 72 77 00 64 => 128 302777 tac=64",
        // Computed from the layouts; spare bits are set where a mask must drop them.
        "81 03 72 77 FA BC DE F1 => 129 302777 eci=ABCDEF1",
        "00 62 F2 10 12 34 56 78 => 0 26201 lac=1234 ci=5678",
        "01 03 72 77 00 01 FF FE => 1 302777 lac=1 sac=FFFE",
        "02 13 00 62 AB CD 2A FF => 2 310260 lac=ABCD rac=2AFF",
        "83 62 F2 10 FA BC DE => 131 26201 enb=ABCDE",
        "84 62 F2 10 00 01 62 F2 10 0A BC DE => 132 26201 tac=1 enb=ABCDE",
        "85 32 F4 51 9F FF FF => 133 23415 enb=1FFFFF",
        "85 32 F4 51 E1 23 45 => 133 23415 enb=12345",
        "86 32 F4 51 00 07 32 F4 51 01 23 45 => 134 23415 tac=7 enb=12345",
        "87 03 72 77 F1 23 45 67 89 => 135 302777 nci=123456789",
        "88 62 F2 10 12 34 56 => 136 26201 tac=123456",
        "88 62 F2 10 12 34 => 136 26201 tac=1234",
        "89 62 F2 10 00 00 01 62 F2 10 01 23 45 67 89 => 137 26201 tac=1 nci=123456789",
        "89 62 F2 10 AB CD 62 F2 10 F1 23 45 67 89 => 137 26201 tac=ABCD nci=123456789",
        // The serving PLMN of a combined type is the TAI's, not the cell's.
        "82 62 F2 10 00 01 03 72 77 00 00 00 01 => 130 26201 tac=1 eci=1",
    ] {
        let (data, want) = row.split_once(" => ").unwrap();
        assert_eq!(summary(data), want, "{data}");
    }
    let l = decode_uli(&hex("82 62 F2 10 12 34 62 F2 10 0A BC DE F1")).unwrap();
    assert_eq!(l.rate_code().to_string(), "E212-262-01");
}

#[test]
fn decode_errors() {
    let digit = |field, nibble| E::Plmn(PlmnError::BadDigit { field, nibble });
    let (kind, expected) = (GeoLocationType::Ecgi, &[8][..]);
    for (data, want) in [
        ("", E::Empty),
        ("03 62 F2 10 12 34 56 78", E::UnsupportedType(3)),
        ("8A 62 F2 10 12 34", E::UnsupportedType(138)),
        ("FF", E::UnsupportedType(255)),
        (
            "81 03 72 77 0A BC DE",
            E::BadLength {
                kind,
                expected,
                actual: 7,
            },
        ),
        ("80 6A F2 10 00 64", digit("MCC", 0xA)),
        // A corrupt second PLMN is refused even though only the first one is kept.
        ("82 62 F2 10 12 34 62 F2 1A 0A BC DE F1", digit("MNC", 0xA)),
    ] {
        assert_eq!(decode_uli(&hex(data)), Err(want), "{data}");
    }
    let msg = |data| decode_uli(&hex(data)).unwrap_err().to_string();
    assert_eq!(
        msg("81 03 72 77 0A BC DE"),
        "ECGI (129) location needs 8 octets of AVP data (type octet included), got 7"
    );
    assert!(msg("88 62 F2 10 12 34 56 78").starts_with("5GS TAI (136) location needs 7 or 6"));
}

#[test]
fn visited_network() {
    for (s, plmn) in [
        ("ims.mnc099.mcc460.3gppnetwork.org", p(460, 99, 2)),
        ("ims.mnc777.mcc302.3gppnetwork.org", p(302, 777, 3)),
        ("ims.mnc001.mcc262.3gppnetwork.org", p(262, 1, 2)),
        ("IMS.MNC001.MCC262.3GPPNETWORK.ORG", p(262, 1, 2)),
        ("mnc260.mcc310.3gppnetwork.org", p(310, 260, 3)),
        ("pcscf.ims.mnc015.mcc234.3gppnetwork.org", p(234, 15, 2)),
    ] {
        assert_eq!(plmn_from_visited_network(s), Ok(plmn), "{s}");
    }
    for bad in [
        "",
        "ims.mnc01.mcc262.3gppnetwork.org",
        "ims.mnc001.mcc2620.3gppnetwork.org",
        "ims.mcc262.mnc001.3gppnetwork.org",
        "ims.mnc0a1.mcc262.3gppnetwork.org",
        "ims.mnc001.mcc262.3gppnetwork.org.",
        "ims.mnc001.mcc262.example.org",
        ".mnc001.mcc262.3gppnetwork.org",
        "mcc262.3gppnetwork.org",
        "operator.example.com",
    ] {
        let got = plmn_from_visited_network(bad);
        assert_eq!(got, Err(E::NotImsDomain), "{bad:?}");
    }
}

proptest! {
    #[test]
    fn decode_uli_never_panics(data in proptest::collection::vec(any::<u8>(), 0..24)) {
        let _ = decode_uli(&data);
    }

    // Plain random bytes seldom start with a known type at a near-valid length; these do.
    #[test]
    fn known_types_at_their_lengths_never_panic(
        code in prop::sample::select(vec![0u8, 1, 2, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137]),
        rest in proptest::collection::vec(any::<u8>(), 5..16),
    ) {
        let mut data = vec![code];
        data.extend(rest);
        if let Ok(l) = decode_uli(&data) {
            prop_assert_eq!(l.kind.code(), code);
            prop_assert!(l.kind.data_lens().contains(&data.len()));
        }
    }
}
