use std::str::FromStr;

use proptest::prelude::*;

use super::*;
use crate::rating::source::RatingSource;

const OWN: &str = "262018000000001";
const Y: &str = "213550000000001";
const Y_HELD: &str = Y;
const Y_POOL: &str = "213550000000777";
const W_POOL: &str = "901280000001001";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn seed_sponsors() -> Vec<Sponsor> {
    crate::inventory::seed::parse(crate::inventory::seed::EMBEDDED, "seed")
        .unwrap()
        .sponsor
}

fn story_book() -> PriceBook {
    PriceBook::new(&RatingSource::new(None).load().unwrap(), &seed_sponsors())
}

fn cand(imsi: &str, sponsor: &str, source: Source) -> Candidate {
    Candidate {
        imsi: imsi.into(),
        sponsor: sponsor.into(),
        source,
    }
}

fn keep(reason: KeepReason) -> Action {
    Action::Keep { reason }
}

fn slot(slot: u8) -> Source {
    Source::Profile { slot }
}

fn pool(name: &str) -> Source {
    Source::Pool { pool: name.into() }
}

/// The Balkan Traveller profile with the given IMSI in slot 2, and the
/// first available IMSI of each dynamic pool.
fn balkan(slot2: Candidate, held: Option<Candidate>) -> Vec<Candidate> {
    let mut v = vec![cand(OWN, "own", slot(1)), slot2];
    v.extend(held);
    v.push(cand(Y_POOL, "partner-y", pool("dynamic Y")));
    v.push(cand(W_POOL, "partner-w", pool("dynamic W")));
    v
}

fn run(mcc: &str, candidates: &[Candidate], book: &PriceBook, min_saving: Decimal) -> Decision {
    run_covering(mcc, candidates, book, min_saving, &|_| true)
}

fn run_covering(
    mcc: &str,
    candidates: &[Candidate],
    book: &PriceBook,
    min_saving: Decimal,
    covers: &dyn Fn(Plmn) -> bool,
) -> Decision {
    let input = DecisionInput {
        iccid: "8949000000000000001",
        mcc,
        candidates,
        covers,
    };
    decide(&input, book, min_saving)
}

#[test]
fn a_network_the_bundle_does_not_cover_is_never_swapped_onto() {
    let c = balkan(cand(Y, "partner-y", slot(2)), None);
    let covered = |p: Plmn| p != Plmn::parse("27602").unwrap();
    let dec = run_covering("276", &c, &story_book(), Decimal::ZERO, &covered);
    assert_eq!(dec.action, keep(KeepReason::Cheapest), "{dec:?}");
    assert_eq!(
        price_of(&dec, W_POOL, 2),
        None,
        "W is priced only on 276 02"
    );
    assert_eq!(
        run("276", &c, &story_book(), Decimal::ZERO).action,
        y_to_pool_w(Some(d("0.3")), d("0.2")),
        "with 276 02 covered, the story's swap to W"
    );
}

fn price_of(dec: &Decision, imsi: &str, source_rank: u8) -> Option<Decimal> {
    dec.priced
        .iter()
        .find(|p| p.imsi == imsi && p.source.rank() == source_rank)
        .and_then(|p| p.price)
}

#[test]
fn story_montenegro_keeps_partner_y() {
    let c = balkan(cand(Y, "partner-y", slot(2)), None);
    let dec = run("297", &c, &story_book(), Decimal::ZERO);
    assert_eq!(dec.action, keep(KeepReason::Cheapest));
    assert_eq!(price_of(&dec, Y, 0), Some(d("0.41")));
    assert_eq!(price_of(&dec, W_POOL, 2), Some(d("1.21")));
    // Own has neither a tariff nor its home in Montenegro.
    assert_eq!(dec.priced[0].price, None);
    assert_eq!(dec.priced[0].network, None);
}

/// Slot 2's Y IMSI replaced by dynamic W's, the profile's best being Y's.
fn y_to_pool_w(y_price: Option<Decimal>, new_price: Decimal) -> Action {
    Action::Swap {
        slot: 2,
        old_imsi: Y.into(),
        new: cand(W_POOL, "partner-w", pool("dynamic W")),
        old_price: y_price,
        profile_price: y_price,
        new_price,
    }
}

