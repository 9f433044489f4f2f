//! Proxy mode from its settings: the application the node serves, the
//! upstream connections it keeps, and the journal replayer.

use std::sync::Arc;

use dashmap::DashMap;

use super::app::{Proxy, ProxyApp};
use super::config::{OnUpstreamDown, ProxySection};
use super::inflight::InFlight;
use super::peers::PeerUpstreams;
use super::replay::Replayer;
use super::route::UpstreamDef;
use crate::charging::app::CreditControl;
use crate::diameter::answer::Origin;
use crate::diameter::transport::PeerTable;
use crate::inventory::Inventory;
use crate::resolver::index::iccid_string;

pub struct ProxySetup {
    pub app: ProxyApp,
    upstreams: Arc<PeerUpstreams>,
    replayer: Option<Replayer>,
}

fn in_flight(p: &ProxySection) -> InFlight {
    let each: Vec<(String, usize)> = p
        .upstream
        .iter()
        .map(|u| (u.origin_host.clone(), u.max_in_flight))
        .collect();
    InFlight::new(p.max_in_flight, &each)
}

/// What the journal holds at a start: the sessions that stay local until
/// the OCS acknowledged them, and the answers for retransmissions. A
/// journal that cannot be read is reported, and the node serves anyway:
/// the replayer reads it again every second.
fn load_journal(proxy: &Proxy, inventory: &Inventory) {
    let entries = inventory.journal();
    let answered = inventory.journal_answered();
    match (entries, answered) {
        (Ok(e), Ok(a)) => {
            if !e.is_empty() {
                tracing::info!(entries = e.len(), "failsafe journal to present upstream");
            }
            proxy.journal.load(&e, &a);
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "failsafe journal unreadable at start");
        }
    }
}

impl ProxySetup {
    /// `local` answers while no upstream answers (`on_upstream_down =
    /// "local"`); the journal of those answers is in `inventory`.
    pub fn new(
        p: &ProxySection,
        local: CreditControl,
        inventory: &Arc<Inventory>,
        origin: Origin,
    ) -> ProxySetup {
        let defs = p
            .upstream
            .iter()
            .map(|u| UpstreamDef {
                host: u.origin_host.clone(),
                priority: u.priority,
            })
            .collect();
        let upstreams = Arc::new(PeerUpstreams::default());
        let inv = inventory.clone();
        // Slot 1 of a profile never changes: look it up once.
        let cache: DashMap<u128, String> = DashMap::new();
        let home_imsi = Box::new(move |iccid: u128| {
            if let Some(i) = cache.get(&iccid) {
                return Some(i.clone());
            }
            let imsi = inv
                .profile(&iccid_string(iccid))
                .ok()??
                .imsis
                .first()?
                .clone();
            cache.insert(iccid, imsi.clone());
            Some(imsi)
        });
        let proxy = Arc::new(Proxy::new(
            local,
            upstreams.clone(),
            defs,
            p.identity,
            p.on_upstream_down,
            p.tx.0,
            home_imsi,
            in_flight(p),
            inventory.clone(),
        ));
        load_journal(&proxy, inventory);
        let replayer = (p.on_upstream_down == OnUpstreamDown::Local).then(|| Replayer {
            proxy: proxy.clone(),
            inventory: inventory.clone(),
            origin,
        });
        ProxySetup {
            app: ProxyApp(proxy),
            upstreams,
            replayer,
        }
    }

    /// Once the node exists: its peer table carries the forwarded requests.
    pub fn start(self, peers: Arc<PeerTable>) {
        let _ = self.upstreams.0.set(peers);
        if let Some(r) = self.replayer {
            r.spawn();
        }
        // Sessions that never ended (a lost CCR-T) are forgotten after a
        // day of silence, so the routing tables do not grow for ever.
        let proxy = self.app.0.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                proxy.sweep(proxy.local.clock.now());
            }
        });
    }
}
