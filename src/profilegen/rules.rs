//! IMSI and MNC selection rules for a pool's multi-IMSI profiles: which IMSI
//! positions the eSIM applet may use on which network, and how strongly it
//! should prefer each. Derived from the pool's products (their rate
//! codes: the profit guarantee) and the sponsors' wholesale tariffs after
//! currency conversion (least cost).
//!
//! # The rule
//!
//! 1. **Networks.** With the profit guarantee, only the networks in the rate
//!    codes of the pool's products (named groups expanded through the
//!    rating's `rate_code_groups`); without it, every network a position's
//!    sponsor is priced at or is home on.
//! 2. **Usable positions.** A position is usable on a network when its
//!    sponsor is home there (a 5- or 6-digit entry of the sponsor's `plmns`,
//!    "26201" = 262 01) or its tariff prices that network. A network with no
//!    usable position is left out.
//! 3. **Cost.** Home costs nothing; otherwise the sponsor's price per GB in
//!    the reporting currency (so a GBP price is compared after conversion).
//! 4. **Preference** (least cost). Two dense ranks, ties sharing a rank, on
//!    the key (not home, cost):
//!    - the *network rank*: the position among the positions usable on that
//!      network;
//!    - the *country rank*: the network among the listed networks of the
//!      same MCC that the position is usable on.
//!
//!    The preference is the worse of the two: rank 0 high, 1 med, 2 and
//!    later low. The country rank is what makes the story's 213 78 "med":
//!    Partner X charges 1.01 on both 213 77 and 213 78, but 213 77 is its own
//!    network, so in Andorra IMSI2 prefers 213 77 (high) and 213 78 comes
//!    second (med). 262 01 is IMSI1's home: high.
//! 5. Without least cost, positions keep slot order and the preference is
//!    the slot-order rank alone.
//!
//! Rules are listed by their first position's slot, then MCC and MNC, which
//! gives the story's order (262 01, 213 77, 213 78).

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::model::{Plmn, RateCode};
use crate::model::{Product, Sponsor};
use crate::rating::Rating;

/// How strongly the applet should prefer an IMSI on a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pref {
    High,
    Med,
    Low,
}

impl Pref {
    /// Rank 0 is high, 1 med, anything later low.
    pub fn from_rank(rank: usize) -> Pref {
        match rank {
            0 => Pref::High,
            1 => Pref::Med,
            _ => Pref::Low,
        }
    }

    /// The word the SM-DP+ file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Pref::High => "high",
            Pref::Med => "med",
            Pref::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Pref> {
        match s {
            "high" => Some(Pref::High),
            "med" => Some(Pref::Med),
            "low" => Some(Pref::Low),
            _ => None,
        }
    }
}

/// One network's line(s) of the rules: MCC and MNC as digits (the MNC's
/// length is kept: "01" and "001" differ), then the usable positions
/// (1-based), most preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub mcc: String,
    pub mnc: String,
    pub positions: Vec<(u8, Pref)>,
}

/// `--rules least-cost,profit-guarantee`: each can be turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleOptions {
    pub least_cost: bool,
    pub profit_guarantee: bool,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            least_cost: true,
            profit_guarantee: true,
        }
    }
}

/// `least-cost`, `profit-guarantee`: the rule options named (both when
/// none is given).
pub fn rule_options(names: Option<&[String]>) -> Result<(bool, bool), String> {
    let Some(names) = names else {
        return Ok((true, true));
    };
    let (mut least_cost, mut profit_guarantee) = (false, false);
    for n in names {
        match n.as_str() {
            "least-cost" => least_cost = true,
            "profit-guarantee" => profit_guarantee = true,
            other => {
                return Err(format!(
                    "'{other}': expected least-cost and/or profit-guarantee"
                ))
            }
        }
    }
    Ok((least_cost, profit_guarantee))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("product \"{product}\": rate code '{code}' is not E212-MCC-MNC")]
    BadRateCode { product: String, code: String },
    #[error("product \"{product}\": rate-code group \"{group}\" is not in the rating")]
    UnknownGroup { product: String, group: String },
    #[error("sponsor {sponsor}: no exchange rate from {currency} to the reporting currency")]
    NoExchangeRate { sponsor: String, currency: String },
    #[error("{0} IMSIs per profile: must be 1 to 10")]
    BadPositions(usize),
}

/// A position's standing on one network: (not home, cost), lower is better.
type Key = (bool, Decimal);

