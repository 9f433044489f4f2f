//! The least-cost swap decision for dynamic IMSIs, pure: a profile's IMSIs, the IMSIs
//! on hold for its subscriber and the cheapest stock of the product's dynamic
//! pools come in with the visited country (MCC); a [`Decision`] comes out,
//! with every candidate's price there, whether the dynamic slot is swapped or
//! not. No I/O, no clock, no store: the webhook intake records the decision
//! and the OTA side carries out a swap.
//!
//! The SIM applet picks the network per MCC, so an IMSI's price in a country
//! is its sponsor's cheapest tariffed network there, in the reporting
//! currency. A [`PriceBook`] holds exactly that, computed once per rating, so
//! that deciding is a few look-ups.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::Plmn;
use crate::model::Sponsor;
use crate::rating::Rating;

/// Where a candidate IMSI would come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Embedded in the profile already, in this slot (1-based).
    Profile { slot: u8 },
    /// On hold for this subscriber (a former IMSI of the profile).
    Held,
    /// Available in this dynamic pool of the product.
    Pool { pool: String },
}

impl Source {
    /// Order of preference at equal price: no swap, then the subscriber's
    /// own held IMSI, then fresh stock.
    fn rank(&self) -> u8 {
        match self {
            Source::Profile { .. } => 0,
            Source::Held => 1,
            Source::Pool { .. } => 2,
        }
    }
}

/// One IMSI that could serve the subscriber in the visited country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub imsi: String,
    /// Sponsor id (`crate::model::Sponsor::id`).
    pub sponsor: String,
    pub source: Source,
}

/// What [`decide`] is asked about.
#[derive(Clone, Copy)]
pub struct DecisionInput<'a> {
    pub iccid: &'a str,
    /// The visited country's MCC, 3 digits.
    pub mcc: &'a str,
    /// Every slot of the profile, each IMSI on hold for the subscriber, and
    /// one IMSI per (dynamic pool, sponsor) that has stock.
    pub candidates: &'a [Candidate],
    /// The networks the subscriber's bundle covers: an IMSI is priced in
    /// the country only through those.
    pub covers: &'a dyn Fn(Plmn) -> bool,
}

/// A candidate with its price in the visited country.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    pub imsi: String,
    pub sponsor: String,
    pub source: Source,
    /// The network the applet would pick ("MCC MNC" digits); None when the
    /// IMSI does not cover the country.
    #[serde(serialize_with = "plmn_out", deserialize_with = "plmn_in")]
    pub network: Option<Plmn>,
    /// Per GB in the reporting currency; 0 on the sponsor's home network.
    pub price: Option<Decimal>,
}

/// Why the profile stays as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepReason {
    /// A profile IMSI is as cheap as any candidate.
    Cheapest,
    /// No candidate covers the country.
    NoCoverage,
    /// A cheaper IMSI exists, but the profile has no dynamic slot.
    SingleSlot,
    /// A cheaper IMSI exists, but it saves less than `[ota] min_saving`.
    SavingTooSmall,
}

/// What to do with the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Keep {
        reason: KeepReason,
    },
    /// Replace the IMSI of `slot` (the dynamic slot) with `new`.
    Swap {
        slot: u8,
        old_imsi: String,
        new: Candidate,
        /// The replaced IMSI's price there; None when it does not cover it.
        old_price: Option<Decimal>,
        /// The profile's cheapest covering price before the swap, which the
        /// saving is measured against; None when no profile IMSI covers.
        profile_price: Option<Decimal>,
        new_price: Decimal,
    },
}

/// The answer for one profile in one country, swap or not, with its prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub iccid: String,
    pub mcc: String,
    /// The candidates in the order they were given.
    pub priced: Vec<Priced>,
    pub action: Action,
}

/// A sponsor's cheapest network in one country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cheapest {
    pub network: Plmn,
    /// Per GB in the reporting currency.
    pub price: Decimal,
}

/// Sponsor → MCC → cheapest network and price, in the reporting currency,
/// built once per rating (and again when the rating reloads).
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    /// Sorted by MCC: a sponsor prices a handful of countries, so a binary
    /// search beats hashing the MCC.
    /// Per sponsor, per MCC: its networks there, cheapest first.
    by_sponsor: FxHashMap<String, Vec<(u16, Vec<Cheapest>)>>,
    unconvertible: Vec<String>,
}

impl PriceBook {
    pub fn new(rating: &Rating, sponsors: &[Sponsor]) -> PriceBook {
        let mut book = PriceBook::default();
        for s in sponsors {
            let mut by_mcc: FxHashMap<u16, Vec<Cheapest>> = FxHashMap::default();
            let mut convertible = true;
            for plmn in rating.tariffed(&s.id) {
                let Some(price) = rating.price_in_reporting(&s.id, &s.currency, plmn) else {
                    convertible = false;
                    continue;
                };
                by_mcc.entry(plmn.mcc()).or_default().push(Cheapest {
                    network: plmn,
                    price,
                });
            }
            if !convertible {
                book.unconvertible.push(s.id.clone());
                continue;
            }
            for home in s.plmns.iter().filter_map(|p| Plmn::parse(p).ok()) {
                let there = by_mcc.entry(home.mcc()).or_default();
                if !there.iter().any(|c| c.network == home) {
                    there.push(Cheapest {
                        network: home,
                        price: Decimal::ZERO,
                    });
                }
            }
            let mut v: Vec<(u16, Vec<Cheapest>)> = by_mcc.into_iter().collect();
            for (_, networks) in &mut v {
                networks.sort_by_key(|c| (c.price, c.network));
            }
            v.sort_unstable_by_key(|(mcc, _)| *mcc);
            book.by_sponsor.insert(s.id.clone(), v);
        }
        book
    }

