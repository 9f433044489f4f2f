//! `gyro serve`: wires configuration, dictionaries, metrics and the Diameter
//! node together and runs until SIGTERM/SIGINT; SIGHUP reloads the rating.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::api::ApiState;
use crate::charging::app::CreditControl;
use crate::charging::commit::{CommitLimits, Committer};
use crate::charging::engine::{retransmission_window, Engine, EngineConfig};
use crate::charging::server_initiated::ServerInitiated;
use crate::charging::xdr::{answered_since, XdrWriter};
use crate::config::{ChargingMode, Config, LogFormat};
use crate::diameter::answer::Origin;
use crate::diameter::dictionary::{Dictionary, BUILTIN};
use crate::diameter::header::application;
use crate::diameter::peer::admission::UnknownPeers;
use crate::diameter::peer::{ConnConfig, LocalNode};
use crate::diameter::transport::{
    tls, Application, Door, Identity, Node, NodeSettings, OutboundPeer, TlsAcceptor, TlsDial,
    TlsError,
};
use crate::diameter::validate::ValidateOptions;
use crate::inventory::{Inventory, InventoryError};
use crate::ota::intake::{spawn_drain, Intake, LocationSink};
use crate::proxy::app::{Proxy, ProxyApp};
use crate::proxy::setup::ProxySetup;
use crate::rating::source::RatingSource;

mod node;
use node::{node_settings, start_diameter, tls_setup};

pub fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cfg.log.format {
        LogFormat::Json => b.json().try_init(),
        LogFormat::Human => b.try_init(),
    };
}

/// The configured dictionary folder when it exists, else the compiled-in set;
/// then any extra files.
pub fn load_dictionary(cfg: &Config) -> anyhow::Result<Dictionary> {
    let d = &cfg.diameter;
    match d.dictionary_dir.as_deref().filter(|p| p.is_dir()) {
        Some(dir) => {
            tracing::info!(dir = %dir.display(), "loading dictionaries");
            Ok(Dictionary::load(Some(dir), &d.dictionaries)?)
        }
        None => {
            let mut sources: Vec<_> = BUILTIN
                .iter()
                .map(|(n, t)| (n.into(), t.to_string()))
                .collect();
            for p in &d.dictionaries {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("{}: cannot read dictionary", p.display()))?;
                sources.push((p.clone(), text));
            }
            Ok(Dictionary::from_sources(sources)?)
        }
    }
}

/// The embedded OCS: rating data, balances loaded from the store, the commit
/// thread and the Credit-Control application.
pub fn charging(
    cfg: &Config,
    inventory: &Arc<Inventory>,
) -> anyhow::Result<(Arc<Engine>, CreditControl)> {
    let c = &cfg.charging;
    let rating = RatingSource::new(c.rating.clone())
        .load()
        .map_err(|e| anyhow::anyhow!("charging.rating: {e}"))?;
    let defaults = EngineConfig::default();
    let window = retransmission_window(&rating, defaults.terminated_linger);
    let engine = Arc::new(Engine::new(
        inventory.index(),
        Arc::new(rating),
        EngineConfig {
            retransmission_window: window,
            raise_mscc_result: c.raise_mscc_result,
            final_unit_action: crate::config::final_unit_action_value(&c.final_unit_action),
            redirect_url: c.redirect_url.clone(),
            filter_id: c.filter_id.clone(),
            location_triggers: c.location_triggers,
            // Proxy mode answers locally only while no upstream answers.
            topup_url: cfg.lifecycle.topup_url.clone(),
            failsafe: (c.mode == ChargingMode::Proxy
                && cfg.proxy.on_upstream_down == crate::proxy::OnUpstreamDown::Local)
                .then_some((
                    cfg.proxy.failsafe_grant.octets,
                    cfg.proxy.failsafe_grant.seconds,
                )),
            ..defaults
        },
    ));
    let dir = cfg.node.data_dir.join(&c.xdr_dir);
    let xdr = XdrWriter::new(dir.clone(), c.xdr_max_bytes)
        .with_context(|| format!("charging.xdr_dir: cannot create {}", dir.display()))?;
    let limits = CommitLimits {
        max_queue: c.commit_queue.max(1),
        stall: c.commit_stall.0,
    };
    // Starting the committer first replays what the store had not flushed,
    // so the balances loaded next are the latest.
    let committer = Committer::start(inventory.clone(), xdr, limits)?;
    for (account, used) in inventory.balances()? {
        engine.ledger.load(account, used);
    }
    restore_answers(&engine, &dir, &inventory.clock())?;
    let failure = cfg.failure_handling();
    Ok((
        engine.clone(),
        CreditControl {
            engine,
            committer,
            failure,
            clock: inventory.clock(),
        },
    ))
}

