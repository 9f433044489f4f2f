//! `gyro load`: a Gy load generator. N connections, M concurrent sessions of
//! CCR-I, K CCR-U and CCR-T with realistic AVPs and the seed's subscribers
//! (home, roaming on a sponsor's IMSI, translated through a sponsor's proxy),
//! at a fixed rate or as fast as the server answers; prints throughput,
//! result codes and latency percentiles, and writes a JSON summary.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::diameter::builder::AvpDef;
use crate::diameter::codes::{self, avp};
use crate::diameter::dictionary::VENDOR_3GPP;
use crate::diameter::{Framer, Message, MessageBuilder};
use crate::model::clock::wall_time;

#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// gyro (or any Gy server) to load.
    #[arg(long)]
    pub target: SocketAddr,
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Sessions in flight at once (each has one request outstanding).
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Sessions in all (0: until --duration).
    #[arg(long, default_value_t = 20_000)]
    pub sessions: u64,
    /// CCR-U per session.
    #[arg(long, default_value_t = 3)]
    pub updates: u32,
    /// Requests per second in all (0: as fast as answers come).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Stop starting sessions after this many seconds (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub duration: u64,
    /// Octets reported per CCR-U/T.
    #[arg(long, default_value_t = 1000)]
    pub used_octets: u64,
    /// Server's Diameter identity (informational; Destination-Realm is its realm).
    #[arg(long, default_value = "test.local")]
    pub realm: String,
    /// Write the summary here as JSON.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// Who the load pretends to be: (Origin-Host, IMSI, visited MCC+MNC).
const PROFILES: &[(&str, &str, &str)] = &[
    // Truck driver at home on the own IMSI.
    ("pgw.test.local", "262019000000001", "26201"),
    // In Andorra through Partner X's proxy, which shows the own IMSI.
    ("gy.partner-x.example", "262019000000001", "21377"),
    // Transfer driver in Montenegro on Partner Y's IMSI.
    ("pgw.test.local", "213550000000001", "29701"),
    // Transfer driver at home.
    ("pgw.test.local", "262018000000001", "26201"),
];

struct Conn {
    tx: mpsc::Sender<Bytes>,
    pending: Mutex<HashMap<u32, oneshot::Sender<u32>>>,
    next_hbh: AtomicU64,
    origin: String,
    /// The Origin-Host of PROFILES this connection plays.
    role: &'static str,
}

fn cer(origin: &str, n: usize) -> Bytes {
    let mut buf = BytesMut::new();
    let mut b = MessageBuilder::request(&mut buf, 257, 0, false, n as u32, n as u32);
    b.utf8(codes::ORIGIN_HOST, origin)
        .utf8(codes::ORIGIN_REALM, "test.local")
        .address(
            codes::HOST_IP_ADDRESS,
            "127.0.0.1".parse().expect("literal address"),
        )
        .u32(codes::VENDOR_ID, 0)
        .utf8(codes::PRODUCT_NAME, "gyro load")
        .u32(codes::AUTH_APPLICATION_ID, 4);
    b.finish();
    buf.freeze()
}

struct Req<'a> {
    origin: &'a str,
    realm: &'a str,
    session: &'a str,
    kind: i32,
    number: u32,
    hbh: u32,
    /// Unique per Origin-Host across connections: servers use (Origin-Host,
    /// End-to-End) to spot retransmissions.
    e2e: u32,
    imsi: &'a str,
    plmn: &'a str,
    used: u64,
}

