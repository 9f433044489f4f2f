//! The baseline the codec is measured against: the CCR decoded into an owned
//! tree (every AVP's data copied out, grouped AVPs decoded recursively) or a
//! typed tree, the way typical Diameter libraries do, then the same fields
//! read from it.

use super::*;

#[derive(Debug)]
#[allow(dead_code)] // flags are decoded like a library would, never read here
struct OwnedAvp {
    code: u32,
    flags: u8,
    vendor: u32,
    data: Vec<u8>,
    children: Vec<OwnedAvp>,
}

#[derive(Debug)]
#[allow(dead_code)]
pub(super) struct OwnedMessage {
    version: u8,
    flags: u8,
    command: u32,
    application: u32,
    hop_by_hop: u32,
    end_to_end: u32,
    avps: Vec<OwnedAvp>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be24(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([0, b[at], b[at + 1], b[at + 2]]) as usize
}

pub(super) fn decode_owned(dict: &Dictionary, bytes: &[u8]) -> Option<OwnedMessage> {
    if bytes.len() < 20 || be24(bytes, 1) != bytes.len() {
        return None;
    }
    Some(OwnedMessage {
        version: bytes[0],
        flags: bytes[4],
        command: be24(bytes, 5) as u32,
        application: be32(bytes, 8),
        hop_by_hop: be32(bytes, 12),
        end_to_end: be32(bytes, 16),
        avps: decode_owned_avps(dict, &bytes[20..])?,
    })
}

fn decode_owned_avps(dict: &Dictionary, mut b: &[u8]) -> Option<Vec<OwnedAvp>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 8 {
            return None;
        }
        let code = be32(b, 0);
        let flags = b[4];
        let len = be24(b, 5);
        let (vendor, hdr) = if flags & 0x80 != 0 {
            if b.len() < 12 {
                return None;
            }
            (be32(b, 8), 12)
        } else {
            (0, 8)
        };
        let padded = (len + 3) & !3;
        if len < hdr || padded > b.len() {
            return None;
        }
        let payload = &b[hdr..len];
        let grouped = dict
            .avp(code, vendor)
            .is_some_and(|d| d.data_type == DataType::Grouped);
        let children = if grouped {
            decode_owned_avps(dict, payload)?
        } else {
            Vec::new()
        };
        out.push(OwnedAvp {
            code,
            flags,
            vendor,
            data: payload.to_vec(),
            children,
        });
        b = &b[padded..];
    }
    Some(out)
}

fn owned_find(avps: &[OwnedAvp], code: u32, vendor: u32) -> Option<&OwnedAvp> {
    avps.iter().find(|a| a.code == code && a.vendor == vendor)
}

fn owned_u32(a: &OwnedAvp) -> Option<u32> {
    Some(u32::from_be_bytes(a.data.as_slice().try_into().ok()?))
}

fn owned_u64(a: &OwnedAvp) -> Option<u64> {
    Some(u64::from_be_bytes(a.data.as_slice().try_into().ok()?))
}

/// The same reads, by linear search over the owned tree.
pub(super) fn owned_fields(m: &OwnedMessage) -> Option<Fields<'_>> {
    let avps = &m.avps;
    let mut f = Fields {
        session_id: std::str::from_utf8(&owned_find(avps, 263, 0)?.data).ok()?,
        request_type: owned_u32(owned_find(avps, 416, 0)?)? as i32,
        request_number: owned_u32(owned_find(avps, 415, 0)?)?,
        ..Fields::default()
    };
    for sub in avps.iter().filter(|a| a.code == 443 && a.vendor == 0) {
        let t = owned_find(&sub.children, 450, 0).and_then(owned_u32);
        if t == Some(1) {
            f.imsi = std::str::from_utf8(&owned_find(&sub.children, 444, 0)?.data).ok()?;
            break;
        }
    }
    for mscc in avps.iter().filter(|a| a.code == 456 && a.vendor == 0) {
        if f.service_count == f.services.len() {
            break;
        }
        let rg = owned_u32(owned_find(&mscc.children, 432, 0)?)?;
        let used = owned_find(&mscc.children, 446, 0)
            .and_then(|u| owned_find(&u.children, 421, 0))
            .and_then(owned_u64)
            .unwrap_or(0);
        f.services[f.service_count] = (rg, used);
        f.service_count += 1;
    }
    if let Some(uli) = owned_find(avps, 873, VENDOR_3GPP)
        .and_then(|si| owned_find(&si.children, 874, VENDOR_3GPP))
        .and_then(|ps| owned_find(&ps.children, 22, VENDOR_3GPP))
    {
        f.uli = &uli.data;
    }
    Some(f)
}

