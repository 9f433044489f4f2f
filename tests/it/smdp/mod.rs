//! eSIM profile orders and the SM-DP+ files: orders over the API and CLI,
//! the sFTP transport against Debian's sshd, and the exchange end to end.

mod exchange;
mod order_steps;
mod profile_orders;
mod profiles_cli;
mod refused_orders;
mod sftp;
