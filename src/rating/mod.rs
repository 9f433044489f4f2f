//! Rating: what a product's bundle allows where, how much to grant, and what
//! a sponsor charges wholesale for the octets used on a visited network. Pure:
//! configuration and numbers in, decisions out.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

use crate::model::HumaneDuration;
use crate::model::{Plmn, RateCode};

pub const EMBEDDED: &str = include_str!("../../config/rating.toml");

/// Octets in the GB that sponsor prices are quoted per.
pub const OCTETS_PER_GB: u64 = 1_000_000_000;
/// Money is kept to this many decimal places, rounded half to even.
pub const MONEY_SCALE: u32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum RatingError {
    #[error("{file}: {message}")]
    Config { file: String, message: String },
    /// The same, where the fault's line is known.
    #[error("{file}:{line}: {message}")]
    At {
        file: String,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRating {
    reporting_currency: String,
    grant: GrantConfig,
    #[serde(default)]
    rate_code_groups: HashMap<String, Vec<String>>,
    #[serde(default)]
    bundle: Vec<Bundle>,
    #[serde(default)]
    tariff: Vec<RawTariff>,
    #[serde(default)]
    exchange_rates: HashMap<String, Decimal>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantConfig {
    pub data_octets: u64,
    /// Seconds granted at most when a data request asks for time (CC-Time).
    #[serde(default = "default_data_seconds")]
    pub data_seconds: u64,
    pub voice_seconds: u64,
    pub validity_time: HumaneDuration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub product: String,
    pub data_octets: u64,
    #[serde(default)]
    pub fup_octets: Option<u64>,
    #[serde(default)]
    pub voice_seconds: u64,
    /// Short messages included.
    #[serde(default)]
    pub sms: u64,
    /// E.164 prefixes (no '+') outgoing calls may go to.
    #[serde(default)]
    pub outgoing_prefixes: Vec<String>,
    /// Rating groups the data allowance pays for; empty = every group.
    /// A group in none of the three lists is answered 5031.
    #[serde(default)]
    pub rating_groups: Vec<u32>,
    /// Granted and reported, but consuming no allowance (xDRs and the
    /// sponsor's wholesale cost still count them).
    #[serde(default)]
    pub zero_rated_groups: Vec<u32>,
    /// Outside credit control (4011): the gateway lets them through and
    /// reports nothing, so no xDR and no wholesale cost either.
    #[serde(default)]
    pub free_rating_groups: Vec<u32>,
}

/// How a bundle treats one rating group of its data service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRating {
    Allowance,
    ZeroRated,
    Free,
    Unknown,
}

impl Bundle {
    /// An MSCC without a Rating-Group is the bundle's plain allowance.
    pub fn group(&self, rating_group: Option<u32>) -> GroupRating {
        let Some(rg) = rating_group else {
            return GroupRating::Allowance;
        };
        if self.free_rating_groups.contains(&rg) {
            GroupRating::Free
        } else if self.zero_rated_groups.contains(&rg) {
            GroupRating::ZeroRated
        } else if self.rating_groups.is_empty() || self.rating_groups.contains(&rg) {
            GroupRating::Allowance
        } else {
            GroupRating::Unknown
        }
    }
}

fn default_data_seconds() -> u64 {
    600
}

/// ISO 4217 numeric codes, for Currency-Code (RFC 4006 §8.11).
const CURRENCIES: &[(&str, u32)] = &[
    ("EUR", 978),
    ("USD", 840),
    ("GBP", 826),
    ("CHF", 756),
    ("JPY", 392),
    ("CAD", 124),
    ("SEK", 752),
    ("NOK", 578),
    ("DKK", 208),
    ("PLN", 985),
    ("CZK", 203),
    ("HUF", 348),
    ("RON", 946),
    ("RSD", 941),
    ("ALL", 8),
    ("TRY", 949),
    ("AUD", 36),
];

pub fn currency_numeric(code: &str) -> Option<u32> {
    CURRENCIES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTariff {
    sponsor: String,
    prices: HashMap<String, Decimal>,
}

/// What `Rating::parse` checks after the toml crate is done, each fault
/// found again in the text by the keys and values it names.
struct Checks<'a> {
    file: &'a str,
    text: &'a str,
}

impl Checks<'_> {
    fn bad(&self, needles: &[&str], message: String) -> RatingError {
        locate::semantic(self.file, self.text, needles, message)
    }

    fn groups(
        &self,
        raw: HashMap<String, Vec<String>>,
    ) -> Result<HashMap<String, HashSet<RateCode>>, RatingError> {
        let mut groups = HashMap::new();
        for (name, codes) in raw {
            let mut set = HashSet::new();
            for c in codes {
                let at = [name.as_str(), c.as_str()];
                let rc = RateCode::parse(&c).map_err(|e| {
                    self.bad(&at, format!("rate_code_groups.\"{name}\": '{c}': {e}"))
                })?;
                set.insert(rc);
            }
            groups.insert(name, set);
        }
        Ok(groups)
    }

    fn prices(
        &self,
        tariffs: Vec<RawTariff>,
    ) -> Result<HashMap<(String, Plmn), Decimal>, RatingError> {
        let mut prices = HashMap::new();
        for t in tariffs {
            for (plmn, price) in t.prices {
                let at = [t.sponsor.as_str(), plmn.as_str()];
                let p = Plmn::parse(&plmn).map_err(|e| {
                    self.bad(&at, format!("tariff {}: network '{plmn}': {e}", t.sponsor))
                })?;
                if price.is_sign_negative() {
                    return Err(self.bad(
                        &at,
                        format!(
                            "tariff {}: network {plmn}: price must not be negative",
                            t.sponsor
                        ),
                    ));
                }
                prices.insert((t.sponsor.clone(), p), price);
            }
        }
        Ok(prices)
    }

    fn currency(&self, code: &str) -> Result<(), RatingError> {
        if currency_numeric(code).is_none() {
            return Err(self.bad(
                &["reporting_currency"],
                format!("reporting_currency: '{code}' is not an ISO 4217 code gyro knows"),
            ));
        }
        Ok(())
    }

    /// A rating group belongs to one of a bundle's three lists at most.
    fn bundles(&self, bundles: &[Bundle]) -> Result<(), RatingError> {
        for b in bundles {
            let lists = [
                &b.rating_groups,
                &b.zero_rated_groups,
                &b.free_rating_groups,
            ];
            let mut seen = HashSet::new();
            if let Some(rg) = lists
                .iter()
                .flat_map(|l| l.iter())
                .find(|rg| !seen.insert(**rg))
            {
                return Err(self.bad(
                    &[b.product.as_str()],
                    format!(
                        "bundle \"{}\": rating group {rg} is listed twice (rating_groups, zero_rated_groups and free_rating_groups exclude each other)",
                        b.product
                    ),
                ));
            }
        }
        Ok(())
    }

    fn grant(&self, grant: &GrantConfig) -> Result<(), RatingError> {
        if grant.validity_time.0 < Duration::from_secs(1) {
            return Err(self.bad(
                &["grant", "validity_time"],
                "grant.validity_time: must be at least 1s".into(),
            ));
        }
        Ok(())
    }
}

/// Everything rating needs, indexed for the request path.
#[derive(Debug, Clone)]
pub struct Rating {
    pub reporting_currency: String,
    pub grant: GrantConfig,
    groups: HashMap<String, HashSet<RateCode>>,
    bundles: HashMap<String, Bundle>,
    /// (sponsor id, visited PLMN) → price per GB in the sponsor's currency.
    prices: HashMap<(String, Plmn), Decimal>,
    rates: HashMap<String, Decimal>,
}

/// The sponsor's wholesale cost of some octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholesaleCost {
    pub price_per_gb: Decimal,
    pub amount: Decimal,
    /// In the reporting currency.
    pub reporting_amount: Decimal,
}

