//! The input file: the story's example byte for byte, a round trip through
//! `parse_input` for any order and rules, and layout faults.

use proptest::prelude::*;

use super::*;
use crate::profilegen::fixtures::order;

fn story_rules() -> Vec<Rule> {
    let rule = |mcc: &str, mnc: &str, pos, pref| Rule {
        mcc: mcc.into(),
        mnc: mnc.into(),
        positions: vec![(pos, pref)],
    };
    vec![
        rule("262", "01", 1, Pref::High),
        rule("213", "77", 2, Pref::High),
        rule("213", "78", 2, Pref::Med),
    ]
}

#[test]
fn writes_the_story_file() {
    let o = order(2, 2);
    let text = String::from_utf8(write_input(&o, &story_rules()).unwrap()).unwrap();
    let want = format!(
        "*HEADER DESCRIPTION\nCustomer: Local MNO\nProfileType: Own+X for EU Neighbour - Andorra\n\
         Batch No: 17\nQuantity: 2\nTransport Key: MNO.PROD.SM.TRK.AES\n\
         *INPUT VARIABLES\nvar_In: ICCID IMSI1 IMSI2\n\
         *RULES\n262 01 IMSI1 high\n213 77 IMSI2 high\n213 78 IMSI2 med\n\
         *INPUT DATA\n{} {} {}\n{} {} {}\n",
        o.profiles[0].iccid,
        o.profiles[0].imsis[0],
        o.profiles[0].imsis[1],
        o.profiles[1].iccid,
        o.profiles[1].imsis[0],
        o.profiles[1].imsis[1],
    );
    assert_eq!(text, want);
}

#[test]
fn writing_refuses_what_the_file_cannot_carry() {
    let mut o = order(1, 2);
    o.pool = "two\nlines".into();
    assert_eq!(
        write_input(&o, &[]),
        Err(WriteError::LineBreak {
            field: "ProfileType"
        })
    );
    let mut o = order(1, 2);
    o.profiles[0].imsis.pop();
    assert!(matches!(
        write_input(&o, &[]),
        Err(WriteError::ImsiCount {
            got: 1,
            want: 2,
            ..
        })
    ));
}

#[test]
fn ten_thousand_profiles_of_ten_imsis_are_written() {
    // Speed is the bench's (benches/profilegen.rs): this checks the size.
    let o = order(10_000, 10);
    let bytes = write_input(&o, &story_rules()).unwrap();
    assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 10_000 + 13);
}

#[test]
fn layout_faults_are_listed_with_their_lines() {
    let text = "*HEADER DESCRIPTION\nCustomer: c\nProfileType: p\nBatch No: 1\nQuantity: x\n\
                *INPUT VARIABLES\nvar_In: ICCID IMSI2\n*RULES\n262 01 IMSI1 top\n*INPUT DATA\n1 2 3\n";
    let e = parse_input(text).unwrap_err();
    let at: Vec<(usize, &str)> = e
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_str()))
        .collect();
    assert_eq!(
        at,
        [
            (1, "Transport Key"),
            (5, "Quantity"),
            (7, "var_In"),
            (9, "rule"),
            (11, "row"),
        ],
        "{e}"
    );
}

fn arb_rules(k: u8) -> impl Strategy<Value = Vec<Rule>> {
    let pref = prop_oneof![Just(Pref::High), Just(Pref::Med), Just(Pref::Low)];
    let rule = (
        100u16..1000,
        prop_oneof![
            (0u16..100).prop_map(|m| format!("{m:02}")),
            (0u16..1000).prop_map(|m| format!("{m:03}"))
        ],
        prop::collection::vec((1..=k, pref), 1..=usize::from(k)),
    )
        .prop_map(|(mcc, mnc, positions)| Rule {
            mcc: mcc.to_string(),
            mnc,
            positions,
        });
    // Distinct networks: neighbouring lines of one network form one rule.
    prop::collection::vec(rule, 0..8).prop_map(|mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|r| seen.insert((r.mcc.clone(), r.mnc.clone())));
        v
    })
}

proptest! {
    #[test]
    fn write_then_parse_gives_back_the_order(
        (k, rules) in (1u8..=10).prop_flat_map(|k| (Just(k), arb_rules(k))),
        n in 0usize..40,
        offset in 0u64..1_000_000,
    ) {
        let mut o = order(n, usize::from(k));
        for p in &mut o.profiles {
            for imsi in &mut p.imsis {
                let v: u64 = imsi.parse::<u64>().unwrap() + offset;
                *imsi = v.to_string();
            }
        }
        let bytes = write_input(&o, &rules).unwrap();
        let back = parse_input(std::str::from_utf8(&bytes).unwrap()).unwrap();
        prop_assert_eq!(back.header, o.header());
        prop_assert_eq!(back.imsis_per_profile, usize::from(k));
        prop_assert_eq!(back.rules, rules);
        prop_assert_eq!(back.profiles, o.profiles);
    }
}
