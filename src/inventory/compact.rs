//! The compact store encoding (format version 2) of the records kept by the
//! million: IMSIs, profiles and accounts. postcard over mirror types whose
//! enums are plainly tagged (the model's flattened, internally tagged JSON
//! layout needs a self-describing format). A rebuild of 10 M profiles reads
//! about a third of the octets it would read as JSON and decodes each record
//! without parsing text.
//!
//! The layout is positional: fields and enum variants are only ever
//! appended, and a change that cannot be appended takes a new version byte.
//! JSON records (version 1) written by earlier releases stay readable.

use serde::{Deserialize, Serialize};

use super::store::{corrupt, decode_json, Record, StoreError, COMPACT, JSON};
use crate::model::*;

fn text(s: &str) -> &str {
    s
}

fn encode<T: Serialize>(w: &T, out: &mut Vec<u8>) {
    out.push(COMPACT);
    // Serialising into a growable buffer cannot fail.
    let buf = postcard::to_extend(w, std::mem::take(out)).expect("compact records serialise");
    *out = buf;
}

/// Version dispatch shared by the compact records.
fn decode<'a, W, T>(key: &[u8], v: &'a [u8], into: impl FnOnce(W) -> T) -> Result<T, StoreError>
where
    W: Deserialize<'a>,
    T: serde::de::DeserializeOwned,
{
    match v.split_first() {
        Some((&COMPACT, rest)) => postcard::from_bytes::<W>(rest)
            .map(into)
            .map_err(|e| corrupt(key, format!("compact record: {e}"))),
        Some((&JSON, rest)) => decode_json(key, rest),
        Some((other, _)) => Err(corrupt(key, format!("unknown format version {other}"))),
        None => Err(corrupt(key, "empty value".into())),
    }
}

/// The compact form of a stored record, borrowed from the store's bytes, or
/// `None` for a JSON (version 1) record: the rebuild reads millions of them
/// and copies nothing it does not keep.
pub(crate) fn view<'a, W: Deserialize<'a>>(
    key: &[u8],
    v: &'a [u8],
) -> Result<Option<W>, StoreError> {
    match v.split_first() {
        Some((&COMPACT, rest)) => postcard::from_bytes(rest)
            .map(Some)
            .map_err(|e| corrupt(key, format!("compact record: {e}"))),
        _ => Ok(None),
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ImsiW<'a> {
    pub(crate) imsi: &'a str,
    pub(crate) batch: &'a str,
    pub(crate) sponsor: &'a str,
    #[serde(borrow)]
    pub(crate) state: ImsiStateW<'a>,
}

#[derive(Serialize, Deserialize)]
pub(crate) enum ImsiStateW<'a> {
    Available,
    Embedded {
        profile: &'a str,
        slot: u8,
    },
    InDynamicPool {
        pool: &'a str,
    },
    Hold {
        until: UnixTime,
        reserved_for: Option<u64>,
    },
    EndOfLife,
    // Appended: variants are positional in the stored form.
    Reserved {
        order: u64,
    },
}

