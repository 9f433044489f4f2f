//! Prices and rounding of the embedded rating file; `errors` checks how a
//! bad file is refused.

use super::*;

mod errors;

fn rating() -> Rating {
    Rating::parse(EMBEDDED, "config/rating.toml").unwrap()
}

#[test]
fn story_prices_and_rounding() {
    let r = rating();
    let andorra = Plmn::parse("21377").unwrap();
    // 1.5 GB on 213-77 through Partner X at 1.01/GB.
    let c = r
        .wholesale("partner-x", "EUR", andorra, 1_500_000_000)
        .unwrap();
    assert_eq!(c.amount, Decimal::new(1515, 3));
    assert_eq!(c.reporting_amount, c.amount);
    // 1 octet at 1.01/GB = 0.00000000101 → rounds to 0.000000.
    assert_eq!(
        r.wholesale("partner-x", "EUR", andorra, 1).unwrap().amount,
        Decimal::ZERO
    );
    // Least cost in Albania: W (0.2) beats Y (0.3); Montenegro: Y (0.41) beats W (1.21).
    let al = Plmn::parse("27602").unwrap();
    assert!(
        r.price_in_reporting("partner-w", "EUR", al).unwrap()
            < r.price_in_reporting("partner-y", "EUR", Plmn::parse("27603").unwrap())
                .unwrap()
    );
    let me = Plmn::parse("29701").unwrap();
    assert!(
        r.price_in_reporting("partner-y", "EUR", me).unwrap()
            < r.price_in_reporting("partner-w", "EUR", me).unwrap()
    );
    assert!(r
        .wholesale("own", "EUR", Plmn::parse("26201").unwrap(), 10)
        .is_none());
}

#[test]
fn currencies_convert_before_comparing() {
    let r = rating();
    let me = Plmn::parse("29701").unwrap();
    // A GBP price of 0.41 is 0.4797 EUR at 1.17.
    let c = r.wholesale("partner-y", "GBP", me, OCTETS_PER_GB).unwrap();
    assert_eq!(c.amount, Decimal::new(41, 2));
    assert_eq!(c.reporting_amount, Decimal::new(4797, 4));
    assert!(
        r.wholesale("partner-y", "JPY", me, 1).is_none(),
        "no rate, no guess"
    );
}

#[test]
fn grants() {
    assert_eq!(grant(Some(500), 1000, 10_000), 500);
    assert_eq!(grant(None, 1000, 10_000), 1000);
    assert_eq!(grant(Some(5000), 1000, 300), 300);
    assert_eq!(grant(Some(5000), 1000, 0), 0);
}

#[test]
fn bad_config_names_the_field() {
    let text = EMBEDDED.replace("\"21377\" = \"1.01\"", "\"2137x\" = \"1.01\"");
    let line = 1 + text.lines().position(|l| l.contains("2137x")).unwrap();
    let e = Rating::parse(&text, "r.toml").unwrap_err();
    let want = format!("r.toml:{line}: tariff partner-x: network '2137x'");
    assert!(e.to_string().starts_with(&want), "{e}");
}
