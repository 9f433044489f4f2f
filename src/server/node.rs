//! The Diameter side of `gyro serve`: the node's settings, its TLS
//! certificates and CAs loaded and checked, the listeners and the peers it
//! dials.

use super::*;

/// The Diameter node's settings from `[diameter]`.
pub(super) fn node_settings(
    cfg: &Config,
    local: Arc<LocalNode>,
    dict: Arc<Dictionary>,
    relays: bool,
) -> NodeSettings {
    let d = &cfg.diameter;
    let rules = d.peer_rules(&upstreams(cfg));
    match rules.unknown() {
        UnknownPeers::Anyone => tracing::warn!(
            "accept_unknown_peers = true: ANY Diameter peer that reaches the port may connect, charge and refund; list the peers instead"
        ),
        UnknownPeers::Loopback => tracing::info!(
            "peers no [[diameter.peers]] entry names may connect from loopback only"
        ),
        UnknownPeers::Refuse => {}
    }
    if !d.strict_m_bit {
        tracing::info!("strict_m_bit = false: unknown M-bit AVPs and enumerated values are accepted and counted");
    }
    NodeSettings {
        local,
        dictionary: dict,
        conn: ConnConfig {
            tw: d.watchdog_interval.0,
            handshake_timeout: d.handshake_timeout.0,
            cer_timeout: d.cer_timeout.0,
            dpa_timeout: d.dpa_timeout.0,
            jitter_seed: rand::random::<u64>() | 1,
            validation: ValidateOptions {
                strict_m_bit: d.strict_m_bit,
            },
        },
        max_message_size: d.max_message_size,
        door: Door {
            rules,
            max_connections: d.max_connections,
            max_inflight: d.max_inflight,
        },
        reconnect_interval: d.reconnect_interval.0,
        wall_time: crate::model::clock::wall_time,
        shutdown_grace: d.shutdown_grace.0,
        relays,
    }
}

/// The proxy's upstreams (Origin-Host, the address gyro dials), which are
/// OCS peers; none in embedded mode.
fn upstreams(cfg: &Config) -> Vec<(&str, SocketAddr)> {
    if cfg.charging.mode != ChargingMode::Proxy {
        return vec![];
    }
    let up = cfg.proxy.upstream.iter();
    up.map(|u| (u.origin_host.as_str(), u.connect)).collect()
}

/// The TLS half of the configuration, with every file loaded and checked.
pub(super) struct TlsSetup {
    acceptor: Option<TlsAcceptor>,
    /// Every `[[diameter.peers]]` entry with `connect`, TLS options loaded.
    outbound: Vec<OutboundPeer>,
    /// Every `[[proxy.upstream]]` in proxy mode, TLS options loaded.
    pub(super) upstreams: Vec<OutboundPeer>,
}

pub(super) fn tls_setup(cfg: &Config) -> Result<TlsSetup, TlsError> {
    let n = &cfg.node;
    // gyro's certificate serves the listener and is its client certificate
    // when dialling over TLS.
    let identity = match (&n.tls_cert, &n.tls_key) {
        (Some(cert), Some(key)) => Some(Identity::load(cert, key)?),
        _ => None,
    };
    let acceptor = match (n.tls_listen, &identity) {
        (Some(_), Some(id)) => Some(tls::acceptor(id, n.tls_client_ca.as_deref())?),
        _ => None,
    };
    let id = identity.as_ref();
    let mut outbound = vec![];
    for (i, p) in cfg.diameter.peers.iter().enumerate() {
        let Some(address) = p.connect else { continue };
        let entry = format!("diameter.peers[{i}]");
        outbound.push(dial(&entry, &p.origin_host, address, p.tls_ca(), id)?);
    }
    let mut upstreams = vec![];
    if cfg.charging.mode == ChargingMode::Proxy {
        for (i, u) in cfg.proxy.upstream.iter().enumerate() {
            let ca = u.ca.as_deref().filter(|_| u.tls);
            let entry = format!("proxy.upstream[{i}]");
            upstreams.push(dial(&entry, &u.origin_host, u.connect, ca, id)?);
        }
    }
    Ok(TlsSetup {
        acceptor,
        outbound,
        upstreams,
    })
}

/// A peer gyro dials, over TLS when `tls_ca` is set.
fn dial(
    entry: &str,
    origin_host: &str,
    address: SocketAddr,
    tls_ca: Option<&Path>,
    identity: Option<&Identity>,
) -> Result<OutboundPeer, TlsError> {
    let tls = match tls_ca {
        Some(ca) => Some(TlsDial::new(
            &format!("{entry}.ca"),
            origin_host,
            ca,
            identity,
        )?),
        None => None,
    };
    Ok(OutboundPeer {
        origin_host: origin_host.to_string(),
        address,
        tls,
    })
}

/// Opens the Diameter listeners (TCP unless `node.listen` is empty, and TLS
/// when configured) and starts dialling the outbound peers.
pub(super) async fn start_diameter(
    cfg: &Config,
    node: &mut Node,
    tls: TlsSetup,
) -> anyhow::Result<()> {
    // The TLS port first: once the TCP port accepts, both are up.
    if let (Some(addr), Some(acceptor)) = (cfg.node.tls_listen, tls.acceptor) {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("node.tls_listen: cannot listen on {addr}"))?;
        let client_certificates = cfg.node.tls_client_ca.is_some();
        tracing::info!(addr = %listener.local_addr()?, client_certificates, "Diameter over TLS listening");
        node.listen_tls(listener, acceptor);
    }
    match cfg.node.listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("node.listen: cannot listen on {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, origin_host = %cfg.node.origin_host, "Diameter node listening");
            node.listen(listener);
        }
        None => {
            tracing::info!(origin_host = %cfg.node.origin_host, "node.listen is empty: Diameter over TLS only")
        }
    }
    for peer in tls.outbound {
        node.connect(peer);
    }
    Ok(())
}
