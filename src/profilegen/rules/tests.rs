//! Selection rules against the seed's data (the Own+X and Own+Y tables of the story) and
//! against small hand-made ratings (currency conversion, options).

use super::*;
use crate::inventory::seed::{self, Seed};
use crate::rating::EMBEDDED;

fn seed() -> Seed {
    seed::parse(seed::EMBEDDED, "config/seed.toml").unwrap()
}

fn rating() -> Rating {
    Rating::parse(EMBEDDED, "config/rating.toml").unwrap()
}

/// The pool's products and the sponsors of the given slots, from the seed.
fn inputs(pool: &str, slots: &[&str]) -> (Vec<Product>, Vec<Sponsor>) {
    let s = seed();
    let pool = s.pool.iter().find(|p| p.name == pool).unwrap();
    let products = pool
        .products
        .iter()
        .map(|pp| {
            s.product
                .iter()
                .find(|p| p.name == pp.product)
                .unwrap()
                .clone()
        })
        .collect();
    let sponsors = slots
        .iter()
        .map(|id| s.sponsor.iter().find(|x| x.id == *id).unwrap().clone())
        .collect();
    (products, sponsors)
}

fn table(rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        .flat_map(|r| {
            r.positions
                .iter()
                .map(move |(p, pref)| format!("{} {} IMSI{p} {}", r.mcc, r.mnc, pref.as_str()))
        })
        .collect()
}

#[test]
fn own_plus_x_uses_own_at_home_and_x_in_andorra_cheapest_first() {
    let (products, sponsors) = inputs("Own+X for EU Neighbour - Andorra", &["own", "partner-x"]);
    let rules = derive(&products, &sponsors, &rating(), RuleOptions::default()).unwrap();
    assert_eq!(
        table(&rules),
        ["262 01 IMSI1 high", "213 77 IMSI2 high", "213 78 IMSI2 med"]
    );
}

#[test]
fn own_plus_y_for_balkan_keeps_only_the_products_rate_codes_of_y() {
    let (products, sponsors) = inputs("Own+Y for Balkan Traveller", &["own", "partner-y"]);
    let rules = derive(&products, &sponsors, &rating(), RuleOptions::default()).unwrap();
    // Y's 213 55 is not a rate code of the Balkan product: profit guarantee.
    assert_eq!(
        table(&rules),
        [
            "262 01 IMSI1 high",
            "221 01 IMSI2 high",
            "276 03 IMSI2 high",
            "297 01 IMSI2 high",
        ]
    );
}

#[test]
fn without_profit_guarantee_every_tariffed_network_is_listed() {
    let (products, sponsors) = inputs("Own+Y for Balkan Traveller", &["own", "partner-y"]);
    let opts = RuleOptions {
        least_cost: true,
        profit_guarantee: false,
    };
    let rules = derive(&products, &sponsors, &rating(), opts).unwrap();
    let t = table(&rules);
    assert!(t.contains(&"213 55 IMSI2 high".to_string()), "{t:?}");
    assert_eq!(t.len(), 5, "{t:?}");
}

/// Two sponsors on the same networks, one priced in GBP.
const SMALL: &str = r#"
reporting_currency = "EUR"
[grant]
data_octets = 1000
voice_seconds = 60
validity_time = "10m"
[rate_code_groups]
"two" = ["E212-297-01", "E212-276-03"]
[[tariff]]
sponsor = "uk"
prices = { "29701" = "1.00", "27603" = "0.80" }
[[tariff]]
sponsor = "eu"
prices = { "29701" = "1.10", "27603" = "0.90" }
[exchange_rates]
GBP = "1.17"
"#;

fn sponsor(id: &str, currency: &str, plmn: &str) -> Sponsor {
    Sponsor {
        id: id.into(),
        name: id.into(),
        plmns: vec![plmn.into()],
        translation: None,
        proxy_origin_hosts: vec![],
        currency: currency.into(),
        provision_in_home_hss: true,
    }
}

fn product(codes: &[&str], groups: &[&str]) -> Product {
    Product {
        name: "p".into(),
        rate_codes: codes.iter().map(|s| s.to_string()).collect(),
        rate_code_groups: groups.iter().map(|s| s.to_string()).collect(),
        ..Product::default()
    }
}