impl Record for Imsi {
    fn encode(&self, out: &mut Vec<u8>) {
        let state = match &self.state {
            ImsiState::Available => ImsiStateW::Available,
            ImsiState::Embedded { profile, slot } => ImsiStateW::Embedded {
                profile: text(profile),
                slot: *slot,
            },
            ImsiState::InDynamicPool { pool } => ImsiStateW::InDynamicPool { pool: text(pool) },
            ImsiState::Hold {
                until,
                reserved_for,
            } => ImsiStateW::Hold {
                until: *until,
                reserved_for: *reserved_for,
            },
            ImsiState::EndOfLife => ImsiStateW::EndOfLife,
            ImsiState::Reserved { order } => ImsiStateW::Reserved { order: *order },
        };
        let w = ImsiW {
            imsi: text(&self.imsi),
            batch: text(&self.batch),
            sponsor: text(&self.sponsor),
            state,
        };
        encode(&w, out)
    }
    fn decode(key: &[u8], v: &[u8]) -> Result<Self, StoreError> {
        decode(key, v, |w: ImsiW| Imsi {
            imsi: w.imsi.to_owned(),
            batch: w.batch.to_owned(),
            sponsor: w.sponsor.to_owned(),
            state: match w.state {
                ImsiStateW::Available => ImsiState::Available,
                ImsiStateW::Embedded { profile, slot } => ImsiState::Embedded {
                    profile: profile.to_owned(),
                    slot,
                },
                ImsiStateW::InDynamicPool { pool } => ImsiState::InDynamicPool {
                    pool: pool.to_owned(),
                },
                ImsiStateW::Hold {
                    until,
                    reserved_for,
                } => ImsiState::Hold {
                    until,
                    reserved_for,
                },
                ImsiStateW::EndOfLife => ImsiState::EndOfLife,
                ImsiStateW::Reserved { order } => ImsiState::Reserved { order },
            },
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ProfileW<'a> {
    pub(crate) iccid: &'a str,
    pub(crate) pool: &'a str,
    #[serde(borrow)]
    pub(crate) imsis: Vec<&'a str>,
    pub(crate) transport_key_label: &'a str,
    /// Ki, OPc, PIN1, PUK1, PIN2, PUK2.
    #[serde(borrow)]
    pub(crate) secrets: [&'a str; 6],
    pub(crate) state: ProfileStateW,
}

#[derive(Serialize, Deserialize)]
pub(crate) enum ProfileStateW {
    Available,
    Assigned { account: u64 },
    Disposed,
}

impl Record for Profile {
    fn encode(&self, out: &mut Vec<u8>) {
        let w = ProfileW {
            iccid: text(&self.iccid),
            pool: text(&self.pool),
            imsis: self.imsis.iter().map(|i| text(i)).collect(),
            transport_key_label: text(&self.transport_key_label),
            secrets: [
                &self.ki, &self.opc, &self.pin1, &self.puk1, &self.pin2, &self.puk2,
            ]
            .map(|s| text(s.expose())),
            state: match self.state {
                ProfileState::Available => ProfileStateW::Available,
                ProfileState::Assigned { account } => ProfileStateW::Assigned { account },
                ProfileState::Disposed => ProfileStateW::Disposed,
            },
        };
        encode(&w, out)
    }
    fn decode(key: &[u8], v: &[u8]) -> Result<Self, StoreError> {
        decode(key, v, |w: ProfileW| {
            let [ki, opc, pin1, puk1, pin2, puk2] = w.secrets.map(|s| Secret(s.to_owned()));
            Profile {
                iccid: w.iccid.to_owned(),
                pool: w.pool.to_owned(),
                imsis: w.imsis.into_iter().map(str::to_owned).collect(),
                transport_key_label: w.transport_key_label.to_owned(),
                ki,
                opc,
                pin1,
                puk1,
                pin2,
                puk2,
                state: match w.state {
                    ProfileStateW::Available => ProfileState::Available,
                    ProfileStateW::Assigned { account } => ProfileState::Assigned { account },
                    ProfileStateW::Disposed => ProfileState::Disposed,
                },
            }
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct AccountW<'a> {
    pub(crate) id: u64,
    pub(crate) msisdn: &'a str,
    pub(crate) product: &'a str,
    #[serde(borrow)]
    pub(crate) profile: Option<&'a str>,
    pub(crate) status: AccountStatusW,
    pub(crate) created_at: UnixTime,
}

#[derive(Serialize, Deserialize)]
pub(crate) enum AccountStatusW {
    Active,
    Grace { until: UnixTime },
    Closed,
}

impl Record for Account {
    fn encode(&self, out: &mut Vec<u8>) {
        let w = AccountW {
            id: self.id,
            msisdn: text(&self.msisdn),
            product: text(&self.product),
            profile: self.profile.as_deref().map(text),
            status: match self.status {
                AccountStatus::Active => AccountStatusW::Active,
                AccountStatus::Grace { until } => AccountStatusW::Grace { until },
                AccountStatus::Closed => AccountStatusW::Closed,
            },
            created_at: self.created_at,
        };
        encode(&w, out)
    }
    fn decode(key: &[u8], v: &[u8]) -> Result<Self, StoreError> {
        decode(key, v, |w: AccountW| Account {
            id: w.id,
            msisdn: w.msisdn.to_owned(),
            product: w.product.to_owned(),
            profile: w.profile.map(str::to_owned),
            status: match w.status {
                AccountStatusW::Active => AccountStatus::Active,
                AccountStatusW::Grace { until } => AccountStatus::Grace { until },
                AccountStatusW::Closed => AccountStatus::Closed,
            },
            created_at: w.created_at,
        })
    }
}

#[cfg(test)]
mod tests;