// --- Typed owned-tree baseline: what Diameter libraries with typed values do ---
// (every AVP looked up in the dictionary and converted: String for text,
// integers, IpAddr, nested Vec for Grouped). Lookups use gyro's own fast
// dictionary index, which flatters the baseline.

#[derive(Debug)]
#[allow(dead_code)]
enum TypedValue {
    Octets(Vec<u8>),
    Text(String),
    U32(u32),
    U64(u64),
    I32(i32),
    I64(i64),
    F64(f64),
    Address(IpAddr),
    Grouped(Vec<TypedAvp>),
}

#[derive(Debug)]
#[allow(dead_code)]
pub(super) struct TypedAvp {
    code: u32,
    flags: u8,
    vendor: u32,
    value: TypedValue,
}

pub(super) fn decode_typed_avps(dict: &Dictionary, bytes: &[u8]) -> Option<Vec<TypedAvp>> {
    let mut out = Vec::new();
    for item in AvpIter::new(bytes) {
        let a = item.ok()?;
        let t = dict
            .avp(a.code, a.vendor)
            .map_or(DataType::OctetString, |d| d.data_type);
        let value = match t {
            DataType::Grouped => TypedValue::Grouped(decode_typed_avps(dict, a.data())?),
            DataType::UTF8String
            | DataType::DiameterIdentity
            | DataType::DiameterURI
            | DataType::IPFilterRule => {
                TypedValue::Text(String::from_utf8(a.data().to_vec()).ok()?)
            }
            DataType::Unsigned32 | DataType::Time => TypedValue::U32(a.u32().ok()?),
            DataType::Enumerated | DataType::Integer32 => TypedValue::I32(a.i32().ok()?),
            DataType::Unsigned64 => TypedValue::U64(a.u64().ok()?),
            DataType::Integer64 => TypedValue::I64(a.i64().ok()?),
            DataType::Float32 => TypedValue::F64(a.f32().ok()? as f64),
            DataType::Float64 => TypedValue::F64(a.f64().ok()?),
            DataType::Address => TypedValue::Address(a.address().ok()?),
            DataType::OctetString => TypedValue::Octets(a.data().to_vec()),
        };
        out.push(TypedAvp {
            code: a.code,
            flags: a.flags,
            vendor: a.vendor,
            value,
        });
    }
    Some(out)
}

fn typed_find(avps: &[TypedAvp], code: u32, vendor: u32) -> Option<&TypedAvp> {
    avps.iter().find(|a| a.code == code && a.vendor == vendor)
}

fn typed_children(a: &TypedAvp) -> &[TypedAvp] {
    match &a.value {
        TypedValue::Grouped(v) => v,
        _ => &[],
    }
}

pub(super) fn typed_fields(avps: &[TypedAvp]) -> Option<(usize, u32, u64, usize)> {
    let sid = match &typed_find(avps, 263, 0)?.value {
        TypedValue::Text(s) => s.len(),
        _ => return None,
    };
    let num = match typed_find(avps, 415, 0)?.value {
        TypedValue::U32(n) => n,
        _ => return None,
    };
    let mut used = 0;
    for mscc in avps.iter().filter(|a| a.code == 456) {
        if let Some(TypedValue::U64(u)) = typed_find(typed_children(mscc), 446, 0)
            .and_then(|u| typed_find(typed_children(u), 421, 0))
            .map(|a| &a.value)
        {
            used += u;
        }
    }
    let uli = typed_find(avps, 873, VENDOR_3GPP)
        .and_then(|si| typed_find(typed_children(si), 874, VENDOR_3GPP))
        .and_then(|ps| typed_find(typed_children(ps), 22, VENDOR_3GPP))
        .map_or(0, |a| match &a.value {
            TypedValue::Octets(o) => o.len(),
            _ => 0,
        });
    Some((sid, num, used, uli))
}