#[test]
fn a_gbp_price_is_compared_after_conversion() {
    let rating = Rating::parse(SMALL, "small.toml").unwrap();
    // Slot 1 is GBP: 1.00 GBP = 1.17 EUR loses to 1.10 EUR, and
    // 0.80 GBP = 0.936 EUR loses to 0.90 EUR, though both numbers are lower.
    let sponsors = [sponsor("uk", "GBP", "23415"), sponsor("eu", "EUR", "20801")];
    let products = [product(&[], &["two"])];
    let rules = derive(&products, &sponsors, &rating, RuleOptions::default()).unwrap();
    assert_eq!(
        table(&rules),
        [
            "276 03 IMSI2 high",
            "276 03 IMSI1 med",
            "297 01 IMSI2 high",
            "297 01 IMSI1 med",
        ]
    );
    // Read as EUR (no conversion) the GBP sponsor would look cheaper.
    let as_eur = [sponsor("uk", "EUR", "23415"), sponsor("eu", "EUR", "20801")];
    let rules = derive(&products, &as_eur, &rating, RuleOptions::default()).unwrap();
    assert_eq!(rules[0].positions, [(1, Pref::High), (2, Pref::Med)]);
}

#[test]
fn without_least_cost_positions_keep_slot_order() {
    let rating = Rating::parse(SMALL, "small.toml").unwrap();
    let sponsors = [sponsor("uk", "GBP", "23415"), sponsor("eu", "EUR", "20801")];
    let products = [product(&["E212-297-01"], &[])];
    let opts = RuleOptions {
        least_cost: false,
        profit_guarantee: true,
    };
    let rules = derive(&products, &sponsors, &rating, opts).unwrap();
    assert_eq!(table(&rules), ["297 01 IMSI1 high", "297 01 IMSI2 med"]);
}

#[test]
fn networks_without_a_usable_imsi_are_left_out_and_home_comes_first() {
    let rating = Rating::parse(SMALL, "small.toml").unwrap();
    // Slot 1 is home on 297 01, where slot 2 is priced too.
    let sponsors = [sponsor("me", "EUR", "29701"), sponsor("eu", "EUR", "20801")];
    let products = [product(&["E212-297-01", "E212-262-01"], &[])];
    let rules = derive(&products, &sponsors, &rating, RuleOptions::default()).unwrap();
    assert_eq!(table(&rules), ["297 01 IMSI1 high", "297 01 IMSI2 med"]);
}

#[test]
fn equal_prices_share_a_preference() {
    let text = SMALL.replace("\"1.10\"", "\"1.17\"");
    let rating = Rating::parse(&text, "small.toml").unwrap();
    let sponsors = [sponsor("uk", "GBP", "23415"), sponsor("eu", "EUR", "20801")];
    let products = [product(&["E212-297-01"], &[])];
    let rules = derive(&products, &sponsors, &rating, RuleOptions::default()).unwrap();
    assert_eq!(table(&rules), ["297 01 IMSI1 high", "297 01 IMSI2 high"]);
}

#[test]
fn errors_name_what_is_wrong() {
    let rating = Rating::parse(SMALL, "small.toml").unwrap();
    let eu = [sponsor("eu", "EUR", "20801")];
    let bad = derive(
        &[product(&["262-01"], &[])],
        &eu,
        &rating,
        RuleOptions::default(),
    );
    assert!(matches!(bad, Err(RulesError::BadRateCode { .. })));
    let unknown = derive(
        &[product(&[], &["nope"])],
        &eu,
        &rating,
        RuleOptions::default(),
    );
    assert!(matches!(unknown, Err(RulesError::UnknownGroup { .. })));
    let chf = [sponsor("uk", "CHF", "23415")];
    let no_rate = derive(
        &[product(&[], &["two"])],
        &chf,
        &rating,
        RuleOptions::default(),
    );
    assert!(matches!(no_rate, Err(RulesError::NoExchangeRate { .. })));
    let none = derive(&[], &[], &rating, RuleOptions::default());
    assert_eq!(none, Err(RulesError::BadPositions(0)));
}
