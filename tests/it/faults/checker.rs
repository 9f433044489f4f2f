//! The checker: what the clients were told against what gyro charged.
//! Every client logs each request it sent as one JSON line (`Request`):
//! its key (Session-Id, CC-Request-Number), account, the octets its
//! Used-Service-Unit carried and its fate. The checker sets those logs
//! against the xDR files of the data directory and the balances read
//! through the API after the last restart.
//!
//! The figures (docs/testing.md says the same):
//! - **octets lost**: octets of acknowledged requests (CCA 2001) that no
//!   xDR charges, summed over requests.
//! - **octets charged twice**: octets that xDRs charge beyond what their
//!   request may be charged: its used octets when it was acknowledged or
//!   left in doubt (sent, no answer), nothing when it was refused or never
//!   sent; an xDR for a request no client sent counts whole.
//!
//! Per account, the balance gyro reports must equal its xDRs, and lie
//! between the acknowledged octets and those plus the octets in doubt.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What became of one request, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fate {
    /// Answered with Result-Code 2001: its usage is acknowledged.
    Acknowledged,
    /// Answered with this Result-Code: nothing may be charged.
    Refused(u32),
    /// Sent, and no answer came: it may or may not be charged.
    InDoubt,
    /// Never written to a connection.
    NotSent,
}

/// One request as its client logs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub session: String,
    pub number: u32,
    pub account: u64,
    pub used: u64,
    pub fate: Fate,
    /// Times it was written (more than one: retransmitted).
    pub attempts: u32,
}

/// The part of an xDR line the checker reads.
#[derive(Debug, Deserialize)]
pub struct XdrLine {
    pub session_id: String,
    pub request_number: u32,
    pub account: u64,
    pub allowance_consumed: u64,
}

/// An account's balance before the run and after it (used data octets).
pub struct Balance {
    pub account: u64,
    pub before: u64,
    pub after: u64,
}

#[derive(Debug, Default)]
pub struct Figures {
    pub requests: u64,
    pub acknowledged: u64,
    pub refused: u64,
    pub in_doubt: u64,
    pub retransmitted: u64,
    pub octets_acknowledged: u64,
    pub octets_lost: u64,
    pub octets_charged_twice: u64,
    /// xDR lines beyond the first for one (Session-Id, CC-Request-Number).
    pub duplicate_xdrs: u64,
    /// Acknowledged requests with usage and no xDR.
    pub acknowledged_without_xdr: u64,
    /// xDR keys no client logged.
    pub unknown_xdrs: u64,
    /// Result-Codes of refusals, and how many of each.
    pub refusals: Vec<(u32, u64)>,
    /// Accounts whose balance disagrees with their xDRs or their requests.
    pub accounts: Vec<String>,
}

impl Figures {
    pub fn clean(&self) -> bool {
        self.octets_lost == 0
            && self.octets_charged_twice == 0
            && self.duplicate_xdrs == 0
            && self.acknowledged_without_xdr == 0
            && self.unknown_xdrs == 0
            && self.accounts.is_empty()
    }
}

/// Every request logged in `dir`'s `*.jsonl` files.
pub fn read_requests(dir: &Path) -> Vec<Request> {
    jsonl(dir, |_| true)
}

/// Every xDR line in `xdr_dir`.
pub fn read_xdrs(xdr_dir: &Path) -> Vec<XdrLine> {
    jsonl(xdr_dir, |n| n.starts_with("xdr-"))
}

fn jsonl<T: serde::de::DeserializeOwned>(dir: &Path, name: impl Fn(&str) -> bool) -> Vec<T> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let n = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(n.ends_with(".jsonl") && name(&n)) {
            continue;
        }
        for (i, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            let v = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}: {line}", path.display(), i + 1));
            out.push(v);
        }
    }
    out
}

type Key = (String, u32);

/// Per request key: xDR lines and the octets they charge.
#[derive(Default)]
struct Charged {
    lines: u64,
    octets: u64,
}

