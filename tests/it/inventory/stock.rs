//! The inventory on a real sled store: the seed scenario's stock figures,
//! onboarding by pool priority, imports that reject bad files whole, the
//! PortaBilling export, and concurrent onboarding of a pool's last profiles.

use std::sync::Arc;

use gyro::inventory::import::BatchSpec;
use gyro::inventory::seed;
use gyro::inventory::stock::StockBy;
use gyro::inventory::store::SledStore;
use gyro::inventory::{Inventory, InventoryError};
use gyro::model::*;

fn seeded() -> (Inventory, std::path::PathBuf) {
    let dir =
        std::env::temp_dir().join(format!("gyro-inv-{}-{}", std::process::id(), rand_suffix()));
    let store = Arc::new(SledStore::open(&dir).unwrap());
    let inv = Inventory::open(store).unwrap();
    let s = seed::parse(seed::EMBEDDED, "config/seed.toml").unwrap();
    assert!(inv.apply_seed(&s, "config/seed.toml").unwrap());
    (inv, dir)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) * 1000
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_micros() as u64
}

fn stock_of(inv: &Inventory, by: StockBy, name: &str) -> (u64, u64) {
    let l = inv
        .stock(by, 0)
        .unwrap()
        .into_iter()
        .find(|l| l.name == name)
        .unwrap();
    (l.available_profiles, l.dynamic_imsis)
}

#[test]
fn seed_stock_matches_the_story() {
    let (inv, _d) = seeded();
    // Stock: one EU account and one Balkan account are onboarded by the seed.
    assert_eq!(stock_of(&inv, StockBy::Sponsor, "Partner X"), (999, 0));
    assert_eq!(stock_of(&inv, StockBy::Sponsor, "Partner Y"), (9999, 0));
    assert_eq!(stock_of(&inv, StockBy::Sponsor, "Partner W"), (1000, 1000));
    assert_eq!(
        stock_of(&inv, StockBy::Product, "EU Neighbour - Andorra 7-Day Pass"),
        (999, 0)
    );
    assert_eq!(
        stock_of(&inv, StockBy::Product, "EU Neighbour - Andorra 30-Day Pass"),
        (999, 0)
    );
    assert_eq!(
        stock_of(&inv, StockBy::Product, "Balkan Traveller 10-Day Pass"),
        (9999 + 1000, 1000)
    );
    // The story's ICCID exists, Luhn-valid, in the X pool.
    let p = inv.profile("894910262010000012345").unwrap().unwrap();
    assert_eq!(p.pool, "Own+X for EU Neighbour - Andorra");
    assert_eq!(p.imsis, vec!["262019000000001", "213779000000001"]);
    // Onboarding: the first account got it; the resolver knows it by either IMSI.
    let acc = inv
        .index()
        .resolve_imsi("213779000000001", None, 0)
        .unwrap();
    assert_eq!(
        p.state,
        ProfileState::Assigned {
            account: acc.account
        }
    );
    // Seeding twice does nothing.
    let s = seed::parse(seed::EMBEDDED, "config/seed.toml").unwrap();
    assert!(!inv.apply_seed(&s, "config/seed.toml").unwrap());
}

#[test]
fn onboarding_takes_pools_by_priority_and_depletes_stock() {
    let (inv, _d) = seeded();
    // Pool priority: Balkan lists Own+Y (priority 1) before Own+W (2).
    let (acc, prof) = inv
        .onboard("test", "Balkan Traveller 10-Day Pass", None)
        .unwrap();
    assert_eq!(prof.pool, "Own+Y for Balkan Traveller");
    assert_eq!(prof.state, ProfileState::Assigned { account: acc.id });
    assert_eq!(stock_of(&inv, StockBy::Sponsor, "Partner Y"), (9998, 0));
    // The resolver sees it at once.
    let sub = inv.index().resolve_imsi(&prof.imsis[1], None, 0).unwrap();
    assert_eq!(sub.account, acc.id);
    let err = inv.onboard("test", "No Such Product", None).unwrap_err();
    assert!(matches!(err, InventoryError::NotFound { .. }), "{err}");
    let err = inv
        .onboard("test", "Balkan Traveller 10-Day Pass", Some("491700000002"))
        .unwrap_err();
    assert!(matches!(err, InventoryError::Conflict(_)), "{err}");
}

#[test]
fn concurrent_onboarding_never_assigns_a_profile_twice() {
    let dir = std::env::temp_dir().join(format!(
        "gyro-inv-conc-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let inv = Arc::new(Inventory::open(Arc::new(SledStore::open(&dir).unwrap())).unwrap());
    let s = seed::parse(
        r#"
[[sponsor]]
id = "own"
name = "Own"
plmns = ["26201"]
[[product]]
name = "P"
[[pool]]
name = "small"
products = [{ product = "P", priority = 1 }]
[[batch]]
name = "b"
sponsor = "own"
first = "262010000000001"
count = 20
[[profiles]]
pool = "small"
count = 20
iccid_prefix = "8949000000"
batches = ["b"]
transport_key_label = "K"
"#,
        "small.toml",
    )
    .unwrap();
    inv.apply_seed(&s, "small.toml").unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let inv = inv.clone();
            std::thread::spawn(move || {
                let mut got = vec![];
                while let Ok((_, p)) = inv.onboard("t", "P", None) {
                    got.push(p.iccid);
                }
                got
            })
        })
        .collect();
    let mut all: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(all.len(), 20);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20, "a profile was assigned twice");
    assert!(matches!(
        inv.onboard("t", "P", None),
        Err(InventoryError::OutOfStock(_))
    ));
}

