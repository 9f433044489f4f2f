//! gyro: a Diameter Gy/Ro online-charging node for multi-IMSI eSIM operators.

pub mod api;
pub mod charging;
pub mod cli;
pub mod config;
pub mod diameter;
pub mod events;
pub mod inventory;
pub mod lifecycle;
pub mod load;
pub mod model;
pub mod ota;
pub mod profilegen;
pub mod proxy;
pub mod rating;
pub mod resolver;
pub mod server;
pub mod smdp;
pub mod supervise;
pub mod views;
