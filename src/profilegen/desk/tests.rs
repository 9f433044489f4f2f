//! Orders through the desk on the seed's inventory, without sockets: the
//! story's Own+X order and its files, the errors that reserve nothing,
//! cancelling, and a rejected Standard file followed by a good one.

use std::sync::Arc;

use super::{DeskError, OrderDesk};
use crate::inventory::import::BatchSpec;
use crate::inventory::orders::OrderRequest;
use crate::inventory::stock::StockBy;
use crate::inventory::store::SledStore;
use crate::inventory::Inventory;
use crate::model::order::OrderState;
use crate::model::*;
use crate::profilegen::{fixtures, write_standard, OrderView};

const POOL: &str = "Own+X for EU Neighbour - Andorra";

fn desk() -> OrderDesk {
    let inv = Inventory::open(Arc::new(SledStore::temporary().unwrap())).unwrap();
    let s = crate::inventory::seed::parse(crate::inventory::seed::EMBEDDED, "seed").unwrap();
    assert!(inv.apply_seed(&s, "seed").unwrap());
    for (sponsor, name, first) in [
        ("own", "1000-Own-2026", 262015000000001u64),
        ("partner-x", "1000-X-2026", 213775000000001),
    ] {
        let csv: String = (0..1000).map(|i| format!("{}\n", first + i)).collect();
        let spec = BatchSpec {
            sponsor,
            name,
            recycling: true,
            end_of_life: false,
        };
        inv.import_batch("t", &spec, "b.csv", csv.as_bytes(), &|_| {})
            .unwrap();
    }
    let rating = Arc::new(
        crate::rating::source::RatingSource::new(None)
            .load()
            .unwrap(),
    );
    // The shipped [profiles]: prefix 894910262013, 20 digits.
    let settings = crate::inventory::orders::OrderSettings {
        iccid_prefix: "894910262013".into(),
        iccid_digits: 20,
        customer: "Local MNO".into(),
        transport_key: "MNO.PROD.SM.TRK.AES".into(),
    };
    OrderDesk::new(
        Arc::new(inv),
        Arc::new(move || Ok(rating.clone())),
        settings,
        None,
    )
}

fn request(count: u32, batches: &[(usize, &str)]) -> OrderRequest {
    OrderRequest {
        pool: POOL.into(),
        count,
        imsis_per_profile: batches.len(),
        batches: batches.iter().map(|(p, b)| (*p, b.to_string())).collect(),
        least_cost: true,
        profit_guarantee: true,
    }
}

fn iccid(serial: u32) -> String {
    let payload = format!("894910262013{serial:07}");
    format!("{payload}{}", luhn_digit(&payload))
}

const STORY: [(usize, &str); 2] = [(1, "1000-Own-2026"), (2, "1000-X-2026")];

fn pool_stock(inv: &Inventory) -> u64 {
    let lines = inv.stock(StockBy::Product, 0).unwrap();
    let l = lines
        .iter()
        .find(|l| l.name == "EU Neighbour - Andorra 7-Day Pass");
    l.unwrap().available_profiles
}