impl Rating {
    pub fn parse(text: &str, file: &str) -> Result<Rating, RatingError> {
        let raw: RawRating =
            toml::from_str(text).map_err(|e| locate::toml_error(file, text, &e))?;
        let check = Checks { file, text };
        let groups = check.groups(raw.rate_code_groups)?;
        let prices = check.prices(raw.tariff)?;
        check.currency(&raw.reporting_currency)?;
        check.bundles(&raw.bundle)?;
        check.grant(&raw.grant)?;
        Ok(Rating {
            reporting_currency: raw.reporting_currency,
            grant: raw.grant,
            groups,
            bundles: raw
                .bundle
                .into_iter()
                .map(|b| (b.product.clone(), b))
                .collect(),
            prices,
            rates: raw.exchange_rates,
        })
    }

    pub fn bundle(&self, product: &str) -> Option<&Bundle> {
        self.bundles.get(product)
    }

    /// Whether a product's networks (its rate codes and named groups) include `rc`.
    pub fn covers(&self, codes: &[RateCode], groups: &[String], rc: RateCode) -> bool {
        codes.contains(&rc)
            || groups
                .iter()
                .any(|g| self.groups.get(g).is_some_and(|s| s.contains(&rc)))
    }

    /// The rate codes of a named group; None when the rating has no such group.
    pub fn group(&self, name: &str) -> Option<&HashSet<RateCode>> {
        self.groups.get(name)
    }

