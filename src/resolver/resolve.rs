//! Identity resolution: the IMSI (or MSISDN) of a request and the Origin-Host
//! that relayed it → profile, slot, sponsor, account and product, or the
//! precise reason why not.

use super::index::{digits_u64, AccountState, ImsiStatus, Index, ProfileStatus};
use crate::model::UnixTime;

/// `Subscriber::sponsor` when no sponsor is involved.
pub const NO_SPONSOR: u16 = u16::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    /// The IMSI the device is using (after undoing a sponsor's translation).
    pub imsi: u64,
    pub iccid: u128,
    pub slot: u8,
    pub sponsor: u16,
    pub account: u64,
    pub product: u16,
    /// The account's bundle lapsed and it is in its grace period: no new
    /// units until it renews.
    pub in_grace: bool,
}

/// Why a request resolves to no chargeable subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Miss {
    #[error("malformed identity")]
    Malformed,
    #[error("unknown IMSI")]
    UnknownImsi,
    #[error("unknown MSISDN")]
    UnknownMsisdn,
    #[error("IMSI is on hold")]
    ImsiOnHold,
    #[error("IMSI is not embedded in a profile (available, in a dynamic pool or end of life)")]
    NotEmbedded,
    #[error("profile is disposed")]
    DisposedProfile,
    #[error("profile is not assigned to an account")]
    UnassignedProfile,
    #[error("account is closed")]
    ClosedAccount,
    #[error("account's grace period is over")]
    GraceExpired,
    #[error("unknown account")]
    UnknownAccount,
}

/// A resolution as the admin API and the CLI show it.
pub fn resolution_json(r: &Result<Subscriber, Miss>) -> serde_json::Value {
    match r {
        Ok(s) => serde_json::json!({"chargeable": true, "account": s.account, "slot": s.slot}),
        Err(why) => serde_json::json!({"chargeable": false, "reason": why.to_string()}),
    }
}

impl Index {
    /// Resolves an IMSI as received from `origin_host`. A sponsor's proxy that
    /// translates IMSIs presents the operator's IMSI: the sponsor is the proxy's,
    /// and the IMSI in use is the sponsor's one in the same profile.
    pub fn resolve_imsi(
        &self,
        imsi: &str,
        origin_host: Option<&str>,
        now: UnixTime,
    ) -> Result<Subscriber, Miss> {
        let catalog = self.catalog();
        let proxy = origin_host.and_then(|h| catalog.sponsor_by_origin_host(h));
        let mut used = digits_u64(imsi).ok_or(Miss::Malformed)?;
        let mut via_translation = None;
        let mut entry = None;
        if let Some(sp) = proxy {
            let orig = catalog.untranslate(sp, imsi);
            if let Some((o, e)) = orig.and_then(|o| Some((o, self.imsi(o)?))) {
                used = o;
                entry = Some(e);
                via_translation = Some(sp);
            }
        }
        let e = match entry {
            Some(e) => e,
            None => self.imsi(used).ok_or(Miss::UnknownImsi)?,
        };
        match e.status {
            ImsiStatus::Embedded => {}
            ImsiStatus::Hold => return Err(Miss::ImsiOnHold),
            _ => return Err(Miss::NotEmbedded),
        }
        let p = self.profile_of(&e).ok_or(Miss::NotEmbedded)?;
        match p.status {
            ProfileStatus::Assigned => {}
            ProfileStatus::Disposed => return Err(Miss::DisposedProfile),
            ProfileStatus::Available => return Err(Miss::UnassignedProfile),
            ProfileStatus::None => return Err(Miss::NotEmbedded),
        }
        check_account(p.account.state, now)?;
        Ok(Subscriber {
            imsi: used,
            iccid: p.iccid,
            slot: e.slot,
            sponsor: via_translation.unwrap_or(e.sponsor),
            account: p.account.id,
            product: p.account.product,
            in_grace: matches!(p.account.state, AccountState::Grace(_)),
        })
    }

    /// MSISDN → the subscriber of its account, for IMS and SMS nodes that
    /// name the user by number only. Which IMSI the device uses is not
    /// known then: `imsi` is 0 and there is no sponsor.
    pub fn resolve_msisdn(&self, msisdn: &str, now: UnixTime) -> Result<Subscriber, Miss> {
        let m = digits_u64(msisdn).ok_or(Miss::Malformed)?;
        let (a, iccid) = self.by_msisdn_with_iccid(m).ok_or(Miss::UnknownMsisdn)?;
        check_account(a.state, now)?;
        Ok(Subscriber {
            imsi: 0,
            iccid,
            slot: 0,
            sponsor: NO_SPONSOR,
            account: a.id,
            product: a.product,
            in_grace: matches!(a.state, AccountState::Grace(_)),
        })
    }
}

fn check_account(s: AccountState, now: UnixTime) -> Result<(), Miss> {
    match s {
        AccountState::Active => Ok(()),
        AccountState::Grace(until) if now <= until => Ok(()),
        AccountState::Grace(_) => Err(Miss::GraceExpired),
        AccountState::Closed => Err(Miss::ClosedAccount),
        AccountState::Unknown => Err(Miss::UnknownAccount),
    }
}

#[cfg(test)]
mod tests;
