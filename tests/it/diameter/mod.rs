//! The Diameter node: the codec's properties, the base protocol and the
//! request forms gateways send, malformed input, the M bit, requests gyro
//! sends (RAR, ASR), TLS, the node in-process, interoperability with the
//! Erlang/OTP and freeDiameter stacks under tshark, and the door: who may
//! connect and send what (`admission`), TLS tied to identities
//! (`door_tls`), and the caps on connections and requests (`door_load`).

mod admission;
mod bad_input;
mod base_protocol;
mod codec_props;
mod door_load;
mod door_tls;
mod in_process;
mod peers_interop;
mod request_forms;
mod server_initiated;
mod strict_m_bit;
mod tls;
