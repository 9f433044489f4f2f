//! Online charging by the embedded OCS: RFC 4006 conformance, the seed's
//! usage scenarios through the Erlang/OTP PGW, durability across kill -9 and
//! a failing store, retransmissions answered once across crashes, rating
//! reloads, and `gyro load`.

mod conformance;
mod durability;
mod load;
mod reload;
mod resend_steps;
mod retransmission;
mod scenarios;
mod store_failure;
mod xdr_log;