    /// The sponsor's cheapest network in country `mcc`.
    pub fn cheapest(&self, sponsor: &str, mcc: u16) -> Option<Cheapest> {
        self.cheapest_covered(sponsor, mcc, &|_| true)
    }

    /// The sponsor's cheapest network in country `mcc` among those `covers`
    /// takes (the subscriber's bundle): the applet picks the network, but a
    /// network the bundle does not cover would refuse the subscriber's data.
    pub fn cheapest_covered(
        &self,
        sponsor: &str,
        mcc: u16,
        covers: &dyn Fn(Plmn) -> bool,
    ) -> Option<Cheapest> {
        let v = self.by_sponsor.get(sponsor)?;
        let i = v.binary_search_by_key(&mcc, |(m, _)| *m).ok()?;
        v[i].1.iter().copied().find(|c| covers(c.network))
    }

    pub fn unconvertible(&self) -> &[String] {
        &self.unconvertible
    }
}

/// Parses the 3-digit MCC; anything else covers nothing.
fn parse_mcc(mcc: &str) -> Option<u16> {
    let b = mcc.as_bytes();
    if b.len() != 3 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0')))
}

/// Decides whether the profile's dynamic slot should take another IMSI in the
/// visited country. The best candidate is the cheapest, a profile IMSI before
/// a held one before a pool one at equal price (then the order given). It is
/// swapped in only when it is not in the profile and beats the profile's
/// cheapest covering IMSI by more than nothing and at least `min_saving`, or
/// when no profile IMSI covers the country. The dynamic slot is the profile's
/// last; a profile of one slot never swaps.
pub fn decide(input: &DecisionInput, book: &PriceBook, min_saving: Decimal) -> Decision {
    let mcc = parse_mcc(input.mcc);
    let priced: Vec<Priced> = input
        .candidates
        .iter()
        .map(|c| {
            let found = mcc.and_then(|m| book.cheapest_covered(&c.sponsor, m, input.covers));
            Priced {
                imsi: c.imsi.clone(),
                sponsor: c.sponsor.clone(),
                source: c.source.clone(),
                network: found.map(|f| f.network),
                price: found.map(|f| f.price),
            }
        })
        .collect();
    let action = choose(input.candidates, &priced, min_saving);
    Decision {
        iccid: input.iccid.to_string(),
        mcc: input.mcc.to_string(),
        priced,
        action,
    }
}

/// The rule itself, over the priced candidates (same order as `candidates`).
fn choose(candidates: &[Candidate], priced: &[Priced], min_saving: Decimal) -> Action {
    let keep = |reason| Action::Keep { reason };
    let mut best: Option<(usize, Decimal)> = None;
    let mut profile_price: Option<Decimal> = None;
    // The dynamic slot: the highest slot number, once there are two slots.
    let mut dynamic: Option<(usize, u8)> = None;
    let mut slots = 0usize;
    for (i, p) in priced.iter().enumerate() {
        if let Source::Profile { slot } = p.source {
            slots += 1;
            if dynamic.is_none_or(|(_, s)| slot > s) {
                dynamic = Some((i, slot));
            }
            if let Some(price) = p.price {
                profile_price = Some(profile_price.map_or(price, |b| b.min(price)));
            }
        }
        let Some(price) = p.price else { continue };
        let better = best.is_none_or(|(b, bp)| {
            price < bp || (price == bp && p.source.rank() < priced[b].source.rank())
        });
        if better {
            best = Some((i, price));
        }
    }
    let Some((b, new_price)) = best else {
        return keep(KeepReason::NoCoverage);
    };
    if priced[b].source.rank() == 0 {
        return keep(KeepReason::Cheapest);
    }
    let Some((d, slot)) = dynamic.filter(|_| slots >= 2) else {
        return keep(KeepReason::SingleSlot);
    };
    if let Some(pp) = profile_price {
        // At equal price a profile IMSI wins, so here new_price < pp.
        if pp - new_price < min_saving {
            return keep(KeepReason::SavingTooSmall);
        }
    }
    Action::Swap {
        slot,
        old_imsi: priced[d].imsi.clone(),
        new: candidates[b].clone(),
        old_price: priced[d].price,
        profile_price,
        new_price,
    }
}

fn plmn_out<S: Serializer>(p: &Option<Plmn>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.collect_str(p),
        None => s.serialize_none(),
    }
}

fn plmn_in<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Plmn>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|t| Plmn::parse(&t).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests;