#[test]
fn story_albania_swaps_to_a_w_imsi_of_dynamic_w() {
    let c = balkan(cand(Y, "partner-y", slot(2)), None);
    let dec = run("276", &c, &story_book(), Decimal::ZERO);
    assert_eq!(dec.action, y_to_pool_w(Some(d("0.3")), d("0.2")));
    // Each IMSI on its sponsor's network in Albania.
    assert_eq!(dec.priced[1].network, Some(Plmn::parse("27603").unwrap()));
    assert_eq!(dec.priced[3].network, Some(Plmn::parse("27602").unwrap()));
}

#[test]
fn story_kosovo_swaps_back_to_the_held_y_imsi() {
    let held = cand(Y_HELD, "partner-y", Source::Held);
    let c = balkan(cand(W_POOL, "partner-w", slot(2)), Some(held.clone()));
    let dec = run("221", &c, &story_book(), Decimal::ZERO);
    // The held Y IMSI and the pool's Y IMSI both cost 0.6: held wins.
    assert_eq!(
        dec.action,
        Action::Swap {
            slot: 2,
            old_imsi: W_POOL.into(),
            new: held,
            old_price: Some(d("0.7")),
            profile_price: Some(d("0.7")),
            new_price: d("0.6"),
        }
    );
    assert_eq!(price_of(&dec, Y_POOL, 2), Some(d("0.6")));
}

#[test]
fn home_network_prices_zero_and_keeps() {
    let c = balkan(cand(Y, "partner-y", slot(2)), None);
    let dec = run("262", &c, &story_book(), Decimal::ZERO);
    assert_eq!(dec.priced[0].price, Some(Decimal::ZERO));
    assert_eq!(dec.priced[0].network, Some(Plmn::parse("26201").unwrap()));
    assert_eq!(dec.action, keep(KeepReason::Cheapest));
}

#[test]
fn pool_only_tie_keeps_the_profile() {
    // Only the pool's Y IMSI besides the profile: equal price, no swap.
    let c = vec![
        cand(OWN, "own", slot(1)),
        cand(Y, "partner-y", slot(2)),
        cand(Y_POOL, "partner-y", pool("dynamic Y")),
    ];
    let dec = run("221", &c, &story_book(), Decimal::ZERO);
    assert_eq!(dec.action, keep(KeepReason::Cheapest));
}

#[test]
fn held_beats_pool_at_equal_price_whatever_the_order() {
    let held = cand(Y_HELD, "partner-y", Source::Held);
    let c = vec![
        cand(OWN, "own", slot(1)),
        cand(W_POOL, "partner-w", slot(2)),
        cand(Y_POOL, "partner-y", pool("dynamic Y")),
        held.clone(),
    ];
    let dec = run("221", &c, &story_book(), Decimal::ZERO);
    assert!(matches!(dec.action, Action::Swap { new, .. } if new == held));
}

#[test]
fn min_saving_is_a_floor_per_gb() {
    let c = balkan(cand(Y, "partner-y", slot(2)), None);
    let book = story_book();
    // Albania saves exactly 0.1 per GB.
    assert!(matches!(
        run("276", &c, &book, d("0.1")).action,
        Action::Swap { .. }
    ));
    assert_eq!(
        run("276", &c, &book, d("0.11")).action,
        keep(KeepReason::SavingTooSmall)
    );
}

#[test]
fn no_coverage_keeps_the_profile() {
    let c = balkan(cand(Y, "partner-y", slot(2)), None);
    let book = story_book();
    for mcc in ["310", "999", "27", "2x6", ""] {
        let dec = run(mcc, &c, &book, Decimal::ZERO);
        assert_eq!(dec.action, keep(KeepReason::NoCoverage), "{mcc}");
        assert!(dec.priced.iter().all(|p| p.price.is_none()));
    }
}

#[test]
fn uncovered_profile_swaps_whatever_min_saving() {
    // Canada: only W prices it; neither Own nor Y does.
    let c = balkan(cand(Y, "partner-y", slot(2)), None);
    let dec = run("302", &c, &story_book(), d("100"));
    assert_eq!(dec.action, y_to_pool_w(None, d("2.41")));
}

#[test]
fn single_slot_profile_never_swaps() {
    let c = vec![
        cand(Y, "partner-y", slot(1)),
        cand(W_POOL, "partner-w", pool("dynamic W")),
    ];
    let book = story_book();
    assert_eq!(
        run("276", &c, &book, Decimal::ZERO).action,
        keep(KeepReason::SingleSlot)
    );
    // Nor does it when it has no coverage at all.
    assert_eq!(
        run("302", &c, &book, Decimal::ZERO).action,
        keep(KeepReason::SingleSlot)
    );
}

