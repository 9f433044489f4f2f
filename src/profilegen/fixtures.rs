//! Orders and Standard rows for the file tests: the story's Own+X pool with
//! Luhn-valid ICCIDs and consecutive IMSIs per slot.

use super::{OrderProfile, OrderView, ProfileRow};
use crate::model::{luhn_digit, Secret};

/// An order of `n` profiles with `k` IMSIs each.
pub(crate) fn order(n: usize, k: usize) -> OrderView {
    let profiles = (0..n)
        .map(|i| {
            let payload = format!("894910262010{i:07}");
            OrderProfile {
                iccid: format!("{payload}{}", luhn_digit(&payload)),
                imsis: (0..k).map(|s| format!("2{s}{:013}", i + 1)).collect(),
            }
        })
        .collect();
    OrderView {
        customer: "Local MNO".into(),
        pool: "Own+X for EU Neighbour - Andorra".into(),
        order_id: "17".into(),
        transport_key: "MNO.PROD.SM.TRK.AES".into(),
        imsis_per_profile: k,
        profiles,
    }
}

/// What a well-behaved SM-DP+ sends back for `order`.
pub(crate) fn rows(order: &OrderView) -> Vec<ProfileRow> {
    order
        .profiles
        .iter()
        .enumerate()
        .map(|(i, p)| ProfileRow {
            iccid: p.iccid.clone(),
            imsis: p.imsis.clone(),
            ki: Secret(format!("D07F9224CB230F5EDE645CA0{i:08X}")),
            opc: Secret(format!("F94DEB6986F99DEC02374C58{i:08X}")),
            pin1: Secret("1111".into()),
            puk1: Secret("11111111".into()),
            pin2: Secret("2222".into()),
            puk2: Secret("22222222".into()),
        })
        .collect()
}
