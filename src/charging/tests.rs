//! The charging engine without sockets or clocks: an engine on a small
//! index and bundle, a CCR builder and a recorder of commits, shared by the
//! tests of grants, sessions, commits and the request forms real nodes send.

use std::sync::Arc;

use std::cell::RefCell;
use std::sync::Mutex;

use super::ccr::{Ccr, RequestType, ServiceUnits, Units, UsedUnits};
use super::commit::Commit;
use super::engine::*;
use crate::diameter::codes::result::*;
use crate::model::*;
use crate::rating::Rating;
use crate::resolver::fixtures::{product, profile, sponsor};
use crate::resolver::{Catalog, Index};

mod commits;
mod forms;
mod grants;
mod sessions;

const IMSI: &str = "262019000000001";

fn engine() -> Engine {
    let idx = Index::new();
    // xDRs carry the sponsors' display names.
    let sponsors = vec![
        Sponsor {
            name: "Own".into(),
            ..sponsor("own", "26201", None, None)
        },
        Sponsor {
            name: "Partner X".into(),
            ..sponsor(
                "partner-x",
                "21377",
                Some("gy.partner-x.example"),
                Some(("213779", "262019")),
            )
        },
    ];
    let product = product(
        "EU Neighbour - Andorra 30-Day Pass",
        &["E212-262-01", "E212-213-77"],
    );
    idx.set_catalog(Catalog::new(sponsors, vec![product]));
    let profile = profile(
        "894910262010000012345",
        &[IMSI, "213779000000001"],
        ProfileState::Assigned { account: 1 },
    );
    let account = Account {
        id: 1,
        msisdn: "491700000001".into(),
        product: "EU Neighbour - Andorra 30-Day Pass".into(),
        profile: Some(profile.iccid.clone()),
        status: AccountStatus::Active,
        created_at: 0,
    };
    idx.put_account(&account, None);
    idx.put_profile(&profile);
    for (slot, (i, s)) in [(IMSI, "own"), ("213779000000001", "partner-x")]
        .into_iter()
        .enumerate()
    {
        idx.put_imsi(&Imsi {
            imsi: i.into(),
            batch: "b".into(),
            sponsor: s.into(),
            state: ImsiState::Embedded {
                profile: profile.iccid.clone(),
                slot: slot as u8 + 1,
            },
        });
    }
    // A 1000-octet bundle, 400-octet grants, FUP at 700, Validity-Time 10 s.
    let text = crate::rating::EMBEDDED
        .replace("data_octets = 10000000\n", "data_octets = 400\n")
        .replace("validity_time = \"10m\"", "validity_time = \"10s\"")
        .replace(
            "data_octets = 100000000000\nfup_octets = 50000000000",
            "data_octets = 1000\nfup_octets = 700",
        );
    let rating = Rating::parse(&text, "test").unwrap();
    Engine::new(idx, Arc::new(rating), EngineConfig::default())
}

fn ccr<'a>(
    sid: &'a str,
    rt: RequestType,
    n: u32,
    requested: Option<u64>,
    used: u64,
    plmn: &'a str,
    origin: &'a str,
) -> Ccr<'a> {
    Ccr {
        session_id: sid,
        origin_host: origin,
        request_type: Some(rt),
        request_number: n,
        service_context: "32251@3gpp.org",
        imsi: Some(IMSI),
        sgsn_mcc_mnc: Some(plmn),
        services: vec![ServiceUnits {
            rating_group: Some(10),
            requested: requested.map(|r| Units {
                total_octets: Some(r),
                ..Units::default()
            }),
            used: (used > 0)
                .then(|| UsedUnits {
                    units: Units {
                        total_octets: Some(used),
                        ..Units::default()
                    },
                    ..UsedUnits::default()
                })
                .into_iter()
                .collect(),
            ..ServiceUnits::default()
        }],
        ..Ccr::default()
    }
}

/// Records commits in sequence order, as the committer queues them.
#[derive(Default)]
struct Recorder {
    commits: Mutex<Vec<(u64, Commit)>>,
    busy: bool,
}

impl Sequencer for Recorder {
    fn accepting(&self) -> bool {
        !self.busy
    }
    fn submit(&self, c: Commit) -> u64 {
        let mut v = self.commits.lock().unwrap();
        let seq = v.len() as u64 + 1;
        v.push((seq, c));
        seq
    }
}

struct Out {
    d: Decision,
    commit: Option<Commit>,
    duplicate: bool,
}

fn charge_with(e: &Engine, rec: &Recorder, c: &Ccr<'_>, e2e: u32, now: i64) -> Out {
    let seen = RefCell::new(None);
    let ch = e.charge(c, e2e, now, rec, &|d: &Decision| {
        *seen.borrow_mut() = Some(d.clone());
        bytes::Bytes::from_static(b"cca")
    });
    let commits = rec.commits.lock().unwrap();
    let commit = (ch.seq > 0 && !ch.duplicate)
        .then(|| {
            commits
                .iter()
                .find(|(s, _)| *s == ch.seq)
                .map(|(_, c)| c.clone())
        })
        .flatten();
    Out {
        d: seen.into_inner().unwrap_or_default(),
        commit,
        duplicate: ch.duplicate,
    }
}

/// Charges with a fresh End-to-End id: a new request, never a retransmission.
fn charge(e: &Engine, c: &Ccr<'_>, now: i64) -> Out {
    thread_local!(static REC: Recorder = Recorder::default());
    static E2E: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let e2e = E2E.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    REC.with(|r| charge_with(e, r, c, e2e, now))
}