    /// The networks a sponsor's tariff prices, sorted (profile generation
    /// lists them when the profit guarantee is off).
    pub fn tariffed(&self, sponsor: &str) -> Vec<Plmn> {
        let mut v: Vec<Plmn> = self
            .prices
            .keys()
            .filter(|(s, _)| s == sponsor)
            .map(|(_, p)| *p)
            .collect();
        v.sort_unstable();
        v
    }

    /// Outgoing calls must go to one of the bundle's destination prefixes;
    /// incoming calls are allowed from anywhere.
    pub fn voice_destination_allowed(&self, bundle: &Bundle, e164: &str) -> bool {
        bundle
            .outgoing_prefixes
            .iter()
            .any(|p| e164.starts_with(p.as_str()))
    }

    /// Wholesale cost of `octets` used on `visited` through `sponsor`. None
    /// when the sponsor has no price there (its own network, or the operator).
    pub fn wholesale(
        &self,
        sponsor: &str,
        currency: &str,
        visited: Plmn,
        octets: u64,
    ) -> Option<WholesaleCost> {
        let price = *self.prices.get(&(sponsor.to_string(), visited))?;
        let amount = (price * Decimal::from(octets) / Decimal::from(OCTETS_PER_GB))
            .round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointNearestEven)
            .normalize();
        let rate = if currency == self.reporting_currency {
            Decimal::ONE
        } else {
            *self.rates.get(currency)?
        };
        Some(WholesaleCost {
            price_per_gb: price,
            amount,
            reporting_amount: (amount * rate)
                .round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointNearestEven)
                .normalize(),
        })
    }

    /// Price per GB for comparisons across sponsors (least cost), in the
    /// reporting currency.
    pub fn price_in_reporting(
        &self,
        sponsor: &str,
        currency: &str,
        visited: Plmn,
    ) -> Option<Decimal> {
        self.wholesale(sponsor, currency, visited, OCTETS_PER_GB)
            .map(|c| c.reporting_amount)
    }
}

/// grant = min(requested, configured grant size, remaining).
pub fn grant(requested: Option<u64>, grant_size: u64, remaining: u64) -> u64 {
    requested
        .unwrap_or(grant_size)
        .min(grant_size)
        .min(remaining)
}

mod locate;
pub mod source;

#[cfg(test)]
mod tests;
