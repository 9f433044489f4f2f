//! One run of the harness: the scenario's nodes and accounts of their own,
//! the clients through the harness's proxy, the nemesis for the run's
//! duration; then the clients finish their sessions, every gyro is killed
//! and started once more, and the checker sets what the clients were told
//! against the xDRs and the balances.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::checker::{self, Balance, Figures};
use super::control::Control;
use super::erlang::{self, ErlSpec};
use super::nemesis::{Fault, Nemesis, Tally};
use super::nodes::{self, Nodes, Scenario};
use super::raw_client::{self, RawSpec};
use super::tcp_proxy::TcpProxy;
use crate::support::*;

/// How long clients may take to finish once the run stops.
const GRACE: Duration = Duration::from_secs(60);

pub struct Settings {
    pub tag: &'static str,
    pub scenario: Scenario,
    pub secs: u64,
    pub seed: u64,
    pub faults: &'static [Fault],
    /// Accounts the raw clients share, and raw clients per account.
    pub raw_accounts: u32,
    pub raw_per_account: u32,
    /// Accounts the Erlang PGWs share, and PGW loops per account.
    pub erlang_accounts: u32,
    pub erlang_per_account: u32,
}

impl Settings {
    /// The seed from `GYRO_FAULTS_SEED`, else a fresh one; the duration
    /// from `GYRO_FAULTS_SECS`, else `secs`; `GYRO_FAULTS_SCENARIO=proxy`
    /// runs the proxy scenario instead.
    pub fn with_env(mut self) -> Settings {
        let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        self.seed = var("GYRO_FAULTS_SEED").unwrap_or_else(rand::random);
        self.secs = var("GYRO_FAULTS_SECS").unwrap_or(self.secs);
        if std::env::var("GYRO_FAULTS_SCENARIO").as_deref() == Ok("proxy") {
            self.scenario = Scenario::Proxy;
        }
        self
    }
}

pub struct Report {
    pub settings_line: String,
    /// Client connections relayed, and those closed at once (gyro down).
    pub connections: (u64, u64),
    pub tally: Tally,
    pub figures: Figures,
    pub dir: PathBuf,
}

impl Report {
    /// The one line of figures.
    pub fn summary(&self) -> String {
        let (f, t, (relayed, down)) = (&self.figures, &self.tally, self.connections);
        format!(
            "fault harness: {}; {} requests, {} acknowledged ({} octets), {} refused {:?}, \
             {} in doubt, {} retransmitted; {relayed} client connections ({down} while gyro \
             was down); {} faults: {} kills, {} cuts ({} connections), {} delays, {} store \
             failures; gyro exited by itself {} times; octets lost {}, octets charged twice {}; \
             duplicate xDRs {}, acknowledged without xDR {}, unknown xDRs {}; data in {}",
            self.settings_line,
            f.requests,
            f.acknowledged,
            f.octets_acknowledged,
            f.refused,
            f.refusals,
            f.in_doubt,
            f.retransmitted,
            t.faults(),
            t.kills,
            t.cuts,
            t.connections_cut,
            t.delays,
            t.store_failures,
            t.exits,
            f.octets_lost,
            f.octets_charged_twice,
            f.duplicate_xdrs,
            f.acknowledged_without_xdr,
            f.unknown_xdrs,
            self.dir.display()
        )
    }
}

pub fn run(s: &Settings) -> Report {
    let settings_line = format!(
        "{:?}, seed {} (GYRO_FAULTS_SEED), {} s, faults {:?}",
        s.scenario, s.seed, s.secs, s.faults
    );
    eprintln!("{settings_line}");
    let peers = peers_dir();
    let Nodes { targets, links } = nodes::start(s.scenario, s.tag);
    let dir = targets[0].dir();
    let logs = dir.join("acks");
    std::fs::create_dir_all(&logs).unwrap();
    let n_accounts = s.raw_accounts
        + if peers.is_some() {
            s.erlang_accounts
        } else {
            0
        };
    let accounts = nodes::onboard(&targets, n_accounts);
    let before = nodes::used(&targets[0].gyro, &accounts);
    let ctl = Control::start();
    let raw = raw_specs(s, &accounts, &links[0], &logs);
    let erl = erlang_specs(s, &accounts, &links[0], &logs, peers.as_deref());
    let nemesis = Nemesis::new(s.seed, s.faults, targets, links.iter().collect());
    let (mut targets, mut tally) = std::thread::scope(|sc| {
        let ctl = &ctl;
        for r in &raw {
            sc.spawn(move || raw_client::run(r, ctl));
        }
        for e in &erl {
            sc.spawn(move || erlang::run(e, ctl));
        }
        let nemesis = sc.spawn(move || nemesis.run(ctl));
        ctl.nap(Duration::from_secs(s.secs));
        ctl.stop(GRACE);
        nemesis.join().unwrap()
    });
    if let Some(why) = ctl.aborted() {
        panic!("{settings_line}: the run stopped: {why}");
    }
    let connections = links[0].connections();
    drop(links);
    // What was acknowledged must survive one more crash.
    nodes::crash_all(&mut targets);
    tally.kills += targets.len() as u64;
    let after = nodes::used(&targets[0].gyro, &accounts);
    let balances: Vec<Balance> = accounts
        .iter()
        .zip(before.iter().zip(&after))
        .map(|((a, _), (b, c))| Balance {
            account: *a,
            before: *b,
            after: *c,
        })
        .collect();
    let requests = checker::read_requests(&logs);
    let xdrs = checker::read_xdrs(&dir.join("data/xdr"));
    let mut figures = checker::check(&requests, &xdrs, &balances);
    // The front's xDRs (the sponsors' wholesale cost) are unique too.
    for front in &targets[1..] {
        let x = checker::read_xdrs(&front.dir().join("data/xdr"));
        figures.duplicate_xdrs += checker::duplicates(&x);
    }
    for t in &mut targets {
        let _ = t.gyro.stop();
    }
    Report {
        settings_line,
        connections,
        tally,
        figures,
        dir,
    }
}

fn raw_specs(
    s: &Settings,
    accounts: &[(u64, String)],
    proxy: &TcpProxy,
    logs: &Path,
) -> Vec<RawSpec> {
    let mut out = vec![];
    for (a, (account, imsi)) in accounts.iter().take(s.raw_accounts as usize).enumerate() {
        for k in 0..s.raw_per_account {
            let n = a as u32 * s.raw_per_account + k + 1;
            out.push(RawSpec {
                n,
                imsi: imsi.clone(),
                account: *account,
                server: proxy.addr,
                seed: s.seed.wrapping_add(u64::from(n)),
                log: logs.join(format!("raw{n}.jsonl")),
            });
        }
    }
    out
}

fn erlang_specs(
    s: &Settings,
    accounts: &[(u64, String)],
    proxy: &TcpProxy,
    logs: &Path,
    peers: Option<&Path>,
) -> Vec<ErlSpec> {
    let Some(peers) = peers else { return vec![] };
    let mut out = vec![];
    let theirs = accounts.iter().skip(s.raw_accounts as usize);
    for (a, (account, imsi)) in theirs.enumerate() {
        for k in 0..s.erlang_per_account {
            let n = a as u32 * s.erlang_per_account + k + 1;
            out.push(ErlSpec {
                n,
                imsi: imsi.clone(),
                account: *account,
                server: proxy.addr,
                used: 1000 + u64::from(n),
                updates: 100,
                peers: peers.to_path_buf(),
                dir: logs.to_path_buf(),
            });
        }
    }
    out
}