/// The answers the xDR log kept from the retransmission window before
/// now: a retransmission after a crash gets its original answer.
fn restore_answers(
    engine: &Engine,
    dir: &Path,
    clock: &crate::model::clock::NodeClock,
) -> anyhow::Result<()> {
    let now = clock.now();
    let window = engine.retained.window();
    let answered = answered_since(dir, now - window)
        .with_context(|| format!("charging.xdr_dir: cannot read {}", dir.display()))?;
    let n = engine.retained.restore(answered, now);
    tracing::info!(
        answers = n,
        window_s = window,
        "answers kept for retransmissions restored from the xDR log"
    );
    Ok(())
}

/// What the admin API drives beyond the inventory.
struct Services {
    server_initiated: Arc<ServerInitiated>,
    events: Arc<crate::events::Events>,
    lifecycle: Arc<crate::lifecycle::Lifecycle>,
    orders: Arc<crate::profilegen::desk::OrderDesk>,
    orders_created: Arc<tokio::sync::Notify>,
    location: Arc<Intake>,
}

/// MVNE location webhooks in, and the drain that hands each location that
/// falls due to `sink` (the OTA swap engine's place; `LogSink` until then).
pub fn start_location(
    cfg: &Config,
    inventory: &Arc<Inventory>,
    sink: Arc<dyn LocationSink>,
) -> Result<Arc<Intake>, InventoryError> {
    let intake = Arc::new(Intake::new(inventory.clone(), &cfg.ota)?);
    spawn_drain(intake.queue().clone(), inventory.clock(), sink);
    Ok(intake)
}

/// The OTA swap engine, on the charging engine's rating, with the swaps a
/// previous run left ordered driven again.
fn start_ota(
    cfg: &Config,
    inventory: &Arc<Inventory>,
    engine: &Arc<Engine>,
) -> anyhow::Result<Arc<crate::ota::engine::OtaEngine>> {
    let vendor = crate::ota::vendor::OtaVendor::from_config(&cfg.ota)
        .map_err(|e| anyhow::anyhow!("ota.url: {e}"))?
        .map(Arc::new);
    let rating = engine.clone();
    let ota = crate::ota::engine::OtaEngine::new(
        inventory.clone(),
        Arc::new(move || rating.rating()),
        cfg.ota.min_saving,
        vendor,
        tokio::runtime::Handle::current(),
    );
    let resumed = ota.resume()?;
    if resumed > 0 {
        tracing::info!(swaps = resumed, "OTA swaps resumed");
    }
    Ok(ota)
}

/// The order desk, and with `[smdp]` the sFTP exchange with the SM-DP+
/// (woken by the returned notifier when an order is created).
fn start_smdp(
    cfg: &Config,
    inventory: &Arc<Inventory>,
    engine: &Arc<Engine>,
) -> (
    Arc<crate::profilegen::desk::OrderDesk>,
    Arc<tokio::sync::Notify>,
) {
    let rating_now = engine.clone();
    let orders = Arc::new(crate::profilegen::desk::OrderDesk::new(
        inventory.clone(),
        Arc::new(move || Ok(rating_now.rating())),
        cfg.profiles.order_settings(),
        cfg.smdp.as_ref().and_then(|s| s.perso_dir.clone()),
    ));
    let wake = Arc::new(tokio::sync::Notify::new());
    if let Some(s) = &cfg.smdp {
        tracing::info!(url = %s.sftp_url, input = %s.input_dir, output = %s.output_dir, "SM-DP+ sFTP exchange");
        crate::smdp::Exchange::new(s.clone(), orders.clone(), wake.clone()).spawn();
    }
    (orders, wake)
}

