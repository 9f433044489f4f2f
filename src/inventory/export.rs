//! Export in PortaBilling's SIM inventory upload layout, one row per IMSI of
//! every profile, so that the two inventories can be reconciled.

use std::io::Write;

use super::store::{decode, StorageExt};
use super::{Inventory, InventoryError};
use crate::model::{Imsi, Profile, ProfileState};

pub const PORTABILLING_COLUMNS: &[&str] = &[
    "Action",
    "IMSI",
    "ICCID",
    "KI",
    "OPC",
    "AMF",
    "PIN1",
    "PUK1",
    "PIN2",
    "PUK2",
    "Description",
];

/// AMF written for every row: the usual value for Milenage profiles.
const AMF: &str = "8000";

impl Inventory {
    /// Writes the export; returns the number of rows. This file carries
    /// secrets (Ki/OPc ciphertext, PINs, PUKs): the caller decides where it goes.
    pub fn export_portabilling(&self, out: impl Write) -> Result<u64, InventoryError> {
        let mut w = csv::Writer::from_writer(out);
        let io = |e: csv::Error| InventoryError::Export(e.to_string());
        w.write_record(PORTABILLING_COLUMNS).map_err(io)?;
        let mut rows = 0;
        for r in self.store.scan_raw(b"profile/") {
            let (k, v) = r?;
            let p: Profile = decode(&k, &v)?;
            if p.state == ProfileState::Disposed {
                continue;
            }
            for (slot, imsi) in p.imsis.iter().enumerate() {
                let sponsor = self
                    .store
                    .get::<Imsi>(&format!("imsi/{imsi}"))?
                    .map(|i| i.sponsor)
                    .unwrap_or_default();
                let state = match p.state {
                    ProfileState::Available => "available".to_string(),
                    ProfileState::Assigned { account } => format!("account {account}"),
                    ProfileState::Disposed => "disposed".to_string(),
                };
                let desc = format!(
                    "Profile ICCID {}; pool {}; IMSI {}; sponsor {sponsor}; {state}",
                    p.iccid,
                    p.pool,
                    slot + 1
                );
                w.write_record([
                    "add",
                    imsi,
                    &p.iccid,
                    p.ki.expose(),
                    p.opc.expose(),
                    AMF,
                    p.pin1.expose(),
                    p.puk1.expose(),
                    p.pin2.expose(),
                    p.puk2.expose(),
                    &desc,
                ])
                .map_err(io)?;
                rows += 1;
            }
        }
        w.flush()
            .map_err(|e| InventoryError::Export(e.to_string()))?;
        Ok(rows)
    }
}