fn ccr(r: &Req<'_>) -> Bytes {
    let mut buf = BytesMut::with_capacity(640);
    let mut b = MessageBuilder::request(&mut buf, 272, 4, true, r.hbh, r.e2e);
    b.utf8(codes::SESSION_ID, r.session)
        .utf8(codes::ORIGIN_HOST, r.origin)
        .utf8(codes::ORIGIN_REALM, "test.local")
        .utf8(codes::DESTINATION_REALM, r.realm)
        .u32(codes::AUTH_APPLICATION_ID, 4)
        .utf8(AvpDef::base(avp::SERVICE_CONTEXT_ID), "32251@3gpp.org")
        .i32(AvpDef::base(avp::CC_REQUEST_TYPE), r.kind)
        .u32(AvpDef::base(avp::CC_REQUEST_NUMBER), r.number)
        .time(
            codes::EVENT_TIMESTAMP,
            crate::diameter::value::DiameterTime::from_system_time(wall_time()),
        );
    b.group(AvpDef::base(avp::SUBSCRIPTION_ID), |b| {
        b.i32(AvpDef::base(avp::SUBSCRIPTION_ID_TYPE), 1)
            .utf8(AvpDef::base(avp::SUBSCRIPTION_ID_DATA), r.imsi);
    });
    if r.kind == 3 {
        b.i32(codes::TERMINATION_CAUSE, 1);
    }
    b.i32(AvpDef::base(avp::MULTIPLE_SERVICES_INDICATOR), 1);
    b.group(AvpDef::base(avp::MULTIPLE_SERVICES_CREDIT_CONTROL), |b| {
        if r.kind != 3 {
            b.group(AvpDef::base(avp::REQUESTED_SERVICE_UNIT), |b| {
                b.u64(AvpDef::base(avp::CC_TOTAL_OCTETS), 1_000_000);
            });
        }
        if r.kind != 1 {
            b.group(AvpDef::base(avp::USED_SERVICE_UNIT), |b| {
                b.u64(AvpDef::base(avp::CC_TOTAL_OCTETS), r.used)
                    .u64(AvpDef::base(avp::CC_INPUT_OCTETS), r.used / 3)
                    .u64(AvpDef::base(avp::CC_OUTPUT_OCTETS), r.used - r.used / 3);
            });
        }
        b.u32(AvpDef::base(avp::SERVICE_IDENTIFIER), 1)
            .u32(AvpDef::base(avp::RATING_GROUP), 10);
        if r.kind != 1 {
            b.i32(
                AvpDef::vendor(avp::REPORTING_REASON, VENDOR_3GPP, true),
                if r.kind == 3 { 2 } else { 3 },
            );
        }
    });
    let (mcc, mnc) = r.plmn.split_at(3);
    let d = |c: u8| c - b'0';
    let (m, n) = (mcc.as_bytes(), mnc.as_bytes());
    let plmn = [
        d(m[1]) << 4 | d(m[0]),
        if n.len() == 3 { d(n[2]) << 4 } else { 0xf0 } | d(m[2]),
        d(n[1]) << 4 | d(n[0]),
    ];
    let mut uli = vec![130u8];
    uli.extend_from_slice(&plmn);
    uli.extend_from_slice(&[0, 1]);
    uli.extend_from_slice(&plmn);
    uli.extend_from_slice(&[0, 0, 1, 1]);
    b.group(
        AvpDef::vendor(avp::SERVICE_INFORMATION, VENDOR_3GPP, true),
        |b| {
            b.group(
                AvpDef::vendor(avp::PS_INFORMATION, VENDOR_3GPP, true),
                |b| {
                    b.u32(
                        AvpDef::vendor(avp::TGPP_CHARGING_ID, VENDOR_3GPP, false),
                        r.hbh,
                    )
                    .i32(AvpDef::vendor(avp::TGPP_PDP_TYPE, VENDOR_3GPP, false), 0)
                    .address(
                        AvpDef::vendor(avp::PDP_ADDRESS, VENDOR_3GPP, true),
                        "10.0.0.1".parse().expect("literal"),
                    )
                    .address(
                        AvpDef::vendor(avp::SGSN_ADDRESS, VENDOR_3GPP, true),
                        "192.0.2.1".parse().expect("literal"),
                    )
                    .utf8(
                        AvpDef::vendor(avp::TGPP_IMSI_MCC_MNC, VENDOR_3GPP, false),
                        &r.imsi[..5],
                    )
                    .utf8(AvpDef::base(avp::CALLED_STATION_ID), "internet")
                    .utf8(
                        AvpDef::vendor(avp::TGPP_SGSN_MCC_MNC, VENDOR_3GPP, false),
                        r.plmn,
                    )
                    .octets(
                        AvpDef::vendor(avp::TGPP_USER_LOCATION_INFO, VENDOR_3GPP, false),
                        &uli,
                    )
                    .octets(AvpDef::vendor(avp::TGPP_RAT_TYPE, VENDOR_3GPP, false), &[6]);
                },
            );
        },
    );
    b.finish();
    buf.freeze()
}

