//! Capabilities exchange (RFC 6733 §5.3): what gyro says about itself in
//! CER/CEA, what it reads from the peer's, and which applications they share.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::BytesMut;

use crate::diameter::answer::Origin;
use crate::diameter::builder::MessageBuilder;
use crate::diameter::codes;
use crate::diameter::header::{application, command};
use crate::diameter::message::Message;

/// This node, as announced to peers.
#[derive(Debug)]
pub struct LocalNode {
    pub origin: Origin,
    pub host_ips: Vec<IpAddr>,
    pub vendor_id: u32,
    pub product_name: String,
    pub firmware_revision: u32,
    pub supported_vendors: Vec<u32>,
    pub auth_applications: Vec<u32>,
    end_to_end: AtomicU32,
}

impl LocalNode {
    pub fn new(
        origin: Origin,
        host_ips: Vec<IpAddr>,
        auth_applications: Vec<u32>,
        e2e_seed: u32,
    ) -> Self {
        LocalNode {
            origin,
            host_ips,
            vendor_id: 0,
            product_name: "gyro".into(),
            firmware_revision: firmware_revision(),
            supported_vendors: vec![crate::diameter::dictionary::VENDOR_3GPP],
            auth_applications,
            end_to_end: AtomicU32::new(e2e_seed),
        }
    }

    /// End-to-End identifiers: RFC 6733 §3 suggests the low 12 bits of the boot
    /// time in the high bits, so ids stay unique across restarts; the caller
    /// passes that seed.
    pub fn next_end_to_end(&self) -> u32 {
        self.end_to_end.fetch_add(1, Ordering::Relaxed)
    }

    fn write_capabilities(&self, b: &mut MessageBuilder<'_>) {
        b.utf8(codes::ORIGIN_HOST, &self.origin.host)
            .utf8(codes::ORIGIN_REALM, &self.origin.realm);
        for ip in &self.host_ips {
            b.address(codes::HOST_IP_ADDRESS, *ip);
        }
        b.u32(codes::VENDOR_ID, self.vendor_id)
            .utf8(codes::PRODUCT_NAME, &self.product_name)
            .u32(codes::ORIGIN_STATE_ID, self.origin.state_id);
        for v in &self.supported_vendors {
            b.u32(codes::SUPPORTED_VENDOR_ID, *v);
        }
        for a in &self.auth_applications {
            b.u32(codes::AUTH_APPLICATION_ID, *a);
        }
        b.u32(codes::FIRMWARE_REVISION, self.firmware_revision);
    }

    pub fn write_cer(&self, buf: &mut BytesMut, hop_by_hop: u32) {
        let mut b = MessageBuilder::request(
            buf,
            command::CAPABILITIES_EXCHANGE,
            application::COMMON,
            false,
            hop_by_hop,
            self.next_end_to_end(),
        );
        self.write_capabilities(&mut b);
        b.finish();
    }

    /// CEA for `cer`; a failure result carries Error-Message.
    pub fn write_cea(
        &self,
        buf: &mut BytesMut,
        cer: &Message<'_>,
        result_code: u32,
        error_message: Option<&str>,
    ) {
        let error = (3000..4000).contains(&result_code);
        let mut b = MessageBuilder::answer(buf, &cer.header, error);
        b.u32(codes::RESULT_CODE, result_code);
        self.write_capabilities(&mut b);
        if let Some(m) = error_message {
            b.utf8(codes::ERROR_MESSAGE, m);
        }
        b.finish();
    }
}

/// Firmware-Revision from the crate version: major*10000 + minor*100 + patch.
fn firmware_revision() -> u32 {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    a * 10000 + b * 100 + c
}

/// What a peer said about itself in its CER or CEA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerCapabilities {
    pub origin_host: String,
    pub origin_realm: String,
    pub host_ips: Vec<IpAddr>,
    pub vendor_id: u32,
    pub product_name: String,
    pub origin_state_id: Option<u32>,
    pub applications: Vec<u32>,
    pub supported_vendors: Vec<u32>,
}

impl PeerCapabilities {
    /// Reads a CER/CEA that already passed validation.
    pub fn read(m: &Message<'_>) -> PeerCapabilities {
        let mut c = PeerCapabilities::default();
        for a in m.avps().map_while(Result::ok).filter(|a| a.vendor == 0) {
            match a.code {
                264 => c.origin_host = a.utf8().unwrap_or_default().to_string(),
                296 => c.origin_realm = a.utf8().unwrap_or_default().to_string(),
                257 => c.host_ips.extend(a.address().ok()),
                266 => c.vendor_id = a.u32().unwrap_or(0),
                269 => c.product_name = a.utf8().unwrap_or_default().to_string(),
                278 => c.origin_state_id = a.u32().ok(),
                258 | 259 => c.applications.extend(a.u32().ok()),
                265 => c.supported_vendors.extend(a.u32().ok()),
                260 => {
                    // Vendor-Specific-Application-Id: its Vendor-Id does not matter here.
                    for m in a.grouped().map_while(Result::ok) {
                        if matches!(m.code, 258 | 259) && m.vendor == 0 {
                            c.applications.extend(m.u32().ok());
                        }
                    }
                }
                _ => {}
            }
        }
        c
    }

    /// Applications both sides support; a Relay peer supports them all.
    pub fn common_applications(&self, ours: &[u32]) -> Vec<u32> {
        if self.applications.contains(&application::RELAY) {
            return ours.to_vec();
        }
        ours.iter()
            .copied()
            .filter(|a| self.applications.contains(a))
            .collect()
    }
}
