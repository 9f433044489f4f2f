//! The catalogue: sponsors, products, eSIM pools, dynamic IMSI pools and
//! the hold policy. Each definition is one audited commit; the resolver's
//! catalogue is refreshed after it, keeping every known item at its
//! position, since index entries hold catalogue positions.

use super::store::{Record, StorageExt, WriteBatch};
use super::{invalid, Inventory, InventoryError};
use crate::model::*;
use crate::resolver::index::Catalog;

impl Inventory {
    pub fn define_sponsor(&self, actor: &str, s: &Sponsor) -> Result<(), InventoryError> {
        if s.id.is_empty() {
            return Err(invalid("id", "must not be empty"));
        }
        if s.plmns.is_empty()
            || s.plmns
                .iter()
                .any(|p| !(5..=6).contains(&p.len()) || !p.bytes().all(|c| c.is_ascii_digit()))
        {
            return Err(invalid(
                "plmns",
                "each entry is MCC+MNC, 5 or 6 digits (\"26201\")",
            ));
        }
        if let Some(t) = &s.translation {
            if !s
                .plmns
                .iter()
                .any(|p| t.sponsor_prefix.starts_with(p.as_str()))
            {
                return Err(invalid(
                    "translation.sponsor_prefix",
                    "must lie inside the sponsor's plmns",
                ));
            }
        }
        self.put_catalog(actor, "sponsor", &s.id, s)
    }

    pub fn define_product(&self, actor: &str, p: &Product) -> Result<(), InventoryError> {
        if p.name.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if let Some(bad) = p
            .rate_codes
            .iter()
            .find(|c| crate::model::RateCode::parse(c).is_err())
        {
            return Err(invalid(
                "rate_codes",
                format!("'{bad}' is not a rate code like E212-262-01"),
            ));
        }
        self.put_catalog(actor, "product", &p.name, p)
    }

    pub fn define_pool(&self, actor: &str, p: &EsimPool) -> Result<(), InventoryError> {
        self.check_products(p.products.iter().map(|x| x.product.as_str()))?;
        if p.layout.len() > 10 {
            return Err(invalid("layout", "at most 10 IMSI positions"));
        }
        for s in &p.layout {
            if !self.store.exists(&format!("sponsor/{s}"))? {
                return Err(InventoryError::NotFound {
                    what: "sponsor",
                    id: s.clone(),
                });
            }
        }
        self.put_catalog(actor, "pool", &p.name, p)
    }

    pub fn define_dynamic_pool(
        &self,
        actor: &str,
        p: &DynamicImsiPool,
    ) -> Result<(), InventoryError> {
        self.check_products(p.products.iter().map(String::as_str))?;
        self.put_catalog(actor, "dynpool", &p.name, p)
    }

    pub fn set_hold_policy(&self, actor: &str, h: &HoldPolicy) -> Result<(), InventoryError> {
        self.put_catalog(actor, "policy", "hold", h)
    }

    /// Writes one definition with its audit record, and refreshes the
    /// resolver's catalogue.
    fn put_catalog<T: Record>(
        &self,
        actor: &str,
        kind: &str,
        id: &str,
        value: &T,
    ) -> Result<(), InventoryError> {
        let _g = self.lock();
        let key = format!("{kind}/{id}");
        let before: Option<serde_json::Value> = self.store.get(&key)?;
        let mut b = WriteBatch::default();
        b.put(key, value);
        self.audit(
            &mut b,
            actor,
            &format!("define-{kind}"),
            id,
            before,
            serde_json::to_value(value).ok(),
        )?;
        self.commit(b)?;
        self.refresh_catalog()
    }

    fn check_products<'a>(
        &self,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), InventoryError> {
        for n in names {
            if !self.store.exists(&format!("product/{n}"))? {
                return Err(InventoryError::NotFound {
                    what: "product",
                    id: n.into(),
                });
            }
        }
        Ok(())
    }

    /// Publishes the catalogue as the store has it to the resolver.
    pub(crate) fn refresh_catalog(&self) -> Result<(), InventoryError> {
        // Index entries hold catalogue positions: a definition may add to the
        // catalogue but must not move what is already in it.
        let old = self.index.catalog();
        // Known items keep their position; new ones follow in key order.
        fn in_old_order<T>(mut items: Vec<T>, position: impl Fn(&T) -> Option<u16>) -> Vec<T> {
            items.sort_by_key(|x| position(x).unwrap_or(u16::MAX));
            items
        }
        let sponsors = in_old_order(self.store.scan::<Sponsor>("sponsor/")?, |s| {
            old.sponsor_index(&s.id)
        });
        let products = in_old_order(self.store.scan::<Product>("product/")?, |p| {
            old.product_index(&p.name)
        });
        let pools = self.store.scan::<EsimPool>("pool/")?;
        let pools = in_old_order(pools.into_iter().map(|p| p.name).collect(), |p| {
            old.pool_index(p)
        });
        let dynamic = self.store.scan::<DynamicImsiPool>("dynpool/")?;
        let dynamic = in_old_order(dynamic.into_iter().map(|p| p.name).collect(), |p| {
            old.dynamic_pool_index(p)
        });
        self.index
            .set_catalog(Catalog::new(sponsors, products).with_pools(pools, dynamic));
        Ok(())
    }

    pub fn sponsor(&self, id: &str) -> Result<Sponsor, InventoryError> {
        self.store
            .get(&format!("sponsor/{id}"))?
            .ok_or(InventoryError::NotFound {
                what: "sponsor",
                id: id.into(),
            })
    }

    pub(crate) fn product_record(&self, name: &str) -> Result<Product, InventoryError> {
        self.store
            .get(&format!("product/{name}"))?
            .ok_or_else(|| InventoryError::NotFound {
                what: "product",
                id: name.into(),
            })
    }

    pub fn pool(&self, name: &str) -> Result<EsimPool, InventoryError> {
        self.store
            .get(&format!("pool/{name}"))?
            .ok_or_else(|| InventoryError::NotFound {
                what: "pool",
                id: name.into(),
            })
    }

    pub fn pools(&self) -> Result<Vec<EsimPool>, InventoryError> {
        Ok(self.store.scan("pool/")?)
    }

    pub fn dynamic_pools(&self) -> Result<Vec<DynamicImsiPool>, InventoryError> {
        Ok(self.store.scan("dynpool/")?)
    }

    pub fn products(&self) -> Result<Vec<Product>, InventoryError> {
        Ok(self.store.scan("product/")?)
    }
}
