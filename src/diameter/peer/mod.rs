//! Diameter peers: capabilities exchange, the per-connection state machine and
//! the RFC 3539 watchdog. All sans-IO; `transport` drives them with tokio.

pub mod admission;
pub mod capabilities;
pub mod connection;
pub mod watchdog;

pub use admission::{PeerRole, PeerRules};
pub use capabilities::{LocalNode, PeerCapabilities};
pub use connection::{
    Action, Admission, CloseReason, ConnConfig, ConnState, PeerConnection, PeerPolicy, Role,
};
pub use watchdog::WatchdogState;
