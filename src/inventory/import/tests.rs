//! IMSI batch imports: what a rejected file leaves (nothing), and what a
//! crash in the middle of a big one leaves after the next start (nothing).

use std::sync::Arc;

use super::*;
use crate::inventory::fixtures::seeded;
use crate::inventory::store::SledStore;

fn spec(name: &str) -> BatchSpec<'_> {
    BatchSpec {
        sponsor: "own",
        name,
        recycling: false,
        end_of_life: false,
    }
}

fn import(inv: &Inventory, name: &str, csv: &str) -> Result<ImportReport, InventoryError> {
    inv.import_batch("test", &spec(name), "b.csv", csv.as_bytes(), &|_| {})
}

#[test]
fn a_file_listing_an_imsi_twice_is_refused_whole_naming_both_lines() {
    let inv = seeded();
    let csv = "imsi\n262015000000001\n262015000000002\n262015000000001\n262015000000002\n";
    let Err(InventoryError::Rejected { errors, .. }) = import(&inv, "twice", csv) else {
        panic!("accepted a file with duplicates");
    };
    let seen: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    assert_eq!(
        seen,
        [(4, "duplicate of line 2"), (5, "duplicate of line 3")]
    );
    assert_eq!(errors[0].value, "262015000000001");
    assert!(!inv.store.exists("imsi/262015000000001").unwrap());
    assert!(!inv.store.exists("batch/twice").unwrap());
}

#[test]
fn a_batch_bigger_than_one_write_is_whole_and_indexed() {
    let inv = seeded();
    let n = CHUNK as u64 * 2 + 7;
    let csv: String = (0..n)
        .map(|i| format!("{}\n", 262_015_000_000_001 + i))
        .collect();
    assert_eq!(import(&inv, "big", &csv).unwrap().imported, n);
    let batch: ImsiBatch = inv.store.get("batch/big").unwrap().unwrap();
    assert_eq!(batch.count, n);
    assert_eq!(inv.batch_imsis("big").unwrap().len() as u64, n);
    assert!(inv.store.scan::<String>(IMPORTING).unwrap().is_empty());
    let last = format!("{}", 262_015_000_000_000 + n);
    let i = inv.index().imsi(last.parse().unwrap());
    assert!(i.is_some(), "the index knows the last IMSI");
}

#[test]
fn an_import_a_crash_cut_short_is_taken_back_at_the_next_start() {
    let store = Arc::new(SledStore::temporary().unwrap());
    let inv = Inventory::open(store.clone()).unwrap();
    let s = crate::inventory::seed::parse(crate::inventory::seed::EMBEDDED, "seed").unwrap();
    assert!(inv.apply_seed(&s, "seed").unwrap());
    // What a crash after the marker and a first chunk leaves.
    let batch = ImsiBatch {
        name: "cut".into(),
        sponsor: "own".into(),
        recycling: false,
        end_of_life: false,
        count: 3,
        imported_at: 0,
    };
    let mut b = WriteBatch::default();
    b.put(format!("{IMPORTING}cut"), &"cut".to_string());
    inv.commit(b).unwrap();
    let listed: Vec<Listed> = (1..=2)
        .map(|i| Listed {
            value: 262_015_000_000_000 + i,
            line: i as u32,
            digits: 15,
        })
        .collect();
    inv.write_imsis(&batch, &listed).unwrap();
    assert!(inv.store.exists("imsi/262015000000001").unwrap());
    drop(inv);

    let inv = Inventory::open(store).unwrap();
    assert!(!inv.store.exists("imsi/262015000000001").unwrap());
    assert!(inv.store.scan::<String>(IMPORTING).unwrap().is_empty());
    // The name and the IMSIs are free for the file to be imported again.
    let csv = "262015000000001\n262015000000002\n262015000000003\n";
    assert_eq!(import(&inv, "cut", csv).unwrap().imported, 3);
}