#[test]
fn the_story_order_reserves_its_imsis_and_its_standard_file_fills_the_pool() {
    let d = desk();
    let inv = d.inventory().clone();
    let before = pool_stock(&inv);
    let order = d.create("t", &request(1000, &STORY)).unwrap();
    assert_eq!(order.profiles.len(), 1000);
    let first = &order.profiles[0];
    assert_eq!(first.iccid, iccid(1), "prefix, serial 1, Luhn");
    assert!(order
        .profiles
        .iter()
        .all(|p| luhn_valid(&p.iccid) && p.iccid.len() == 20));
    assert_eq!(first.imsis, ["262015000000001", "213775000000001"]);
    let rec = inv.imsi("213775000000001").unwrap().unwrap();
    assert_eq!(rec.state, ImsiState::Reserved { order: order.id });
    let input = inv.order_input(order.id).unwrap();
    for rule in ["262 01 IMSI1 high", "213 77 IMSI2 high", "213 78 IMSI2 med"] {
        assert!(
            input.contains(&format!("\n{rule}\n")),
            "{rule} in\n{}",
            &input[..400]
        );
    }
    assert!(input.contains(&format!("Batch No: {}\nQuantity: 1000\n", order.id)));

    let view = OrderView::from(&order);
    let standard = write_standard(&view, &fixtures::rows(&view)).unwrap();
    let taken = d.ingest("t", "out/Standard_1.txt", &standard).unwrap();
    assert_eq!(
        (taken.order, taken.profiles, taken.kind),
        (order.id, 1000, "standard")
    );
    assert_eq!(pool_stock(&inv), before + 1000);
    let p = inv.profile(&first.iccid).unwrap().unwrap();
    assert_eq!((p.state, p.pool.as_str()), (ProfileState::Available, POOL));
    assert_eq!(p.transport_key_label, "MNO.PROD.SM.TRK.AES");
    let rec = inv.imsi("213775000000001").unwrap().unwrap();
    assert!(matches!(rec.state, ImsiState::Embedded { slot: 2, .. }));
    assert!(matches!(
        inv.order(order.id).unwrap().state,
        OrderState::Ingested { .. }
    ));
    // The same file read again (a crash before it was moved) is a
    // duplicate; another file for the closed order is refused. Neither
    // changes anything.
    let again = d.ingest("t", "out/Standard_1.txt", &standard);
    assert!(
        matches!(again, Err(DeskError::Duplicate { order: o }) if o == order.id),
        "{again:?}"
    );
    let mut other = fixtures::rows(&view);
    other.pop();
    let other = write_standard(&view, &other).unwrap();
    let e = d.ingest("t", "other.txt", &other).unwrap_err().to_string();
    assert!(e.contains("is ingested"), "{e}");
    assert_eq!(pool_stock(&inv), before + 1000);
}