#[test]
fn dynamic_slot_is_the_last_of_three() {
    let c = vec![
        cand(OWN, "own", slot(1)),
        cand("213779000000001", "partner-x", slot(2)),
        cand(Y, "partner-y", slot(3)),
        cand(W_POOL, "partner-w", pool("dynamic W")),
    ];
    let dec = run("276", &c, &story_book(), Decimal::ZERO);
    assert!(matches!(dec.action, Action::Swap { slot: 3, ref old_imsi, .. } if old_imsi == Y));
}

#[test]
fn cheapest_network_of_a_sponsor_in_an_mcc_wins() {
    let book = story_book();
    // W prices Austria 232 01 at 1.5 and 232 55 at 2.2.
    let w = book.cheapest("partner-w", 232).unwrap();
    assert_eq!(w.network, Plmn::parse("23201").unwrap());
    assert_eq!(w.price, d("1.5"));
    // X prices 213 77 and 213 78 alike: the lower MNC is the one shown.
    let x = book.cheapest("partner-x", 213).unwrap();
    assert_eq!(x.network, Plmn::parse("21377").unwrap());
    // Y's tariff in its home country wins over the home price 0.
    assert_eq!(book.cheapest("partner-y", 213).unwrap().price, d("1.1"));
}

/// The embedded rating plus a GBP sponsor "partner-g" pricing Albania's
/// 276 01 at `albania` GBP, and one in CHF, which has no exchange rate.
fn rating_with_gbp(albania: &str) -> (Rating, Vec<Sponsor>) {
    let text = format!(
        "{}\n[[tariff]]\nsponsor = \"partner-g\"\nprices = {{ \"27601\" = \"{albania}\" }}\n\
         [[tariff]]\nsponsor = \"partner-c\"\nprices = {{ \"27601\" = \"0.01\" }}\n",
        crate::rating::EMBEDDED
    );
    let rating = Rating::parse(&text, "rating.toml").unwrap();
    let mut sponsors = seed_sponsors();
    for (id, currency, plmn) in [("partner-g", "GBP", "23415"), ("partner-c", "CHF", "22801")] {
        let mut s = sponsors[3].clone();
        s.id = id.into();
        s.currency = currency.into();
        s.plmns = vec![plmn.into()];
        sponsors.push(s);
    }
    (rating, sponsors)
}

#[test]
fn gbp_prices_compare_after_conversion() {
    // 0.18 GBP < 0.2 as numbers, but 0.18 × 1.17 = 0.2106 EUR > 0.2.
    let (rating, sponsors) = rating_with_gbp("0.18");
    let book = PriceBook::new(&rating, &sponsors);
    assert_eq!(book.cheapest("partner-g", 276).unwrap().price, d("0.2106"));
    let c = vec![
        cand(OWN, "own", slot(1)),
        cand(Y, "partner-y", slot(2)),
        cand("234150000000001", "partner-g", pool("dynamic G")),
        cand(W_POOL, "partner-w", pool("dynamic W")),
    ];
    let dec = run("276", &c, &book, Decimal::ZERO);
    assert!(matches!(dec.action, Action::Swap { ref new, .. } if new.sponsor == "partner-w"));
    // 0.17 GBP = 0.1989 EUR does beat W.
    let (rating, sponsors) = rating_with_gbp("0.17");
    let dec = run(
        "276",
        &c,
        &PriceBook::new(&rating, &sponsors),
        Decimal::ZERO,
    );
    assert!(matches!(
        dec.action,
        Action::Swap { ref new, new_price, .. } if new.sponsor == "partner-g" && new_price == d("0.1989")
    ));
}

#[test]
fn a_currency_without_a_rate_is_left_out() {
    let (rating, sponsors) = rating_with_gbp("0.18");
    let book = PriceBook::new(&rating, &sponsors);
    assert_eq!(book.unconvertible(), ["partner-c".to_string()]);
    assert_eq!(book.cheapest("partner-c", 276), None);
}

#[test]
fn decision_serialises_with_its_prices() {
    let c = balkan(cand(Y, "partner-y", slot(2)), None);
    let dec = run("276", &c, &story_book(), Decimal::ZERO);
    let json = serde_json::to_value(&dec).unwrap();
    assert_eq!(json["mcc"], "276");
    assert_eq!(json["action"]["action"], "swap");
    assert_eq!(json["action"]["new"]["source"]["pool"], "dynamic W");
    assert_eq!(json["priced"][1]["network"], "27603");
    assert_eq!(json["priced"][1]["price"], "0.3");
    assert_eq!(json["priced"][0]["network"], serde_json::Value::Null);
    let back: Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back, dec);
}

