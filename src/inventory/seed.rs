//! Loads a seed (config/seed.toml) into an empty inventory through
//! the same operations an operator uses, so the seed obeys every rule.

use std::collections::HashMap;

use serde::Deserialize;

use super::import::BatchSpec;
use super::store::{StorageExt, WriteBatch};
use super::{invalid, Inventory, InventoryError};
use crate::model::*;

pub const EMBEDDED: &str = include_str!("../../config/seed.toml");
const SEEDED_KEY: &str = "meta/seeded";
/// The actor the seed's changes are audited under.
const SEED: &str = "seed";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub sponsor: Vec<Sponsor>,
    #[serde(default)]
    pub product: Vec<Product>,
    #[serde(default)]
    pub pool: Vec<EsimPool>,
    #[serde(default)]
    pub dynamic_pool: Vec<DynamicImsiPool>,
    #[serde(default)]
    pub hold_policy: Option<HoldPolicy>,
    #[serde(default)]
    pub batch: Vec<SeedBatch>,
    #[serde(default)]
    pub profiles: Vec<SeedProfiles>,
    #[serde(default)]
    pub dynamic_fill: Vec<SeedFill>,
    #[serde(default)]
    pub account: Vec<SeedAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedBatch {
    pub name: String,
    pub sponsor: String,
    pub first: String,
    pub count: u64,
    #[serde(default)]
    pub recycling: bool,
    #[serde(default)]
    pub end_of_life: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProfiles {
    pub pool: String,
    pub count: u64,
    pub iccid_prefix: String,
    #[serde(default = "one")]
    pub first_serial: u64,
    pub batches: Vec<String>,
    pub transport_key_label: String,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFill {
    pub pool: String,
    pub batch: String,
    pub count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAccount {
    pub product: String,
    pub msisdn: Option<String>,
}

pub fn parse(text: &str, file: &str) -> Result<Seed, InventoryError> {
    toml::from_str(text).map_err(|e| invalid(file, e.to_string().trim_end()))
}

/// Demo key material: a repeatable 128-bit hex string per ICCID and tag.
fn demo_hex(iccid: &str, tag: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ tag;
    let mut out = String::with_capacity(32);
    for round in 0..2u64 {
        for b in iccid.bytes().chain(round.to_le_bytes()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out += &format!("{h:016X}");
    }
    out
}

fn generated_imsis(first: &str, count: u64) -> Result<Vec<String>, InventoryError> {
    let start: u64 = first
        .parse()
        .map_err(|_| invalid("batch.first", format!("'{first}' is not an IMSI")))?;
    Ok((0..count)
        .map(|i| format!("{:0w$}", start + i, w = first.len()))
        .collect())
}

impl Inventory {
    pub fn is_seeded(&self) -> Result<bool, InventoryError> {
        Ok(self.store.exists(SEEDED_KEY)?)
    }

    /// Applies `seed` unless the inventory was seeded before.
    pub fn apply_seed(&self, seed: &Seed, file: &str) -> Result<bool, InventoryError> {
        if self.is_seeded()? {
            return Ok(false);
        }
        self.seed_catalogue(seed)?;
        let mut batches = HashMap::new();
        for b in &seed.batch {
            batches.insert(b.name.clone(), self.seed_batch(b, file)?.into_iter());
        }
        for p in &seed.profiles {
            let csv = profiles_csv(p, &mut batches)?;
            self.import_profiles(
                SEED,
                &p.pool,
                &format!("{file} [[profiles]] {}", p.pool),
                csv.as_bytes(),
                &|_| {},
            )?;
        }
        for f in &seed.dynamic_fill {
            self.fill_dynamic_pool(SEED, &f.pool, &f.batch, f.count)?;
        }
        for a in &seed.account {
            self.onboard(SEED, &a.product, a.msisdn.as_deref())?;
        }
        let mut b = WriteBatch::default();
        b.put(SEEDED_KEY, &file.to_string());
        self.commit(b)?;
        Ok(true)
    }

    /// The seed's sponsors, products, pools and hold policy.
    fn seed_catalogue(&self, seed: &Seed) -> Result<(), InventoryError> {
        for s in &seed.sponsor {
            self.define_sponsor(SEED, s)?;
        }
        for p in &seed.product {
            self.define_product(SEED, p)?;
        }
        for p in &seed.pool {
            self.define_pool(SEED, p)?;
        }
        for p in &seed.dynamic_pool {
            self.define_dynamic_pool(SEED, p)?;
        }
        if let Some(h) = &seed.hold_policy {
            self.set_hold_policy(SEED, h)?;
        }
        Ok(())
    }

    /// Imports one `[[batch]]` of consecutive IMSIs; the IMSIs, in order.
    fn seed_batch(&self, b: &SeedBatch, file: &str) -> Result<Vec<String>, InventoryError> {
        let imsis = generated_imsis(&b.first, b.count)?;
        let csv = imsis.join("\n");
        let spec = BatchSpec {
            sponsor: &b.sponsor,
            name: &b.name,
            recycling: b.recycling,
            end_of_life: b.end_of_life,
        };
        self.import_batch(
            SEED,
            &spec,
            &format!("{file} [[batch]] {}", b.name),
            csv.as_bytes(),
            &|_| {},
        )?;
        Ok(imsis)
    }
}

/// A `[[profiles]]` entry as the CSV an operator would import: one row per
/// profile, its IMSIs the next unused ones of its batches, its keys demo
/// material.
fn profiles_csv(
    p: &SeedProfiles,
    batches: &mut HashMap<String, std::vec::IntoIter<String>>,
) -> Result<String, InventoryError> {
    let mut csv = String::from("iccid,");
    for i in 1..=p.batches.len() {
        csv += &format!("imsi{i},");
    }
    csv += "ki,opc,pin1,puk1,pin2,puk2,transport_key_label\n";
    for serial in p.first_serial..p.first_serial + p.count {
        let payload = format!("{}{serial:08}", p.iccid_prefix);
        let iccid = format!("{payload}{}", luhn_digit(&payload));
        csv += &iccid;
        csv.push(',');
        for b in &p.batches {
            let next = batches.get_mut(b).and_then(|it| it.next()).ok_or_else(|| {
                invalid(
                    "profiles.batches",
                    format!("batch '{b}' has too few IMSIs for pool '{}'", p.pool),
                )
            })?;
            csv += &next;
            csv.push(',');
        }
        csv += &format!(
            "{},{},1111,11111111,2222,22222222,{}\n",
            demo_hex(&iccid, 1),
            demo_hex(&iccid, 2),
            p.transport_key_label
        );
    }
    Ok(csv)
}