pub fn check(requests: &[Request], xdrs: &[XdrLine], balances: &[Balance]) -> Figures {
    let mut charged: HashMap<Key, Charged> = HashMap::new();
    for x in xdrs {
        let c = charged
            .entry((x.session_id.clone(), x.request_number))
            .or_default();
        c.lines += 1;
        c.octets += x.allowance_consumed;
    }
    let mut f = Figures::default();
    let mut seen: HashSet<Key> = HashSet::new();
    let mut refusals: HashMap<u32, u64> = HashMap::new();
    for r in requests {
        let key = (r.session.clone(), r.number);
        assert!(
            seen.insert(key.clone()),
            "two requests logged under one key {key:?}: a client reused a key"
        );
        let c = charged.get(&key);
        let (lines, octets) = c.map_or((0, 0), |c| (c.lines, c.octets));
        f.requests += 1;
        f.retransmitted += u64::from(r.attempts > 1);
        let may = match r.fate {
            Fate::Acknowledged => {
                f.acknowledged += 1;
                f.octets_acknowledged += r.used;
                f.octets_lost += r.used.saturating_sub(octets);
                f.acknowledged_without_xdr += u64::from(r.used > 0 && lines == 0);
                r.used
            }
            Fate::InDoubt => {
                f.in_doubt += 1;
                r.used
            }
            Fate::Refused(code) => {
                f.refused += 1;
                *refusals.entry(code).or_default() += 1;
                0
            }
            Fate::NotSent => 0,
        };
        f.octets_charged_twice += octets.saturating_sub(may);
        f.duplicate_xdrs += lines.saturating_sub(1);
    }
    for (key, c) in &charged {
        if !seen.contains(key) {
            f.unknown_xdrs += 1;
            f.octets_charged_twice += c.octets;
            f.duplicate_xdrs += c.lines.saturating_sub(1);
        }
    }
    f.refusals = refusals.into_iter().collect();
    f.refusals.sort_unstable();
    f.accounts = accounts(requests, xdrs, balances);
    f
}

/// xDR lines beyond the first for one request key.
pub fn duplicates(xdrs: &[XdrLine]) -> u64 {
    let mut lines: HashMap<(&str, u32), u64> = HashMap::new();
    for x in xdrs {
        *lines.entry((&x.session_id, x.request_number)).or_default() += 1;
    }
    lines.values().map(|n| n - 1).sum()
}

/// Per account: the balance gyro reports equals its xDRs, and lies between
/// the acknowledged octets and those plus the octets in doubt.
fn accounts(requests: &[Request], xdrs: &[XdrLine], balances: &[Balance]) -> Vec<String> {
    let mut out = vec![];
    for b in balances {
        let charged = b.after.saturating_sub(b.before);
        let in_xdrs: u64 = xdrs
            .iter()
            .filter(|x| x.account == b.account)
            .map(|x| x.allowance_consumed)
            .sum();
        let mine = requests.iter().filter(|r| r.account == b.account);
        let (mut acked, mut doubt) = (0, 0);
        for r in mine {
            match r.fate {
                Fate::Acknowledged => acked += r.used,
                Fate::InDoubt => doubt += r.used,
                Fate::Refused(_) | Fate::NotSent => {}
            }
        }
        let a = b.account;
        if b.after < b.before {
            out.push(format!(
                "account {a}: used fell from {} to {}",
                b.before, b.after
            ));
        }
        if charged != in_xdrs {
            out.push(format!(
                "account {a}: balance charged {charged}, its xDRs {in_xdrs}"
            ));
        }
        if charged < acked || charged > acked + doubt {
            out.push(format!(
                "account {a}: charged {charged}, acknowledged {acked}, in doubt {doubt}"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(number: u32, used: u64, fate: Fate) -> Request {
        Request {
            session: "s".into(),
            number,
            account: 7,
            used,
            fate,
            attempts: 1,
        }
    }

    fn xdr(number: u32, octets: u64) -> XdrLine {
        XdrLine {
            session_id: "s".into(),
            request_number: number,
            account: 7,
            allowance_consumed: octets,
        }
    }

    /// The checker tells each kind of fault apart, and passes a clean run
    /// in which a request in doubt was charged.
    #[test]
    fn the_checker_tells_lost_from_charged_twice() {
        let requests = [
            req(1, 100, Fate::Acknowledged),
            req(2, 200, Fate::Acknowledged),
            req(3, 300, Fate::InDoubt),
            req(4, 400, Fate::Refused(5030)),
        ];
        let balance = |after| {
            [Balance {
                account: 7,
                before: 0,
                after,
            }]
        };
        let clean = [xdr(1, 100), xdr(2, 200), xdr(3, 300)];
        assert!(check(&requests, &clean, &balance(600)).clean());
        let twice = [xdr(1, 100), xdr(1, 100), xdr(2, 200)];
        let f = check(&requests, &twice, &balance(400));
        assert_eq!((f.octets_charged_twice, f.duplicate_xdrs), (100, 1));
        assert_eq!(f.octets_lost, 0);
        let lost = [xdr(1, 100)];
        let f = check(&requests, &lost, &balance(100));
        assert_eq!((f.octets_lost, f.acknowledged_without_xdr), (200, 1));
        assert_eq!(f.accounts.len(), 1, "{:?}", f.accounts);
        let refused = [xdr(1, 100), xdr(2, 200), xdr(4, 400)];
        let f = check(&requests, &refused, &balance(700));
        assert_eq!(f.octets_charged_twice, 400);
        let mismatch = check(&requests, &clean, &balance(650));
        let said = mismatch.accounts.join("\n");
        assert!(said.contains("balance charged 650, its xDRs 600"), "{said}");
    }
}