// Random tariffs of four sponsors over three countries (some prices absent),
// random profiles of 1-3 slots, held and pool candidates, and min_saving.
const SPONSORS: [&str; 4] = ["s0", "s1", "s2", "s3"];
const MCCS: [&str; 3] = ["201", "202", "203"];

fn random_book(prices: &[Option<u16>]) -> PriceBook {
    let mut text = String::from(
        "reporting_currency = \"EUR\"\n[grant]\ndata_octets = 1\nvoice_seconds = 1\n\
         validity_time = \"10m\"\n",
    );
    for (s, sponsor) in SPONSORS.iter().enumerate() {
        let entries: Vec<String> = MCCS
            .iter()
            .enumerate()
            .filter_map(|(m, mcc)| {
                prices[s * MCCS.len() + m].map(|p| format!("\"{mcc}01\" = \"0.{p:02}\""))
            })
            .collect();
        text += &format!(
            "[[tariff]]\nsponsor = \"{sponsor}\"\nprices = {{ {} }}\n",
            entries.join(", ")
        );
    }
    let rating = Rating::parse(&text, "random.toml").unwrap();
    let mut sponsors = seed_sponsors();
    sponsors.truncate(1);
    for (i, id) in SPONSORS.iter().enumerate() {
        let mut s = sponsors[0].clone();
        s.id = id.to_string();
        s.plmns = vec![format!("30{i}01")];
        sponsors.push(s);
    }
    PriceBook::new(&rating, &sponsors)
}

fn random_candidates() -> impl Strategy<Value = Vec<Candidate>> {
    let sponsor = 0..SPONSORS.len();
    (
        prop::collection::vec(sponsor.clone(), 1..=3),
        prop::collection::vec(sponsor.clone(), 0..=2),
        prop::collection::vec(sponsor, 0..=3),
    )
        .prop_map(|(profile, held, pools)| {
            let mut v = Vec::new();
            for (i, s) in profile.into_iter().enumerate() {
                v.push(cand(&format!("p{i}"), SPONSORS[s], slot(i as u8 + 1)));
            }
            for (i, s) in held.into_iter().enumerate() {
                v.push(cand(&format!("h{i}"), SPONSORS[s], Source::Held));
            }
            for (i, s) in pools.into_iter().enumerate() {
                v.push(cand(&format!("q{i}"), SPONSORS[s], pool("dynamic")));
            }
            v
        })
}

proptest! {
    #[test]
    fn swaps_only_the_dynamic_slot_and_only_when_cheaper_enough(
        prices in prop::collection::vec(prop::option::of(0u16..100), SPONSORS.len() * MCCS.len()),
        candidates in random_candidates(),
        mcc in prop::sample::select(&MCCS[..]),
        saving in 0u16..30,
    ) {
        let book = random_book(&prices);
        let min_saving = Decimal::new(i64::from(saving), 2);
        let dec = run(mcc, &candidates, &book, min_saving);
        let profile: Vec<&Priced> =
            dec.priced.iter().filter(|p| p.source.rank() == 0).collect();
        let profile_best = profile.iter().filter_map(|p| p.price).min();
        let best = dec.priced.iter().filter_map(|p| p.price).min();
        match dec.action {
            Action::Swap { slot, old_imsi, new, new_price, .. } => {
                prop_assert!(profile.len() >= 2);
                let last = profile.iter().map(|p| match p.source {
                    Source::Profile { slot } => slot,
                    _ => 0,
                }).max();
                prop_assert_eq!(Some(slot), last);
                prop_assert_eq!(old_imsi, format!("p{}", slot - 1));
                prop_assert!(new.source.rank() > 0);
                prop_assert_eq!(Some(new_price), best);
                if let Some(pb) = profile_best {
                    prop_assert!(new_price < pb);
                    prop_assert!(pb - new_price >= min_saving);
                }
            }
            Action::Keep { reason: KeepReason::Cheapest } => {
                prop_assert!(profile_best.is_some() && profile_best == best);
            }
            Action::Keep { reason: KeepReason::NoCoverage } => prop_assert_eq!(best, None),
            Action::Keep { reason: KeepReason::SingleSlot } => prop_assert_eq!(profile.len(), 1),
            Action::Keep { reason: KeepReason::SavingTooSmall } => {
                let (pb, b) = (profile_best.unwrap(), best.unwrap());
                prop_assert!(b < pb && pb - b < min_saving);
            }
        }
    }
}
