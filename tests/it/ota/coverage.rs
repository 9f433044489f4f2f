//! A swap never moves a subscriber onto a network its bundle does not
//! cover: with the Balkan pass covering only Albania's 276 03, Partner W's
//! cheaper IMSI (whose only Albanian network is 276 02) is not a choice
//! there, and the profile keeps its Y IMSI.

use crate::support::ota::*;
use crate::support::ota_vendor::OtaDouble;
use crate::support::*;

#[test]
fn albania_keeps_the_y_imsi_when_the_pass_does_not_cover_w_s_network() {
    let double = OtaDouble::start();
    let g = Gyro::start_with_tail("ota-coverage", "", &ota_tail(&double));
    balkan_covers_only_276_03(&g);
    let who = api_get(&g, &format!("/api/v1/imsis/{Y_IMSI}"));
    let iccid = who["profile"]["iccid"].as_str().unwrap().to_string();
    located(&g, "mvne-cov-1", Y_IMSI, "276", "03");
    wait_for("the Albania decision", 15, || {
        !decisions(&g, &iccid).is_empty()
    });
    let d = &decisions(&g, &iccid)[0];
    assert_eq!(d["action"]["action"], "keep", "{d}");
    assert_eq!(d["action"]["reason"], "cheapest", "{d}");
    let w = pool_candidate(d, "partner-w").expect("dynamic W is a candidate");
    assert!(
        w["price"].is_null(),
        "W is not priced where the pass does not go: {d}"
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(swaps(&g, &iccid).is_empty() && double.swaps().is_empty());
}