/// Serves the admin API on `api.listen` and the location webhooks on
/// `ota.listen`, each when set.
async fn start_api(
    cfg: &Config,
    inventory: &Arc<Inventory>,
    engine: &Arc<Engine>,
    rating: &Arc<RatingSource>,
    services: Services,
) -> anyhow::Result<()> {
    if cfg.api.token == crate::config::DEV_TOKEN && cfg.api.listen.is_some() {
        tracing::warn!("api.token is the development default: set your own in production");
    }
    let state = Arc::new(ApiState {
        engine: Some(engine.clone()),
        rating: Some(rating.clone()),
        server_initiated: Some(services.server_initiated),
        inventory: inventory.clone(),
        token: cfg.api.token.clone(),
        stock_alert_below: cfg.inventory.stock_alert_below,
        events: Some(services.events),
        lifecycle: Some(services.lifecycle),
        orders: Some(services.orders),
        orders_created: Some(services.orders_created),
        location: Some(services.location),
    });
    if let Some(addr) = cfg.ota.listen {
        let app = crate::api::webhook_router(state.clone());
        serve_http(
            addr,
            "ota.listen",
            app,
            "location webhooks at /api/v1/events/location",
        )
        .await?;
    } else if cfg.ota.webhook_secret.is_some() {
        tracing::warn!("ota.webhook_secret is set but ota.listen is not: signed location webhooks are served only on ota.listen");
    }
    if let Some(addr) = cfg.api.listen {
        serve_http(
            addr,
            "api.listen",
            crate::api::router(state),
            "admin API at /api/v1",
        )
        .await?;
    }
    Ok(())
}

/// Binds `addr` (the error names `key`) and serves `app` there.
async fn serve_http(
    addr: std::net::SocketAddr,
    key: &'static str,
    app: axum::Router,
    what: &'static str,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("{key}: cannot listen on {addr}"))?;
    tracing::info!(%addr, "{what}");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "{what}: stopped");
        }
    });
    Ok(())
}

/// Every SIGHUP reloads the rating file (the same reload as
/// `POST /api/v1/reload`); a bad file is logged and changes nothing.
fn reload_on_hangup(mut hangup: Signal, engine: Arc<Engine>, rating: Arc<RatingSource>) {
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            let (engine, rating) = (engine.clone(), rating.clone());
            // Reading the file blocks; the outcome is logged and counted
            // inside the reload.
            let _ = tokio::task::spawn_blocking(move || {
                rating.reload("SIGHUP", |r| engine.replace_rating(r))
            })
            .await;
        }
    });
}

/// What the node serves: the embedded OCS, or the proxy in front of the
/// upstream OCS (with the embedded one answering while none answers).
fn applications(
    cfg: &Config,
    app: CreditControl,
    inventory: &Arc<Inventory>,
    origin: &Origin,
) -> (Vec<Arc<dyn Application>>, Option<ProxySetup>) {
    if cfg.charging.mode == ChargingMode::Embedded {
        return (vec![Arc::new(app)], None);
    }
    let setup = ProxySetup::new(&cfg.proxy, app, inventory, origin.clone());
    let hosts: Vec<&str> = cfg
        .proxy
        .upstream
        .iter()
        .map(|u| u.origin_host.as_str())
        .collect();
    tracing::info!(upstreams = ?hosts, identity = ?cfg.proxy.identity, "proxy mode: forwarding Credit-Control to the upstream OCS");
    let app: Arc<dyn Application> = Arc::new(ProxyApp(setup.app.0.clone()));
    (vec![app], Some(setup))
}

/// Prometheus metrics on `metrics.listen`, when set.
fn serve_metrics(cfg: &Config) -> anyhow::Result<()> {
    if let Some(addr) = cfg.metrics.listen {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .with_context(|| format!("metrics.listen: cannot serve /metrics on {addr}"))?;
        crate::rating::source::register_metrics();
        tracing::info!(%addr, "Prometheus metrics at /metrics");
    }
    Ok(())
}

/// The Diameter node with its applications, not listening yet; in proxy
/// mode its upstreams are dialled and the proxy (whose sessions RAR and ASR
/// reach too) is returned beside it.
fn diameter_node(
    cfg: &Config,
    app: CreditControl,
    inventory: &Arc<Inventory>,
    dict: Arc<Dictionary>,
    tls: &mut node::TlsSetup,
) -> (Node, Option<Arc<Proxy>>) {
    let boot = inventory.now() as u32;
    let e2e_seed = ((boot & 0xfff) << 20) | (rand::random::<u32>() & 0xf_ffff);
    let origin = Origin {
        host: cfg.node.origin_host.clone(),
        realm: cfg.node.origin_realm.clone(),
        // Stable for this boot, larger after every restart (RFC 6733 §8.16).
        state_id: boot,
    };
    let (apps, proxy) = applications(cfg, app, inventory, &origin);
    let local = Arc::new(LocalNode::new(
        origin,
        cfg.host_ips(),
        vec![application::CREDIT_CONTROL],
        e2e_seed,
    ));
    let mut node = Node::new(node_settings(cfg, local, dict, proxy.is_some()), apps);
    let relayed = proxy.as_ref().map(|p| p.app.0.clone());
    if let Some(p) = proxy {
        p.start(node.peers());
        for upstream in std::mem::take(&mut tls.upstreams) {
            node.connect(upstream);
        }
    }
    (node, relayed)
}