#[test]
fn bad_batch_files_are_rejected_whole_with_line_numbers() {
    let (inv, _d) = seeded();
    let spec = BatchSpec {
        sponsor: "partner-x",
        name: "bad",
        recycling: false,
        end_of_life: false,
    };
    let csv = "imsi\n213779100000001\n21377x100000002\n21377\n213779100000001\n262019100000005\n213779000000001\n1234567890123456\n";
    let err = inv
        .import_batch("t", &spec, "bad.csv", csv.as_bytes(), &|_| {})
        .unwrap_err();
    let InventoryError::Rejected { file, errors } = err else {
        panic!("{err}")
    };
    assert_eq!(file, "bad.csv");
    let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    assert_eq!(got[0], (3, "digits only"));
    assert_eq!(got[1].0, 4);
    assert_eq!(got[2], (5, "duplicate of line 2"));
    assert!(got[3].0 == 6 && got[3].1.contains("outside sponsor partner-x"));
    assert_eq!(got[4], (7, "already in the inventory"));
    assert_eq!(got[5], (8, "must be 6 to 15 digits long"));
    // Nothing of it was written.
    assert!(inv.imsi("213779100000001").unwrap().is_none());
    // A good file imports.
    let ok = inv
        .import_batch(
            "t",
            &spec,
            "good.csv",
            "213779100000001\n213779100000002\n".as_bytes(),
            &|_| {},
        )
        .unwrap();
    assert_eq!(ok.imported, 2);
    assert_eq!(
        inv.imsi("213779100000002").unwrap().unwrap().state,
        ImsiState::Available
    );
}

#[test]
fn bad_profile_files_are_rejected_whole_and_secrets_never_echoed() {
    let (inv, _d) = seeded();
    let spec = BatchSpec {
        sponsor: "own",
        name: "extra",
        recycling: false,
        end_of_life: false,
    };
    inv.import_batch(
        "t",
        &spec,
        "x.csv",
        "262015000000001\n262015000000002\n262015000000003\n".as_bytes(),
        &|_| {},
    )
    .unwrap();
    let csv = "iccid,imsi1,ki,opc,pin1,puk1,pin2,puk2,transport_key_label\n\
               8949102620100000126,262015000000001,D07F9224CB230F5EDE645CA0D98C9CDB,F94DEB6986F99DEC02374C58E1B1547D,1111,11111111,2222,22222222,K\n\
               8949102620100000125,262015000000002,D07F9224CB230F5EDE645CA0D98C9CDB,F94DEB6986F99DEC02374C58E1B1547D,1111,11111111,2222,22222222,K\n\
               8949102620100000134,262015000000001,SECRETSECRET,F94DEB6986F99DEC02374C58E1B1547D,1111,11111111,2222,22222222,K\n";
    let err = inv
        .import_profiles(
            "t",
            "Own+X for EU Neighbour - Andorra",
            "p.csv",
            csv.as_bytes(),
            &|_| {},
        )
        .unwrap_err();
    let InventoryError::Rejected { errors, .. } = err else {
        panic!()
    };
    assert_eq!((errors[0].line, errors[0].field.as_str()), (3, "iccid"));
    assert!(errors
        .iter()
        .any(|e| e.line == 4 && e.field == "ki" && e.value == "<redacted>"));
    assert!(errors
        .iter()
        .any(|e| e.line == 4 && e.field == "imsi1" && e.reason == "used twice in this file"));
    assert!(!format!("{errors:?}").contains("SECRETSECRET"));
    assert!(inv.profile("8949102620100000126").unwrap().is_none());
    assert_eq!(
        inv.imsi("262015000000001").unwrap().unwrap().state,
        ImsiState::Available
    );
}

#[test]
fn export_has_one_portabilling_row_per_imsi() {
    let (inv, _d) = seeded();
    let mut out = vec![];
    let rows = inv.export_portabilling(&mut out).unwrap();
    assert_eq!(rows, 2 * 12_000);
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "Action,IMSI,ICCID,KI,OPC,AMF,PIN1,PUK1,PIN2,PUK2,Description"
    );
    let row = text
        .lines()
        .find(|l| l.contains("894910262010000012345"))
        .unwrap();
    assert!(
        row.starts_with("add,262019000000001,894910262010000012345,"),
        "{row}"
    );
    assert!(row.contains(",8000,1111,11111111,2222,22222222,"), "{row}");
}
