//! The catalogue the resolver reads on every request: sponsors and products
//! by small index, each product's rate codes parsed once, and the Origin-Hosts
//! of sponsors' proxies. Small and rarely changed, so it is published whole
//! through `arc-swap`.

use rustc_hash::FxHashMap as HashMap;

use crate::model::RateCode;
use crate::model::{Product, Sponsor};

/// Sponsors and products by small index, and proxy Origin-Hosts.
#[derive(Debug, Default)]
pub struct Catalog {
    pub sponsors: Vec<Sponsor>,
    pub products: Vec<Product>,
    sponsor_ids: HashMap<String, u16>,
    product_ids: HashMap<String, u16>,
    /// Each product's rate codes, parsed once rather than per request.
    product_codes: Vec<Vec<RateCode>>,
    origin_hosts: HashMap<String, u16>,
    /// Per sponsor: the operator prefix its proxy writes and, as a number,
    /// the sponsor prefix it stands for.
    translations: Vec<Option<(String, u64)>>,
    /// eSIM pools and dynamic IMSI pools by small index, for the rows and
    /// IMSI entries that name one.
    pub pools: Vec<String>,
    pub dynamic_pools: Vec<String>,
    pool_ids: HashMap<String, u16>,
    dynamic_pool_ids: HashMap<String, u16>,
}

fn ids(names: &[String]) -> HashMap<String, u16> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i as u16))
        .collect()
}

impl Catalog {
    pub fn new(sponsors: Vec<Sponsor>, products: Vec<Product>) -> Catalog {
        let mut c = Catalog {
            sponsor_ids: sponsors
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i as u16))
                .collect(),
            product_ids: products
                .iter()
                .enumerate()
                .map(|(i, p)| (p.name.clone(), i as u16))
                .collect(),
            ..Catalog::default()
        };
        for (i, s) in sponsors.iter().enumerate() {
            for h in &s.proxy_origin_hosts {
                c.origin_hosts.insert(h.to_ascii_lowercase(), i as u16);
            }
        }
        // Rate codes that do not parse were refused when the product was
        // defined; here they simply cover nothing.
        c.product_codes = products
            .iter()
            .map(|p| {
                p.rate_codes
                    .iter()
                    .filter_map(|r| RateCode::parse(r).ok())
                    .collect()
            })
            .collect();
        c.translations = sponsors
            .iter()
            .map(|s| {
                let t = s.translation.as_ref()?;
                Some((t.operator_prefix.clone(), t.sponsor_prefix.parse().ok()?))
            })
            .collect();
        c.sponsors = sponsors;
        c.products = products;
        c
    }
    /// Adds the names of the eSIM pools and dynamic IMSI pools.
    pub fn with_pools(mut self, pools: Vec<String>, dynamic_pools: Vec<String>) -> Catalog {
        self.pool_ids = ids(&pools);
        self.dynamic_pool_ids = ids(&dynamic_pools);
        self.pools = pools;
        self.dynamic_pools = dynamic_pools;
        self
    }
    pub fn pool_index(&self, name: &str) -> Option<u16> {
        self.pool_ids.get(name).copied()
    }
    pub fn dynamic_pool_index(&self, name: &str) -> Option<u16> {
        self.dynamic_pool_ids.get(name).copied()
    }
    /// The IMSI that `imsi`, as sponsor `sponsor`'s proxy presents it,
    /// stands for: arithmetic, not string building, as it runs per request.
    pub fn untranslate(&self, sponsor: u16, imsi: &str) -> Option<u64> {
        let (operator, prefix) = self.translations.get(sponsor as usize)?.as_ref()?;
        let rest = imsi.strip_prefix(operator.as_str())?;
        let digits = if rest.is_empty() {
            0
        } else {
            super::index::digits_u64(rest)?
        };
        prefix
            .checked_mul(10u64.checked_pow(rest.len() as u32)?)?
            .checked_add(digits)
    }
    pub fn product_rate_codes(&self, product: u16) -> &[RateCode] {
        self.product_codes
            .get(product as usize)
            .map_or(&[], Vec::as_slice)
    }
    pub fn sponsor_index(&self, id: &str) -> Option<u16> {
        self.sponsor_ids.get(id).copied()
    }
    pub fn product_index(&self, name: &str) -> Option<u16> {
        self.product_ids.get(name).copied()
    }
    /// The sponsor whose Gy/Ro proxy this is.
    pub fn sponsor_by_origin_host(&self, host: &str) -> Option<u16> {
        if let Some(&i) = self.origin_hosts.get(host) {
            return Some(i);
        }
        self.origin_hosts.get(&host.to_ascii_lowercase()).copied()
    }
}
