//! Profile orders in the store: creation reserves N×K IMSIs and takes
//! N never-reused ICCIDs in one commit with the order and its input file;
//! cancelling gives the IMSIs back; the Standard file's profiles land in the
//! pool in one commit; Perso rows are kept per ICCID. The files themselves
//! are written and parsed by `profilegen`: the caller hands the results in.

use std::collections::{BTreeMap, HashMap};

use super::compact::{view, ImsiW};
use super::store::{decode, StorageExt, StoreError, WriteBatch};
use super::{invalid, Conflict, Inventory, InventoryError};
use crate::model::order::*;
use crate::model::*;

const ORDER: &str = "order/";
const ORDER_INPUT: &str = "orderin/";
const ICCID_SEQ: &str = "meta/iccid_seq/";
/// Longest order: a file the SM-DP+ and this node handle in seconds.
pub const MAX_COUNT: u32 = 100_000;

pub(crate) fn order_key(id: u64) -> String {
    format!("{ORDER}{id:020}")
}

/// What an operator asks for (`gyro profiles generate`, `POST …/orders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub pool: String,
    pub count: u32,
    pub imsis_per_profile: usize,
    /// (position 1…K, batch name).
    pub batches: Vec<(usize, String)>,
    pub least_cost: bool,
    pub profit_guarantee: bool,
}

/// The node's `[profiles]` and `[smdp]` settings an order is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSettings {
    pub iccid_prefix: String,
    /// Total ICCID length, Luhn digit included (18–22).
    pub iccid_digits: usize,
    pub customer: String,
    pub transport_key: String,
}

/// Writes the input file of an order being created (rules and rows): given
/// the order, the pool's products and the positions' sponsors.
pub type InputWriter<'a> = dyn Fn(&Order, &[Product], &[Sponsor]) -> Result<String, String> + 'a;

impl Inventory {
    /// Creates an order; on any error nothing is reserved or numbered.
    pub fn create_order(
        &self,
        actor: &str,
        req: &OrderRequest,
        settings: &OrderSettings,
        write_input: &InputWriter<'_>,
    ) -> Result<Order, InventoryError> {
        let batches = positions(req)?;
        let _w = self.lock();
        let pool = self.pool(&req.pool)?;
        let batch_recs = self.order_batches(&pool, &batches)?;
        let sponsors = batch_recs
            .iter()
            .map(|b| self.sponsor(&b.sponsor))
            .collect::<Result<Vec<_>, _>>()?;
        let mut taken = self.take_imsis(&batches, req.count as usize)?;
        let (iccids, last_seq) = self.next_iccids(settings, req.count as usize)?;
        let id = self.store.next_id()?;
        let profiles = iccids
            .into_iter()
            .map(|iccid| OrderProfile {
                iccid,
                imsis: batches
                    .iter()
                    .map(|b| taken.get_mut(b).and_then(|l| l.pop()).unwrap_or_default())
                    .collect(),
            })
            .collect();
        let order = Order {
            id,
            pool: pool.name.clone(),
            imsis_per_profile: batches.len() as u8,
            batches: batches.clone(),
            sponsors: batch_recs.iter().map(|b| b.sponsor.clone()).collect(),
            least_cost: req.least_cost,
            profit_guarantee: req.profit_guarantee,
            customer: settings.customer.clone(),
            transport_key: settings.transport_key.clone(),
            file: format!("gyro-order-{id}.txt"),
            created_at: self.now(),
            actor: actor.into(),
            state: OrderState::Created,
            perso: false,
            rejections: vec![],
            profiles,
        };
        let products = self.pool_products(&pool)?;
        let input = write_input(&order, &products, &sponsors).map_err(|m| invalid("rules", m))?;
        let mut b = WriteBatch::default();
        b.put(order_key(id), &order);
        b.put(format!("{ORDER_INPUT}{id:020}"), &input);
        b.put(format!("{ICCID_SEQ}{}", settings.iccid_prefix), &last_seq);
        let mut reserved = Vec::with_capacity(order.profiles.len() * batches.len());
        for p in &order.profiles {
            for (slot, imsi) in p.imsis.iter().enumerate() {
                let rec = Imsi {
                    imsi: imsi.clone(),
                    batch: batches[slot].clone(),
                    sponsor: order.sponsors[slot].clone(),
                    state: ImsiState::Reserved { order: id },
                };
                b.put(format!("imsi/{imsi}"), &rec);
                reserved.push(rec);
            }
        }
        let summary = serde_json::json!({"id": id, "count": req.count, "batches": batches});
        self.audit(
            &mut b,
            actor,
            "order-profiles",
            &pool.name,
            None,
            Some(summary),
        )?;
        self.commit(b)?;
        for r in &reserved {
            self.index.put_imsi(r);
        }
        Ok(order)
    }

