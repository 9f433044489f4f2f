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