#[test]
fn a_standard_file_with_other_keys_for_an_ingested_order_is_no_duplicate() {
    let d = desk();
    let order = d.create("t", &request(5, &STORY)).unwrap();
    let view = OrderView::from(&order);
    let rows = fixtures::rows(&view);
    let standard = write_standard(&view, &rows).unwrap();
    d.ingest("t", "Standard_1.txt", &standard).unwrap();
    // The SM-DP+ generated the order again: valid rows, other keys.
    let mut again = rows.clone();
    again[4].ki = Secret("00112233445566778899AABBCCDDEEFF".into());
    let again = write_standard(&view, &again).unwrap();
    match d.ingest("t", "Standard_2.txt", &again) {
        Err(DeskError::Rejected {
            order: Some(id),
            errors,
            ..
        }) => {
            assert_eq!(id, order.id);
            let e = errors.to_string();
            assert!(
                e.contains("is ingested from a file with other values"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    let p = d
        .inventory()
        .profile(&order.profiles[4].iccid)
        .unwrap()
        .unwrap();
    assert_eq!(p.ki, rows[4].ki, "the loaded keys stay");
    let dup = d.ingest("t", "Standard_1.txt", &standard);
    assert!(matches!(dup, Err(DeskError::Duplicate { .. })), "{dup:?}");
}

#[test]
fn a_refused_order_reserves_and_numbers_nothing() {
    let d = desk();
    let inv = d.inventory().clone();
    let cases = [
        (request(10, &[(1, "1000-Own-2026")]), "2 IMSI positions"),
        (
            request(10, &[(1, "1000-Own-2026"), (2, "1000-Own-2026")]),
            "takes sponsor 'partner-x'",
        ),
        (
            request(1001, &STORY),
            "has 1000 available IMSIs; the order needs 1001",
        ),
        (
            request(10, &[(1, "1000-Own-2026"), (3, "1000-X-2026")]),
            "position 3",
        ),
        (
            request(10, &[(1, "no-such-batch"), (2, "1000-X-2026")]),
            "no-such-batch",
        ),
    ];
    for (req, want) in cases {
        let e = d.create("t", &req).unwrap_err().to_string();
        assert!(e.contains(want), "{e} should say {want}");
    }
    let mut k11 = request(10, &STORY);
    k11.imsis_per_profile = 11;
    assert!(d
        .create("t", &k11)
        .unwrap_err()
        .to_string()
        .contains("1 to 10"));
    assert!(inv.orders().unwrap().is_empty());
    let rec = inv.imsi("262015000000001").unwrap().unwrap();
    assert_eq!(rec.state, ImsiState::Available);
    let order = d.create("t", &request(1, &STORY)).unwrap();
    assert_eq!(order.profiles[0].iccid, iccid(1), "serial 1 still free");
}

#[test]
fn cancelling_gives_the_imsis_back_and_never_reuses_the_iccids() {
    let d = desk();
    let inv = d.inventory().clone();
    let first = d.create("t", &request(1000, &STORY)).unwrap();
    assert!(d.create("t", &request(1, &STORY)).is_err(), "all reserved");
    let cancelled = inv.cancel_order("t", first.id).unwrap();
    assert!(matches!(cancelled.state, OrderState::Cancelled { .. }));
    let rec = inv.imsi("262015000000001").unwrap().unwrap();
    assert_eq!(rec.state, ImsiState::Available);
    let second = d.create("t", &request(1000, &STORY)).unwrap();
    assert_eq!(second.profiles[0].imsis, first.profiles[0].imsis);
    assert_eq!(second.profiles[0].iccid, iccid(1001));
    // A Standard file for the cancelled order loads nothing.
    let view = OrderView::from(&first);
    let standard = write_standard(&view, &fixtures::rows(&view)).unwrap();
    assert!(d.ingest("t", "s.txt", &standard).is_err());
    assert!(inv.profile(&first.profiles[0].iccid).unwrap().is_none());
}

#[test]
fn a_bad_standard_file_changes_nothing_and_the_order_stays_open() {
    let d = desk();
    let inv = d.inventory().clone();
    let before = pool_stock(&inv);
    let order = d.create("t", &request(20, &STORY)).unwrap();
    let view = OrderView::from(&order);
    let mut rows = fixtures::rows(&view);
    rows.pop();
    let short = write_standard(&view, &rows).unwrap();
    match d.ingest("t", "short.txt", &short) {
        Err(DeskError::Rejected {
            order: Some(id),
            errors,
            ..
        }) => {
            assert_eq!(id, order.id);
            assert!(
                errors.to_string().contains("ordered but not in the file"),
                "{errors}"
            );
        }
        other => panic!("{other:?}"),
    }
    let now = inv.order(order.id).unwrap();
    assert!(matches!(now.state, OrderState::Rejected { .. }));
    assert_eq!(now.rejections[0].file, "short.txt");
    assert_eq!(pool_stock(&inv), before);
    assert!(inv.profile(&order.profiles[0].iccid).unwrap().is_none());
    let good = write_standard(&view, &fixtures::rows(&view)).unwrap();
    assert_eq!(d.ingest("t", "good.txt", &good).unwrap().profiles, 20);
    assert_eq!(pool_stock(&inv), before + 20);
}

#[test]
fn perso_rows_are_kept_per_iccid() {
    let d = desk();
    let inv = d.inventory().clone();
    let order = d.create("t", &request(3, &STORY)).unwrap();
    let view = OrderView::from(&order);
    let rows: Vec<Vec<String>> = order
        .profiles
        .iter()
        .map(|p| vec![p.iccid.clone(), format!("MID-{}", p.iccid)])
        .collect();
    let file =
        crate::profilegen::perso::write_perso(&view, &["ICCID", "MATCHING_ID"], &rows).unwrap();
    let taken = d.ingest("t", "Perso_1.txt", &file).unwrap();
    assert_eq!((taken.kind, taken.profiles), ("perso", 3));
    let p = inv.perso(&order.profiles[1].iccid).unwrap().unwrap();
    let want = (
        "MATCHING_ID".to_string(),
        crate::model::Secret(format!("MID-{}", order.profiles[1].iccid)),
    );
    assert_eq!(p.fields, vec![want]);
    assert!(inv.order(order.id).unwrap().perso);
}