/// RAR and ASR to the gateways, through the node's peers.
fn server_initiated(
    cfg: &Config,
    engine: &Arc<Engine>,
    node: &Node,
    relayed: Option<Arc<Proxy>>,
    inventory: &Arc<Inventory>,
) -> Arc<ServerInitiated> {
    let mut s = ServerInitiated::new(
        engine.clone(),
        node.peers(),
        node.local(),
        cfg.diameter.request_timeout.0,
        inventory.clock(),
    );
    if let Some(p) = relayed {
        s = s.with_relayed(p);
    }
    Arc::new(s)
}

/// Rewrites the index checkpoint every `every` while the inventory changes
/// (supervised: a write that panicked starts a fresh run).
fn checkpoint_periodically(every: Duration, inventory: Arc<Inventory>) {
    crate::supervise::spawn("checkpoint", move || {
        checkpoint_forever(every, inventory.clone())
    });
}

async fn checkpoint_forever(
    every: Duration,
    inventory: Arc<Inventory>,
) -> Result<(), tokio::task::JoinError> {
    // The first tick is immediate: a start that rebuilt or replayed writes
    // its checkpoint at once, while the node already serves.
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    loop {
        tick.tick().await;
        if inventory.changed_since_checkpoint() {
            let inv = inventory.clone();
            match tokio::task::spawn_blocking(move || inv.write_checkpoint()).await? {
                Ok(()) => tracing::info!("index checkpoint written"),
                Err(e) => tracing::warn!(error = %e, "index checkpoint not written"),
            }
        }
    }
}

/// Peers get their DPR, the committer flushes, and the index checkpoint is
/// written so that the next start loads it instead of rebuilding.
async fn shut_down(node: Node, committer: Committer, inventory: &Arc<Inventory>) {
    tracing::info!("shutting down: no new connections, finishing in-flight requests, sending DPR");
    node.shutdown().await;
    tokio::task::block_in_place(|| committer.finish(Duration::from_secs(10)));
    if inventory.changed_since_checkpoint() {
        if let Err(e) = tokio::task::block_in_place(|| inventory.write_checkpoint()) {
            tracing::warn!(error = %e, "index checkpoint not written");
        }
    }
    tracing::info!("stopped");
}

pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    // Before anything slow (a 10 M rebuild takes seconds): SIGHUP's default
    // action would kill the node without a DPR. One that comes during the
    // start is kept and reloads once the engine runs.
    let hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    // Certificates, keys and CAs too: a bad file is reported at once.
    let mut tls = tls_setup(&cfg)?;
    let inventory =
        tokio::task::block_in_place(|| crate::inventory::open(&cfg.inventory_settings()))?;
    let (engine, app) = charging(&cfg, &inventory)?;
    let committer = app.committer.clone();
    crate::charging::app::spawn_supervision(engine.clone(), inventory.clock());
    let dict = Arc::new(load_dictionary(&cfg)?);
    serve_metrics(&cfg)?;
    // After the recorder, so that no reload or delivery goes uncounted.
    let events = crate::events::Events::start(inventory.clone(), cfg.events.clone());
    let rating = Arc::new(RatingSource::new(cfg.charging.rating.clone()));
    reload_on_hangup(hangup, engine.clone(), rating.clone());
    let credit_control = app.clone();
    let (mut node, relayed) = diameter_node(&cfg, app, &inventory, dict, &mut tls);
    // RAR and ASR go out through the node's peers, so the API that starts
    // them comes up once the node exists (before it listens).
    let server_initiated = server_initiated(&cfg, &engine, &node, relayed, &inventory);
    let lifecycle = crate::lifecycle::Lifecycle::new(
        inventory.clone(),
        Some(credit_control),
        Some(server_initiated.clone()),
    );
    lifecycle.spawn();
    let (orders, orders_created) = start_smdp(&cfg, &inventory, &engine);
    let ota = start_ota(&cfg, &inventory, &engine)?;
    let location = start_location(&cfg, &inventory, Arc::new(ota))?;
    let services = Services {
        server_initiated,
        events,
        lifecycle,
        orders,
        orders_created,
        location,
    };
    start_api(&cfg, &inventory, &engine, &rating, services).await?;
    start_diameter(&cfg, &mut node, tls).await?;
    checkpoint_periodically(cfg.inventory.checkpoint_every.0, inventory.clone());
    wait_for_signal().await;
    shut_down(node, committer, &inventory).await;
    Ok(())
}

async fn wait_for_signal() {
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