async fn connect(
    addr: SocketAddr,
    origin: String,
    role: &'static str,
    n: usize,
) -> anyhow::Result<Arc<Conn>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(&cer(&origin, n)).await?;
    let framer = Framer::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let cea = loop {
        if let Some(f) = framer.next_frame(&mut buf)? {
            break f;
        }
        if rd.read_buf(&mut buf).await? == 0 {
            bail!("{addr} closed the connection before the CEA");
        }
    };
    match Message::new(&cea).and_then(|m| m.result_code()) {
        Some(2001) => {}
        other => bail!("CEA from {addr}: Result-Code {other:?}"),
    }
    let (tx, mut rx) = mpsc::channel::<Bytes>(8192);
    let conn = Arc::new(Conn {
        tx,
        pending: Mutex::new(HashMap::new()),
        next_hbh: AtomicU64::new(1),
        origin,
        role,
    });
    tokio::spawn(async move {
        let mut out = BytesMut::with_capacity(64 * 1024);
        while let Some(first) = rx.recv().await {
            out.extend_from_slice(&first);
            while let Ok(more) = rx.try_recv() {
                out.extend_from_slice(&more);
                if out.len() > 60_000 {
                    break;
                }
            }
            if wr.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    });
    let c = conn.clone();
    tokio::spawn(async move {
        loop {
            loop {
                match framer.next_frame(&mut buf) {
                    Ok(Some(f)) => {
                        let Some(m) = Message::new(&f) else { continue };
                        if m.header.is_request() {
                            // DWR from the server: answer it.
                            if m.header.command == 280 {
                                let mut a = BytesMut::new();
                                let mut b = MessageBuilder::answer(&mut a, &m.header, false);
                                b.u32(codes::RESULT_CODE, 2001)
                                    .utf8(codes::ORIGIN_HOST, &c.origin)
                                    .utf8(codes::ORIGIN_REALM, "test.local");
                                b.finish();
                                let _ = c.tx.send(a.freeze()).await;
                            }
                            continue;
                        }
                        let waiter = c
                            .pending
                            .lock()
                            .ok()
                            .and_then(|mut p| p.remove(&m.header.hop_by_hop));
                        if let Some(w) = waiter {
                            let _ = w.send(m.result_code().unwrap_or(0));
                        }
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    Ok(conn)
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    results: HashMap<u32, u64>,
    timeouts: u64,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.concurrency == 0 {
        bail!("--connections and --concurrency must be at least 1");
    }
    if args.sessions == 0 && args.duration == 0 {
        bail!("give --sessions or --duration (or both)");
    }
    let mut conns = vec![];
    for n in 0..args.connections {
        // Each connection is its own peer (servers such as freeDiameter
        // refuse a second connection from one Diameter identity); the third
        // poses as Partner X's proxy, which the resolver knows by name.
        let (origin, role) = if n == 2 {
            ("gy.partner-x.example".to_string(), "gy.partner-x.example")
        } else if n == 0 {
            ("pgw.test.local".to_string(), "pgw.test.local")
        } else {
            (format!("pgw{n}.test.local"), "pgw.test.local")
        };
        conns.push(connect(args.target, origin, role, n).await?);
    }
    // Some stacks (OTP diameter) drop requests that arrive while they are
    // still bringing the peer up after the CEA: give them a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run_id = std::process::id();
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let next_session = Arc::new(AtomicU64::new(0));
    let seed = wall_time()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let next_e2e = Arc::new(std::sync::atomic::AtomicU32::new((seed & 0xfff) << 20));
    let answered = Arc::new(AtomicU64::new(0));
    let pacer = (args.rate > 0).then(|| Arc::new(Semaphore::new(0)));
    if let Some(sem) = pacer.clone() {
        let rate = args.rate;
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            let mut credit = 0f64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                credit += rate as f64 / 1000.0;
                let whole = credit.floor();
                credit -= whole;
                // Cap the backlog at 100 ms of requests so a stall is not followed by a burst.
                if sem.available_permits() < (rate as usize / 10).max(1) {
                    sem.add_permits(whole as usize);
                }
            }
        });
    }
    {
        let answered = answered.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut last = 0;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let now = answered.load(Ordering::Relaxed);
                eprintln!(
                    "load: {:>6.1} s  {now:>10} answers  {:>8} req/s",
                    started.elapsed().as_secs_f64(),
                    now - last
                );
                last = now;
            }
        });
    }
    let mut workers = vec![];
    for w in 0..args.concurrency {
        let conn = conns[w % conns.len()].clone();
        let args = args.clone();
        let next_session = next_session.clone();
        let next_e2e = next_e2e.clone();
        let answered = answered.clone();
        let pacer = pacer.clone();
        workers.push(tokio::spawn(async move {
            let mut t = Tally::default();
            loop {
                let s = next_session.fetch_add(1, Ordering::Relaxed);
                if (args.sessions > 0 && s >= args.sessions)
                    || (args.duration > 0 && started.elapsed().as_secs() >= args.duration)
                {
                    return t;
                }
                let candidates: Vec<&(&str, &str, &str)> =
                    PROFILES.iter().filter(|p| p.0 == conn.role).collect();
                let (_, imsi, plmn) = candidates[(s as usize) % candidates.len()];
                let session = format!("{};{run_id};{s}", conn.origin);
                for number in 0..=args.updates + 1 {
                    let kind = if number == 0 {
                        1
                    } else if number == args.updates + 1 {
                        3
                    } else {
                        2
                    };
                    if let Some(p) = &pacer {
                        match p.acquire().await {
                            Ok(permit) => permit.forget(),
                            Err(_) => return t,
                        }
                    }
                    let hbh = conn.next_hbh.fetch_add(1, Ordering::Relaxed) as u32;
                    let req = ccr(&Req {
                        origin: &conn.origin,
                        realm: &args.realm,
                        session: &session,
                        kind,
                        number,
                        hbh,
                        e2e: next_e2e.fetch_add(1, Ordering::Relaxed),
                        imsi,
                        plmn,
                        used: args.used_octets,
                    });
                    let (tx, rx) = oneshot::channel();
                    if let Ok(mut p) = conn.pending.lock() {
                        p.insert(hbh, tx);
                    }
                    let sent = Instant::now();
                    if conn.tx.send(req).await.is_err() {
                        return t;
                    }
                    match tokio::time::timeout(Duration::from_secs(10), rx).await {
                        Ok(Ok(rc)) => {
                            t.latencies_us
                                .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                            *t.results.entry(rc).or_default() += 1;
                            answered.fetch_add(1, Ordering::Relaxed);
                            if rc != 2001 {
                                break;
                            }
                        }
                        _ => {
                            t.timeouts += 1;
                            if let Ok(mut p) = conn.pending.lock() {
                                p.remove(&hbh);
                            }
                            break;
                        }
                    }
                }
            }
        }));
    }
    let mut all = Tally::default();
    for w in workers {
        let t = w.await?;
        all.latencies_us.extend(t.latencies_us);
        for (k, v) in t.results {
            *all.results.entry(k).or_default() += v;
        }
        all.timeouts += t.timeouts;
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let n = all.latencies_us.len() as u64;
    let l = &all.latencies_us;
    let summary = serde_json::json!({
        "target": args.target.to_string(),
        "connections": args.connections,
        "concurrency": args.concurrency,
        "sessions": next_session.load(Ordering::Relaxed).min(if args.sessions > 0 { args.sessions } else { u64::MAX }),
        "updates_per_session": args.updates,
        "rate_limit": args.rate,
        "elapsed_s": elapsed,
        "answers": n,
        "throughput_per_s": n as f64 / elapsed,
        "timeouts": all.timeouts,
        "result_codes": all.results.iter().map(|(k, v)| (k.to_string(), *v)).collect::<HashMap<_, _>>(),
        "latency_ms": { "p50": percentile(l, 0.50), "p90": percentile(l, 0.90), "p99": percentile(l, 0.99), "p99.9": percentile(l, 0.999), "max": l.last().map_or(0.0, |v| *v as f64 / 1000.0) },
    });
    println!(
        "load: {n} CCR/CCA in {elapsed:.2} s = {:.0} req/s; result codes {:?}; timeouts {}",
        n as f64 / elapsed,
        all.results,
        all.timeouts
    );
    println!(
        "load: latency ms p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3}",
        percentile(l, 0.5),
        percentile(l, 0.9),
        percentile(l, 0.99),
        percentile(l, 0.999)
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("--json: cannot write {}", path.display()))?;
    }
    if all.timeouts > 0 || all.results.keys().any(|k| *k != 2001) {
        bail!("not every request was answered with 2001");
    }
    Ok(())
}
