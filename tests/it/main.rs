//! gyro's integration tests, in one test binary: real `gyro serve`
//! processes on loopback sockets, the third-party Diameter peers
//! (Erlang/OTP, freeDiameter, tshark), Debian daemons (webhook, sshd) and
//! in-process nodes over stores that fail on demand. One module per
//! capability; `support` is the shared harness; `docs` and `layers` check
//! the documentation and the imports between src/ modules. docs/testing.md
//! says how to run them and what each module needs.

mod api;
mod charging;
mod diameter;
mod docs;
mod events;
mod faults;
mod inventory;
mod layers;
mod lifecycle;
mod ota;
mod proxy;
mod smdp;
mod support;
