//! Human and JSON renderings of any message, named through the dictionary.
//! Used by logs and by `gyro decode`.

use std::fmt::Write;

use serde_json::{json, Value};

use super::avp::{avp_flags, Avp, AvpIter};
use super::dictionary::{DataType, Dictionary};
use super::message::Message;

fn flag_letters(f: u8) -> String {
    let mut s = String::with_capacity(3);
    s.push(if f & avp_flags::VENDOR != 0 { 'V' } else { '-' });
    s.push(if f & avp_flags::MANDATORY != 0 {
        'M'
    } else {
        '-'
    });
    s.push(if f & avp_flags::PROTECTED != 0 {
        'P'
    } else {
        '-'
    });
    s
}

fn command_name(dict: &Dictionary, m: &Message<'_>) -> String {
    let h = m.header;
    let kind = if h.is_request() { "Request" } else { "Answer" };
    match dict.command(h.application, h.command) {
        Some(c) => format!("{}-{kind}", c.name),
        None => format!("Command-{}-{kind}", h.command),
    }
}

/// A Time AVP's instant as RFC 3339 in UTC (`2024-01-01T00:00:00Z`); Unix
/// seconds outside the years 0 to 9999 (which no Time AVP holds) as a number.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// Deeper groups are shown as hex: a hostile message must not exhaust the stack.
const MAX_DEPTH: usize = 16;

fn value(dict: &Dictionary, a: &Avp<'_>, depth: usize) -> Value {
    use DataType::*;
    let Some(def) = dict.avp(a.code, a.vendor) else {
        return json!({ "hex": hex(a.data()) });
    };
    let r = match def.data_type {
        Unsigned32 => a.u32().map(Value::from).ok(),
        Unsigned64 => a.u64().map(Value::from).ok(),
        Integer32 => a.i32().map(Value::from).ok(),
        Integer64 => a.i64().map(Value::from).ok(),
        Float32 => a.f32().map(Value::from).ok(),
        Float64 => a.f64().map(Value::from).ok(),
        Enumerated => a.enumerated().ok().map(|v| match def.enum_name(v) {
            Some(n) => json!(format!("{n} ({v})")),
            None => json!(v),
        }),
        UTF8String | DiameterIdentity | DiameterURI | IPFilterRule => {
            a.utf8().ok().map(Value::from)
        }
        Address => a.address().ok().map(|ip| json!(ip.to_string())),
        Time => a.time().ok().map(|t| json!(rfc3339(t.unix_seconds()))),
        OctetString => Some(match std::str::from_utf8(a.data()) {
            Ok(s) if !s.is_empty() && s.bytes().all(|c| (0x20..0x7f).contains(&c)) => json!(s),
            _ => json!({ "hex": hex(a.data()) }),
        }),
        Grouped if depth >= MAX_DEPTH => Some(json!({ "too_deep": hex(a.data()) })),
        Grouped => Some(Value::Array(avps_json(dict, a.grouped(), depth + 1))),
    };
    r.unwrap_or_else(|| json!({ "invalid": hex(a.data()) }))
}

fn avps_json(dict: &Dictionary, it: AvpIter<'_>, depth: usize) -> Vec<Value> {
    let mut out = vec![];
    for item in it {
        match item {
            Ok(a) => {
                let name = dict
                    .avp(a.code, a.vendor)
                    .map_or_else(|| format!("AVP-{}", a.code), |d| d.name.clone());
                let mut o = json!({
                    "name": name, "code": a.code, "flags": flag_letters(a.flags), "value": value(dict, &a, depth)
                });
                if a.vendor != 0 {
                    o["vendor"] = json!(a.vendor);
                }
                out.push(o);
            }
            Err(e) => {
                out.push(json!({ "error": format!("AVP {} bad length {}", e.code, e.declared_len), "hex": hex(e.raw) }));
                break;
            }
        }
    }
    out
}

pub fn to_json(dict: &Dictionary, m: &Message<'_>) -> Value {
    let h = m.header;
    json!({
        "command": command_name(dict, m),
        "code": h.command,
        "application": h.application,
        "flags": {
            "request": h.is_request(), "proxiable": h.is_proxiable(),
            "error": h.is_error(), "retransmit": h.is_retransmit()
        },
        "hop_by_hop": h.hop_by_hop,
        "end_to_end": h.end_to_end,
        "length": h.length,
        "avps": avps_json(dict, m.avps(), 0),
    })
}

fn human_avps(dict: &Dictionary, out: &mut String, it: AvpIter<'_>, depth: usize) {
    for item in it {
        let pad = "  ".repeat(depth + 1);
        match item {
            Ok(a) => {
                let def = dict.avp(a.code, a.vendor);
                let name = def.map_or_else(|| format!("AVP-{}", a.code), |d| d.name.clone());
                let vendor = if a.vendor != 0 {
                    format!(" vnd={}", a.vendor)
                } else {
                    String::new()
                };
                let _ = write!(
                    out,
                    "{pad}{name}({}) {}{vendor}",
                    a.code,
                    flag_letters(a.flags)
                );
                if def.is_some_and(|d| d.data_type == DataType::Grouped) && depth < MAX_DEPTH {
                    out.push('\n');
                    human_avps(dict, out, a.grouped(), depth + 1);
                } else {
                    let v = value(dict, &a, MAX_DEPTH);
                    let s = match &v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let _ = writeln!(out, " = {s}");
                }
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "{pad}!! AVP {} with bad length {}",
                    e.code, e.declared_len
                );
                break;
            }
        }
    }
}

pub fn to_human(dict: &Dictionary, m: &Message<'_>) -> String {
    let h = m.header;
    let mut flags = String::new();
    for (bit, c) in [(0x80, 'R'), (0x40, 'P'), (0x20, 'E'), (0x10, 'T')] {
        if h.flags & bit != 0 {
            flags.push(c);
        }
    }
    let mut out = format!(
        "{} code={} app={} flags={} hbh={:#010x} e2e={:#010x} len={}\n",
        command_name(dict, m),
        h.command,
        h.application,
        if flags.is_empty() { "-".into() } else { flags },
        h.hop_by_hop,
        h.end_to_end,
        h.length
    );
    human_avps(dict, &mut out, m.avps(), 0);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
