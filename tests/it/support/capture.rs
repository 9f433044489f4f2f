//! tshark on loopback through the peers' `tshark/capture.sh`, and the
//! dissection of what it captured (`tshark/dissect.sh`): no malformed frame,
//! no Diameter expert warning, no unanswered request.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tshark capture on loopback for some ports.
pub struct Capture {
    pub pcap: PathBuf,
    script: PathBuf,
    ports: String,
    stopped: bool,
}

impl Capture {
    pub fn start(peers: &Path, dir: &Path, ports: &[u16]) -> Capture {
        let pcap = dir.join("capture.pcap");
        let ports: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
        let ports = ports.join(",");
        let script = peers.join("tshark/capture.sh");
        let ok = Command::new(&script)
            .arg("start")
            .arg(&pcap)
            .arg(&ports)
            .status()
            .unwrap();
        assert!(ok.success(), "tshark capture did not start");
        Capture {
            pcap,
            script,
            ports,
            stopped: false,
        }
    }

    /// Stops the capture and runs dissect.sh; returns (passed, output).
    pub fn dissect(&mut self, peers: &Path) -> (bool, String) {
        self.dissect_with(peers, &[])
    }

    /// As `dissect`, with dissect.sh options (`--avps`: every AVP listed).
    pub fn dissect_with(&mut self, peers: &Path, options: &[&str]) -> (bool, String) {
        if !self.stopped {
            let _ = Command::new(&self.script)
                .arg("stop")
                .arg(&self.pcap)
                .status();
            self.stopped = true;
        }
        let out = Command::new(peers.join("tshark/dissect.sh"))
            .arg(&self.pcap)
            .arg(&self.ports)
            .args(options)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = Command::new(&self.script)
                .arg("stop")
                .arg(&self.pcap)
                .status();
        }
    }
}
