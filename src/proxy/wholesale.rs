//! What a sponsor charges for the usage gyro relays in proxy mode: the
//! upstream OCS rates the subscriber, gyro still costs every reported
//! Used-Service-Unit at the sponsor's price for the network it was used on,
//! and records it (xDRs tagged `mode: proxy`, with the upstream and its
//! Result-Code).

use crate::charging::ccr::{Ccr, RequestType, ServiceContext};
use crate::charging::commit::Commit;
use crate::charging::rate::{Action, Context};
use crate::model::RateCode;
use crate::model::{Allowance, UnixTime};
use crate::rating::Rating;
use crate::resolver::{Catalog, Subscriber};

/// Who answered the relayed request.
pub struct Answered<'a> {
    pub upstream: &'a str,
    pub result_code: u32,
}

/// The commit of the xDRs for a relayed request's usage; None when it
/// reported none. `usage_at` is where the usage happened.
#[allow(clippy::too_many_arguments)]
pub fn usage_commit(
    rating: &Rating,
    catalog: &Catalog,
    sub: &Subscriber,
    ccr: &Ccr<'_>,
    end_to_end: u32,
    now: UnixTime,
    usage_at: RateCode,
    by: &Answered<'_>,
) -> Option<Commit> {
    if ccr.services.iter().all(|s| s.used.is_empty()) {
        return None;
    }
    let allowance = match ServiceContext::parse(ccr.service_context) {
        ServiceContext::Sms => Allowance::Sms,
        c if c.is_voice() => Allowance::Voice,
        _ => Allowance::Data,
    };
    let cx = Context {
        rating,
        bundle: None,
        sponsor: catalog.sponsors.get(sub.sponsor as usize),
        request: ccr.request_type.unwrap_or(RequestType::Update),
        action: Action::Charge,
        request_number: ccr.request_number,
        end_to_end,
        session_id: ccr.session_id,
        now,
        allowance,
        limit: 0,
        grant_size: 0,
        validity: 0,
        usage_at,
        grantable: false,
        no_grants: true,
        lapsed: false,
    };
    let mut xdrs = vec![];
    for svc in &ccr.services {
        for u in svc.used.iter().filter(|u| !u.units.is_empty()) {
            let mut x = cx.usage_xdr(sub, svc, u);
            x.mode = Some("proxy");
            x.upstream = Some(by.upstream.to_string());
            x.upstream_result = Some(by.result_code);
            xdrs.push(x);
        }
    }
    Some(Commit {
        account: sub.account,
        used: None,
        xdrs,
        fup: None,
        fup_restore: false,
    })
}
