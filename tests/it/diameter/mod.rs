//! The Diameter node: the codec's properties, the base protocol and the
//! request forms gateways send, malformed input, the M bit, requests gyro
//! sends (RAR, ASR), TLS, the node in-process, and interoperability with the
//! Erlang/OTP and freeDiameter stacks under tshark.

mod bad_input;
mod base_protocol;
mod codec_props;
mod in_process;
mod peers_interop;
mod request_forms;
mod server_initiated;
mod strict_m_bit;
mod tls;
