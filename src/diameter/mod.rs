//! The Diameter layer (RFC 6733): codec, dictionaries, validation, peers and
//! transport. It knows nothing of charging or subscribers.

pub mod answer;
pub mod avp;
pub mod builder;
pub mod codes;
pub mod dictionary;
pub mod dump;
pub mod framer;
pub mod header;
pub mod message;
pub mod peer;
pub mod transport;
pub mod validate;
pub mod value;

pub use avp::{Avp, AvpIter};
pub use builder::{AvpDef, MessageBuilder};
pub use dictionary::Dictionary;
pub use framer::Framer;
pub use header::Header;
pub use message::Message;
