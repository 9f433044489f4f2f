//! What the inventory's unit tests share: the embedded seed loaded into a
//! temporary store, the seed's products and accounts, and the story's
//! Albania swap order.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::ota_swap::{NewImsi, SwapOrder};
use super::seed;
use super::store::SledStore;
use super::Inventory;
use crate::model::clock::NodeClock;
use crate::model::event::Event;
use crate::model::{Account, Profile};

pub const EU30: &str = "EU Neighbour - Andorra 30-Day Pass";
pub const EU7: &str = "EU Neighbour - Andorra 7-Day Pass";
pub const BALKAN: &str = "Balkan Traveller 10-Day Pass";
pub const WORLD: &str = "World Traveller 30-Day Pass";
pub const DAY: i64 = 86_400;

/// A temporary inventory with the embedded seed applied.
pub fn seeded() -> Inventory {
    let inv = Inventory::open(Arc::new(SledStore::temporary().unwrap())).unwrap();
    apply_seed(&inv, "seed");
    inv
}

/// `seeded` on a test clock, set before the seed so that its records'
/// times are the clock's.
pub fn seeded_on_test_clock(file: &str) -> (Inventory, Arc<NodeClock>) {
    let mut inv = Inventory::open(Arc::new(SledStore::temporary().unwrap())).unwrap();
    let clock = Arc::new(NodeClock::test());
    inv.set_clock(clock.clone());
    apply_seed(&inv, file);
    (inv, clock)
}

fn apply_seed(inv: &Inventory, file: &str) {
    let s = seed::parse(seed::EMBEDDED, file).unwrap();
    assert!(inv.apply_seed(&s, file).unwrap());
}

/// The seed's account on `product` (it has one on EU 30-Day and one on
/// Balkan).
pub fn account_on(inv: &Inventory, product: &str) -> Account {
    (1..100)
        .find_map(|id| inv.account(id).unwrap().filter(|a| a.product == product))
        .unwrap()
}

/// The profile `a` runs on.
pub fn profile_of(inv: &Inventory, a: &Account) -> Profile {
    inv.profile(a.profile.as_deref().unwrap()).unwrap().unwrap()
}

/// Every event in the outbox, oldest first.
pub fn events(inv: &Inventory) -> Vec<Event> {
    inv.events_after(0, 10_000).unwrap()
}

/// The account the resolver charges `imsi` to now, if any.
pub fn resolves_to(inv: &Inventory, imsi: &str) -> Option<u64> {
    let r = inv.index().resolve_imsi(imsi, None, inv.now());
    r.ok().map(|s| s.account)
}

/// The story's Albania order: slot 2 to a W IMSI of "dynamic W".
pub fn to_w(p: &Profile) -> SwapOrder {
    SwapOrder {
        iccid: p.iccid.clone(),
        slot: 2,
        old_imsi: p.imsis[1].clone(),
        new: NewImsi::FromPool {
            pool: "dynamic W".into(),
            sponsor: "partner-w".into(),
        },
        mcc: "276".into(),
        old_price: Some(Decimal::new(3, 1)),
        new_price: Decimal::new(2, 1),
    }
}