/// Derives the rules for a pool whose products are `products`, with
/// `sponsors[i]` the sponsor of IMSI position i + 1.
pub fn derive(
    products: &[Product],
    sponsors: &[Sponsor],
    rating: &Rating,
    options: RuleOptions,
) -> Result<Vec<Rule>, RulesError> {
    if !(1..=10).contains(&sponsors.len()) {
        return Err(RulesError::BadPositions(sponsors.len()));
    }
    let costs = position_costs(sponsors, rating)?;
    let networks: BTreeSet<Plmn> = if options.profit_guarantee {
        product_networks(products, rating)?
    } else {
        costs.iter().flat_map(|c| c.keys().copied()).collect()
    };
    // network → usable (slot index, key), in slot order.
    let usable: BTreeMap<Plmn, Vec<(usize, Key)>> = networks
        .iter()
        .filter_map(|n| {
            let at: Vec<(usize, Key)> = costs
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.get(n).map(|k| (i, *k)))
                .collect();
            (!at.is_empty()).then_some((*n, at))
        })
        .collect();
    let mut rules: Vec<Rule> = usable
        .iter()
        .map(|(n, at)| rule_for(*n, at, &usable, options.least_cost))
        .collect();
    rules.sort_by(|a, b| {
        (a.positions[0].0, &a.mcc, &a.mnc).cmp(&(b.positions[0].0, &b.mcc, &b.mnc))
    });
    Ok(rules)
}

/// One rule: the network's usable positions ordered and given a preference.
fn rule_for(
    network: Plmn,
    at: &[(usize, Key)],
    usable: &BTreeMap<Plmn, Vec<(usize, Key)>>,
    least_cost: bool,
) -> Rule {
    let mut order: Vec<(usize, Key)> = at.to_vec();
    if least_cost {
        // Stable: equal keys keep slot order.
        order.sort_by_key(|(_, k)| *k);
    }
    let positions = order
        .iter()
        .enumerate()
        .map(|(i, (slot, key))| {
            let rank = if least_cost {
                let network_rank = dense_rank(order.iter().map(|(_, k)| *k), *key);
                network_rank.max(country_rank(network, *slot, *key, usable))
            } else {
                i
            };
            (*slot as u8 + 1, Pref::from_rank(rank))
        })
        .collect();
    let text = network.to_string();
    Rule {
        mcc: text[..3].to_string(),
        mnc: text[3..].to_string(),
        positions,
    }
}

/// Rank of `key` among the keys of `slot` on the listed networks of
/// `network`'s country.
fn country_rank(
    network: Plmn,
    slot: usize,
    key: Key,
    usable: &BTreeMap<Plmn, Vec<(usize, Key)>>,
) -> usize {
    let keys = usable
        .iter()
        .filter(|(n, _)| n.mcc() == network.mcc())
        .filter_map(|(_, at)| at.iter().find(|(s, _)| *s == slot).map(|(_, k)| *k));
    dense_rank(keys, key)
}

/// How many distinct keys are better than `key` (ties share a rank).
fn dense_rank(keys: impl Iterator<Item = Key>, key: Key) -> usize {
    keys.filter(|k| *k < key).collect::<BTreeSet<_>>().len()
}

/// Per position: every network it is usable on, with its key.
fn position_costs(
    sponsors: &[Sponsor],
    rating: &Rating,
) -> Result<Vec<BTreeMap<Plmn, Key>>, RulesError> {
    sponsors
        .iter()
        .map(|s| {
            let mut m = BTreeMap::new();
            for n in rating.tariffed(&s.id) {
                let price = rating
                    .price_in_reporting(&s.id, &s.currency, n)
                    .ok_or_else(|| RulesError::NoExchangeRate {
                        sponsor: s.id.clone(),
                        currency: s.currency.clone(),
                    })?;
                m.insert(n, (true, price));
            }
            // Home wins over a price the sponsor might list for itself.
            for n in s.plmns.iter().filter_map(|p| Plmn::parse(p).ok()) {
                m.insert(n, (false, Decimal::ZERO));
            }
            Ok(m)
        })
        .collect()
}

/// The networks of the products' rate codes and rate-code groups.
fn product_networks(products: &[Product], rating: &Rating) -> Result<BTreeSet<Plmn>, RulesError> {
    let mut out = BTreeSet::new();
    for p in products {
        for c in &p.rate_codes {
            let rc = RateCode::parse(c).map_err(|_| RulesError::BadRateCode {
                product: p.name.clone(),
                code: c.clone(),
            })?;
            out.insert(rc.plmn());
        }
        for g in &p.rate_code_groups {
            let set = rating.group(g).ok_or_else(|| RulesError::UnknownGroup {
                product: p.name.clone(),
                group: g.clone(),
            })?;
            out.extend(set.iter().map(|rc| rc.plmn()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
