//! A Diameter node in-process on the built-in dictionaries, serving the
//! applications a test gives it (no `gyro serve`, no config file).

use std::time::Duration;

/// A Diameter node in-process on the built-in dictionaries, serving `apps`.
pub fn in_process_node(
    apps: Vec<std::sync::Arc<dyn gyro::diameter::transport::Application>>,
) -> gyro::diameter::transport::Node {
    use gyro::diameter::peer::{ConnConfig, LocalNode};
    use gyro::diameter::transport::{Door, Node, NodeSettings};
    let local = std::sync::Arc::new(LocalNode::new(
        gyro::diameter::answer::Origin {
            host: "gyro.test.local".into(),
            realm: "test.local".into(),
            state_id: 1,
        },
        vec!["127.0.0.1".parse().unwrap()],
        vec![4],
        1,
    ));
    Node::new(
        NodeSettings {
            local,
            dictionary: std::sync::Arc::new(gyro::diameter::Dictionary::builtin()),
            conn: ConnConfig::default(),
            max_message_size: 65536,
            door: Door::default(),
            reconnect_interval: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            relays: false,
            wall_time: gyro::model::clock::wall_time,
        },
        apps,
    )
}

/// The admin API's state over `inventory` alone: every service absent
/// (a test sets the ones it serves with struct update syntax).
pub fn api_state(
    inventory: std::sync::Arc<gyro::inventory::Inventory>,
    token: &str,
) -> gyro::api::ApiState {
    gyro::api::ApiState {
        inventory,
        engine: None,
        rating: None,
        server_initiated: None,
        token: token.into(),
        stock_alert_below: 100,
        events: None,
        lifecycle: None,
        orders: None,
        orders_created: None,
        location: None,
    }
}

/// Serves the admin API on `rt` from a free loopback port: its address.
pub fn serve_api(rt: &tokio::runtime::Runtime, state: gyro::api::ApiState) -> std::net::SocketAddr {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = gyro::api::router(std::sync::Arc::new(state));
    rt.spawn(async move { axum::serve(listener, app).await });
    addr
}