    /// The batch records of the positions, checked against the pool's layout.
    fn order_batches(
        &self,
        pool: &EsimPool,
        batches: &[String],
    ) -> Result<Vec<ImsiBatch>, InventoryError> {
        if !pool.layout.is_empty() && pool.layout.len() != batches.len() {
            return Err(invalid(
                "imsis_per_profile",
                format!(
                    "pool '{}' has {} IMSI positions ({}); the order has {}",
                    pool.name,
                    pool.layout.len(),
                    pool.layout.join(", "),
                    batches.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(batches.len());
        for (i, name) in batches.iter().enumerate() {
            let b: ImsiBatch = self.store.get(&format!("batch/{name}"))?.ok_or_else(|| {
                InventoryError::NotFound {
                    what: "batch",
                    id: name.clone(),
                }
            })?;
            if let Some(want) = pool.layout.get(i) {
                if &b.sponsor != want {
                    return Err(invalid(
                        &format!("batch {}", i + 1),
                        format!(
                            "batch '{name}' is of sponsor '{}'; position {} of pool '{}' takes sponsor '{want}'",
                            b.sponsor,
                            i + 1,
                            pool.name
                        ),
                    ));
                }
            }
            if b.end_of_life {
                return Err(invalid(
                    &format!("batch {}", i + 1),
                    format!("batch '{name}' is at end of life"),
                ));
            }
            out.push(b);
        }
        Ok(out)
    }

    /// `count` available IMSIs per use of each batch, highest last (they are
    /// popped), in one pass over the IMSIs.
    fn take_imsis(
        &self,
        batches: &[String],
        count: usize,
    ) -> Result<HashMap<String, Vec<String>>, InventoryError> {
        let mut need: BTreeMap<&str, usize> = BTreeMap::new();
        for b in batches {
            *need.entry(b.as_str()).or_default() += count;
        }
        let mut got: HashMap<String, Vec<String>> = HashMap::new();
        let mut open = need.len();
        self.store.visit(b"imsi/", &mut |k, v| {
            let (imsi, batch) = match view::<ImsiW>(k, v)? {
                Some(w) if !matches!(w.state, super::compact::ImsiStateW::Available) => {
                    return Ok(())
                }
                Some(w) => (w.imsi.to_string(), w.batch.to_string()),
                None => {
                    let i: Imsi = decode(k, v)?;
                    if i.state != ImsiState::Available {
                        return Ok(());
                    }
                    (i.imsi, i.batch)
                }
            };
            let Some(&n) = need.get(batch.as_str()) else {
                return Ok(());
            };
            let list = got.entry(batch).or_default();
            if list.len() < n {
                list.push(imsi);
                if list.len() == n {
                    open -= 1;
                    if open == 0 {
                        return Err(StoreError::Stop);
                    }
                }
            }
            Ok(())
        })?;
        for (b, n) in need {
            let have = got.get(b).map_or(0, Vec::len);
            if have < n {
                return Err(Conflict::BatchShort {
                    batch: b.into(),
                    available: have,
                    needed: n,
                }
                .into());
            }
        }
        for list in got.values_mut() {
            list.reverse();
        }
        Ok(got)
    }

    /// `count` fresh ICCIDs after the prefix's sequence, skipping any that
    /// is in the inventory already; and the sequence's new value.
    fn next_iccids(
        &self,
        s: &OrderSettings,
        count: usize,
    ) -> Result<(Vec<String>, u64), InventoryError> {
        let width = iccid_serial_width(&s.iccid_prefix, s.iccid_digits)?;
        let mut seq: u64 = self
            .store
            .get(&format!("{ICCID_SEQ}{}", s.iccid_prefix))?
            .unwrap_or(0);
        let limit = 10u64.saturating_pow(width as u32);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            seq += 1;
            if seq >= limit {
                let prefix = s.iccid_prefix.clone();
                return Err(Conflict::IccidSerialsUsedUp { prefix, width }.into());
            }
            let payload = format!("{}{seq:0width$}", s.iccid_prefix);
            let iccid = format!("{payload}{}", luhn_digit(&payload));
            if !self.store.exists(&format!("profile/{iccid}"))? {
                out.push(iccid);
            }
        }
        Ok((out, seq))
    }

    fn pool_products(&self, pool: &EsimPool) -> Result<Vec<Product>, InventoryError> {
        pool.products
            .iter()
            .map(|p| {
                self.store
                    .get(&format!("product/{}", p.product))?
                    .ok_or_else(|| InventoryError::NotFound {
                        what: "product",
                        id: p.product.clone(),
                    })
            })
            .collect()
    }

    pub fn order(&self, id: u64) -> Result<Order, InventoryError> {
        self.store
            .get(&order_key(id))?
            .ok_or_else(|| InventoryError::NotFound {
                what: "order",
                id: id.to_string(),
            })
    }

    /// Every order, oldest first.
    pub fn orders(&self) -> Result<Vec<Order>, InventoryError> {
        Ok(self.store.scan(ORDER)?)
    }

    /// The input file written when the order was created.
    pub fn order_input(&self, id: u64) -> Result<String, InventoryError> {
        self.store
            .get(&format!("{ORDER_INPUT}{id:020}"))?
            .ok_or_else(|| InventoryError::NotFound {
                what: "order input file",
                id: id.to_string(),
            })
    }

    /// Cancels an open order: its IMSIs are available again.
    pub fn cancel_order(&self, actor: &str, id: u64) -> Result<Order, InventoryError> {
        let _w = self.lock();
        let mut order = self.open_order(id)?;
        let mut b = WriteBatch::default();
        let mut released = vec![];
        for p in &order.profiles {
            for imsi in &p.imsis {
                match self.imsi(imsi)? {
                    Some(mut rec) if rec.state == (ImsiState::Reserved { order: id }) => {
                        rec.state = ImsiState::Available;
                        b.put(format!("imsi/{imsi}"), &rec);
                        released.push(rec);
                    }
                    _ => {}
                }
            }
        }
        order.state = OrderState::Cancelled {
            cancelled_at: self.now(),
        };
        b.put(order_key(id), &order);
        let after = serde_json::json!({"released": released.len()});
        self.audit(
            &mut b,
            actor,
            "cancel-order",
            &id.to_string(),
            None,
            Some(after),
        )?;
        self.commit(b)?;
        for r in &released {
            self.index.put_imsi(r);
        }
        Ok(order)
    }

    pub(crate) fn open_order(&self, id: u64) -> Result<Order, InventoryError> {
        let order = self.order(id)?;
        if !order.state.is_open() {
            let state = order.state.name();
            return Err(Conflict::OrderClosed { order: id, state }.into());
        }
        Ok(order)
    }

    /// The input file is on the SM-DP+'s server.
    pub fn order_sent(&self, id: u64) -> Result<Order, InventoryError> {
        let _w = self.lock();
        let mut order = self.open_order(id)?;
        if order.state == OrderState::Created {
            order.state = OrderState::Sent {
                sent_at: self.now(),
            };
            let mut b = WriteBatch::default();
            b.put(order_key(id), &order);
            self.commit(b)?;
        }
        Ok(order)
    }

    /// Notes a rejected output file on the order, which stays open.
    pub fn order_rejected(
        &self,
        id: u64,
        file: &str,
        faults: usize,
        first: Vec<String>,
    ) -> Result<Order, InventoryError> {
        let _w = self.lock();
        let mut order = self.open_order(id)?;
        let at = self.now();
        order.state = OrderState::Rejected { rejected_at: at };
        order.rejections.push(Rejection {
            at,
            file: file.into(),
            faults,
            first,
        });
        let excess = order.rejections.len().saturating_sub(KEPT_REJECTIONS);
        order.rejections.drain(..excess);
        let mut b = WriteBatch::default();
        b.put(order_key(id), &order);
        self.commit(b)?;
        Ok(order)
    }
}

/// The batch of each position 1…K, checked: K in 1–10, each once.
fn positions(req: &OrderRequest) -> Result<Vec<String>, InventoryError> {
    let k = req.imsis_per_profile;
    if !(1..=10).contains(&k) {
        return Err(invalid(
            "imsis_per_profile",
            format!("{k}: must be 1 to 10"),
        ));
    }
    if req.count == 0 || req.count > MAX_COUNT {
        return Err(invalid(
            "count",
            format!("{}: must be 1 to {MAX_COUNT}", req.count),
        ));
    }
    let mut out: Vec<Option<String>> = vec![None; k];
    for (pos, name) in &req.batches {
        match out.get_mut(pos.wrapping_sub(1)) {
            None => {
                return Err(invalid(
                    "batch",
                    format!("position {pos}: must be 1 to {k} (the IMSIs per profile)"),
                ))
            }
            Some(Some(_)) => return Err(invalid("batch", format!("position {pos} given twice"))),
            Some(slot) => *slot = Some(name.clone()),
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, b)| b.ok_or_else(|| invalid("batch", format!("no batch for position {}", i + 1))))
        .collect()
}

/// Digits of the serial between the prefix and the Luhn digit.
pub fn iccid_serial_width(prefix: &str, digits: usize) -> Result<usize, InventoryError> {
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "profiles.iccid_prefix",
            format!("'{prefix}': must be digits"),
        ));
    }
    if !(18..=22).contains(&digits) {
        return Err(invalid(
            "profiles.iccid_digits",
            format!("{digits}: must be 18 to 22"),
        ));
    }
    match digits.checked_sub(prefix.len() + 1) {
        Some(w) if w >= 1 => Ok(w),
        _ => Err(invalid(
            "profiles.iccid_prefix",
            format!("'{prefix}' leaves no serial digits in a {digits}-digit ICCID"),
        )),
    }
}
