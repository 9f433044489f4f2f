//! Random grouped-AVP trees, built with and without closures, read back
//! member by member at every depth.

use super::*;

#[derive(Debug, Clone)]
enum Tree {
    Leaf { def: AvpDef, data: Vec<u8> },
    Group { def: AvpDef, members: Vec<Tree> },
}

fn tree_def() -> impl Strategy<Value = AvpDef> {
    let vendor = prop_oneof![Just(0u32), Just(10415u32), any::<u32>()];
    (
        any::<u32>(),
        vendor,
        prop::sample::select(vec![0, M, P, M | P]),
    )
        .prop_map(|(code, vendor, flags)| AvpDef {
            code,
            vendor,
            flags,
        })
}

/// At most four AVP levels (three of groups, then leaves), at most five members each.
fn tree() -> impl Strategy<Value = Tree> {
    let leaf =
        (tree_def(), vec(any::<u8>(), 0..40)).prop_map(|(def, data)| Tree::Leaf { def, data });
    leaf.prop_recursive(3, 64, 5, |inner| {
        (tree_def(), vec(inner, 0..=5)).prop_map(|(def, members)| Tree::Group { def, members })
    })
}

fn hdr_len(def: AvpDef) -> usize {
    if def.vendor != 0 {
        12
    } else {
        8
    }
}

/// Octets the tree takes on the wire, padding included.
fn wire_len(t: &Tree) -> usize {
    match t {
        Tree::Leaf { def, data } => (hdr_len(*def) + data.len()).div_ceil(4) * 4,
        Tree::Group { def, members } => hdr_len(*def) + members.iter().map(wire_len).sum::<usize>(),
    }
}

fn encode(b: &mut MessageBuilder<'_>, t: &Tree, closures: bool) {
    match t {
        Tree::Leaf { def, data } => {
            b.octets(*def, data);
        }
        Tree::Group { def, members } if closures => {
            b.group(*def, |b| {
                for m in members {
                    encode(b, m, closures);
                }
            });
        }
        Tree::Group { def, members } => {
            let g = b.open_group(*def);
            for m in members {
                encode(b, m, closures);
            }
            b.close_group(g);
        }
    }
}

fn check_tree(it: AvpIter<'_>, expected: &[Tree]) -> Result<(), TestCaseError> {
    let got: Vec<Avp<'_>> = it
        .collect::<Result<_, _>>()
        .map_err(|e| TestCaseError::fail(format!("framing error {e:?}")))?;
    prop_assert_eq!(got.len(), expected.len());
    for (a, t) in got.iter().zip(expected) {
        match t {
            Tree::Leaf { def, data } => {
                check_avp_header(a, *def)?;
                prop_assert_eq!(a.data(), &data[..]);
            }
            Tree::Group { def, members } => {
                check_avp_header(a, *def)?;
                prop_assert_eq!(a.data().len(), members.iter().map(wire_len).sum::<usize>());
                check_tree(a.grouped(), members)?;
                if let Some(first) = members.first() {
                    let (code, vendor) = match first {
                        Tree::Leaf { def, .. } | Tree::Group { def, .. } => (def.code, def.vendor),
                    };
                    let found = a.member(code, vendor).expect("member found");
                    let direct = a.grouped().next().unwrap().unwrap();
                    prop_assert_eq!(found, direct);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A random tree of grouped AVPs, written with open/close_group or group(),
    /// reads back exactly, and the header survives (also when the buffer
    /// already holds something before the message).
    #[test]
    fn grouped_tree_round_trip(
        avps in vec(tree(), 0..=5),
        h in header(),
        closures: bool,
        prefix in vec(any::<u8>(), 0..8),
    ) {
        let mut buf = BytesMut::from(&prefix[..]);
        let mut b = MessageBuilder::new(&mut buf, h);
        for t in &avps {
            encode(&mut b, t, closures);
        }
        let len = b.finish();
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        prop_assert_eq!(buf.len(), prefix.len() + len);
        prop_assert_eq!(len, HEADER_LEN + avps.iter().map(wire_len).sum::<usize>());
        let m = Message::new(&buf[prefix.len()..]).expect("built message parses");
        let got = m.header;
        prop_assert_eq!(got.length as usize, len);
        prop_assert_eq!(got, Header { length: len as u32, ..h });
        check_tree(m.avps(), &avps)?;
    }
}
