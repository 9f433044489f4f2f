//! Reads the go-diameter XML dictionary layout (`<diameter><application>
//! <command><request><rule/>…</request></command><avp><data type=…><item/>
//! </data></avp></application></diameter>`) and resolves it into a `Dictionary`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{
    ApplicationDef, AvpDefinition, AvpId, CommandDef, DataType, Dictionary, Rule, RuleSet,
    DIRECT_CODES, NO_SLOT, VENDOR_3GPP,
};
use crate::diameter::avp::avp_flags;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct DictionaryError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl DictionaryError {
    pub(super) fn io(path: &Path, e: std::io::Error) -> Self {
        DictionaryError {
            file: path.to_path_buf(),
            line: 0,
            message: e.to_string(),
        }
    }
}

/// Where a definition was written: file index and byte offset.
#[derive(Clone, Copy)]
struct At(usize, u64);

struct RawRule {
    avp: String,
    min: u32,
    max: u32,
    at: At,
}

struct RawAvp {
    def: AvpDefinition,
    rules: Option<Vec<RawRule>>,
    at: At,
}

struct RawCommand {
    app: u32,
    code: u32,
    name: String,
    short: String,
    request: Vec<RawRule>,
    answer: Vec<RawRule>,
}

#[derive(Default)]
struct Staging {
    avps: Vec<RawAvp>,
    commands: Vec<RawCommand>,
    apps: Vec<ApplicationDef>,
}

struct Ctx<'s> {
    sources: &'s [(PathBuf, String)],
}

impl Ctx<'_> {
    fn err(&self, at: At, message: impl Into<String>) -> DictionaryError {
        let (file, text) = &self.sources[at.0];
        let end = (at.1 as usize).min(text.len());
        let line = text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        DictionaryError {
            file: file.clone(),
            line,
            message: message.into(),
        }
    }
}

fn attrs(
    e: &BytesStart<'_>,
    ctx: &Ctx,
    at: At,
) -> Result<HashMap<String, String>, DictionaryError> {
    let mut m = HashMap::new();
    for a in e.attributes() {
        let a = a.map_err(|x| ctx.err(at, format!("bad attribute: {x}")))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|x| ctx.err(at, format!("bad attribute value: {x}")))?
            .into_owned();
        m.insert(key, value);
    }
    Ok(m)
}

fn req<'m>(
    m: &'m HashMap<String, String>,
    k: &str,
    tag: &str,
    ctx: &Ctx,
    at: At,
) -> Result<&'m str, DictionaryError> {
    m.get(k)
        .map(String::as_str)
        .ok_or_else(|| ctx.err(at, format!("<{tag}> needs the attribute {k}")))
}

fn num<T: std::str::FromStr>(s: &str, what: &str, ctx: &Ctx, at: At) -> Result<T, DictionaryError> {
    s.trim()
        .parse()
        .map_err(|_| ctx.err(at, format!("{what} '{s}' is not a number")))
}

fn flag_bits(s: Option<&String>, ctx: &Ctx, at: At) -> Result<u8, DictionaryError> {
    let mut bits = 0;
    for f in s.map(String::as_str).unwrap_or("").split(',') {
        bits |= match f.trim() {
            "" => 0,
            "V" => avp_flags::VENDOR,
            "M" => avp_flags::MANDATORY,
            "P" => avp_flags::PROTECTED,
            other => {
                return Err(ctx.err(
                    at,
                    format!("unknown AVP flag '{other}' (expected V, M or P)"),
                ))
            }
        };
    }
    Ok(bits)
}

fn rule(m: &HashMap<String, String>, ctx: &Ctx, at: At) -> Result<RawRule, DictionaryError> {
    let avp = req(m, "avp", "rule", ctx, at)?.to_string();
    let required = match m.get("required").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(o) => return Err(ctx.err(at, format!("required='{o}' must be true or false"))),
    };
    let min = match m.get("min") {
        Some(s) => num(s, "min", ctx, at)?,
        None => required as u32,
    };
    let max = match m.get("max") {
        Some(s) => num(s, "max", ctx, at)?,
        None => u32::MAX,
    };
    if min > max {
        return Err(ctx.err(at, format!("rule for {avp}: min {min} exceeds max {max}")));
    }
    Ok(RawRule { avp, min, max, at })
}

fn parse_file(idx: usize, ctx: &Ctx, st: &mut Staging) -> Result<(), DictionaryError> {
    let text = &ctx.sources[idx].1;
    let mut r = Reader::from_str(text);
    r.config_mut().trim_text(true);
    let mut app: Option<u32> = None;
    let mut command: Option<RawCommand> = None;
    let mut side: Option<bool> = None; // Some(true) = request
    let mut avp: Option<RawAvp> = None;
    let mut saw_root = false;
    loop {
        let ev = r.read_event().map_err(|e| {
            ctx.err(
                At(idx, r.error_position()),
                format!("not well-formed XML: {e}"),
            )
        })?;
        // The end of the tag just read is on the tag's line.
        let at = At(idx, r.buffer_position().saturating_sub(1));
        let (e, empty) = match &ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                match e.name().as_ref() {
                    b"application" => app = None,
                    b"command" => st.commands.extend(command.take()),
                    b"request" | b"answer" => side = None,
                    b"avp" => st.avps.extend(avp.take()),
                    _ => {}
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let m = attrs(e, ctx, at)?;
        match e.name().as_ref() {
            b"diameter" => saw_root = true,
            b"application" => {
                let id = num(
                    req(&m, "id", "application", ctx, at)?,
                    "application id",
                    ctx,
                    at,
                )?;
                st.apps.push(ApplicationDef {
                    id,
                    name: m.get("name").cloned().unwrap_or_default(),
                    kind: m.get("type").cloned().unwrap_or_default(),
                });
                app = if empty { None } else { Some(id) };
            }
            b"vendor" => {}
            b"command" => {
                let app = app.ok_or_else(|| ctx.err(at, "<command> outside <application>"))?;
                command = Some(RawCommand {
                    app,
                    code: num(
                        req(&m, "code", "command", ctx, at)?,
                        "command code",
                        ctx,
                        at,
                    )?,
                    name: req(&m, "name", "command", ctx, at)?.to_string(),
                    short: m.get("short").cloned().unwrap_or_default(),
                    request: vec![],
                    answer: vec![],
                });
                if empty {
                    st.commands.extend(command.take());
                }
            }
            b"request" => side = Some(true),
            b"answer" => side = Some(false),
            b"avp" => {
                if app.is_none() {
                    return Err(ctx.err(at, "<avp> outside <application>"));
                }
                let vendor: u32 = match m.get("vendor-id") {
                    Some(v) => num(v, "vendor-id", ctx, at)?,
                    None => 0,
                };
                let mut must = flag_bits(m.get("must"), ctx, at)?;
                let mut must_not = flag_bits(m.get("must-not"), ctx, at)?;
                // V follows from the vendor id, whatever the file says.
                if vendor != 0 {
                    must |= avp_flags::VENDOR;
                    must_not &= !avp_flags::VENDOR;
                } else {
                    must &= !avp_flags::VENDOR;
                }
                if must & must_not != 0 {
                    return Err(ctx.err(at, "a flag is both in must and must-not"));
                }
                avp = Some(RawAvp {
                    def: AvpDefinition {
                        name: req(&m, "name", "avp", ctx, at)?.to_string(),
                        code: num(req(&m, "code", "avp", ctx, at)?, "AVP code", ctx, at)?,
                        vendor,
                        data_type: DataType::OctetString,
                        must,
                        must_not,
                        enums: vec![],
                        group: None,
                    },
                    rules: None,
                    at,
                });
                if empty {
                    return Err(ctx.err(at, "<avp> needs a <data type=…> element"));
                }
            }
            b"data" | b"type" => {
                let a = avp
                    .as_mut()
                    .ok_or_else(|| ctx.err(at, "<data> outside <avp>"))?;
                let t = m
                    .get("type")
                    .or_else(|| m.get("type-name"))
                    .ok_or_else(|| ctx.err(at, "<data> needs the attribute type"))?;
                a.def.data_type = DataType::parse(t)
                    .ok_or_else(|| ctx.err(at, format!("unknown data type '{t}'")))?;
                if a.def.data_type == DataType::Grouped {
                    a.rules = Some(vec![]);
                }
            }
            b"item" | b"enum" => {
                let a = avp
                    .as_mut()
                    .ok_or_else(|| ctx.err(at, "<item> outside <avp>"))?;
                let code = m.get("code").or_else(|| m.get("value"));
                let code = code.ok_or_else(|| ctx.err(at, "<item> needs the attribute code"))?;
                a.def.enums.push((
                    num(code, "item code", ctx, at)?,
                    req(&m, "name", "item", ctx, at)?.to_string(),
                ));
            }
            b"rule" => {
                let rr = rule(&m, ctx, at)?;
                if let Some(c) = command.as_mut() {
                    match side {
                        Some(true) => c.request.push(rr),
                        Some(false) => c.answer.push(rr),
                        None => {
                            return Err(ctx.err(
                                at,
                                "<rule> in <command> must be inside <request> or <answer>",
                            ))
                        }
                    }
                } else if let Some(a) = avp.as_mut() {
                    a.rules
                        .as_mut()
                        .ok_or_else(|| ctx.err(at, "<rule> inside an AVP that is not Grouped"))?
                        .push(rr);
                } else {
                    return Err(ctx.err(at, "<rule> outside <command> and <avp>"));
                }
            }
            other => {
                return Err(ctx.err(
                    at,
                    format!("unknown element <{}>", String::from_utf8_lossy(other)),
                ))
            }
        }
    }
    if !saw_root {
        return Err(ctx.err(At(idx, 0), "no <diameter> root element"));
    }
    Ok(())
}

fn resolve(
    ctx: &Ctx,
    rules: &[RawRule],
    by_name: &HashMap<String, AvpId>,
    count: usize,
) -> Result<RuleSet, DictionaryError> {
    let mut rs = RuleSet::default();
    for r in rules {
        let avp = *by_name.get(&r.avp).ok_or_else(|| {
            ctx.err(
                r.at,
                format!("rule names AVP '{}', which no dictionary defines", r.avp),
            )
        })?;
        if rs.rules.iter().any(|x| x.avp == avp) {
            return Err(ctx.err(
                r.at,
                format!("AVP '{}' has two rules in one grammar", r.avp),
            ));
        }
        rs.rules.push(Rule {
            avp,
            min: r.min,
            max: r.max,
        });
    }
    rs.index(count);
    Ok(rs)
}

pub(super) fn build(
    sources: impl IntoIterator<Item = (PathBuf, String)>,
) -> Result<Dictionary, DictionaryError> {
    let sources: Vec<(PathBuf, String)> = sources.into_iter().collect();
    let ctx = Ctx { sources: &sources };
    let mut st = Staging::default();
    for i in 0..sources.len() {
        parse_file(i, &ctx, &mut st)?;
    }

    // Assign ids. The same AVP repeated with the same name and type (vendor
    // files often restate base AVPs) is merged; anything else is a conflict.
    let mut by_key: HashMap<(u32, u32), AvpId> = HashMap::new();
    let mut by_name: HashMap<String, AvpId> = HashMap::new();
    let mut kept: Vec<RawAvp> = vec![];
    for mut a in st.avps {
        a.def.enums.sort_by_key(|(k, _)| *k);
        a.def.enums.dedup_by_key(|(k, _)| *k);
        let key = (a.def.code, a.def.vendor);
        if let Some(&id) = by_key.get(&key) {
            let k = &mut kept[id as usize];
            if k.def.name != a.def.name || k.def.data_type != a.def.data_type {
                return Err(ctx.err(
                    a.at,
                    format!(
                        "AVP {} (code {}, vendor {}) conflicts with {} ({:?}) defined at {}",
                        a.def.name,
                        key.0,
                        key.1,
                        k.def.name,
                        k.def.data_type,
                        ctx.err(k.at, "").to_string().trim_end_matches(": ")
                    ),
                ));
            }
            for e in a.def.enums {
                if k.def.enum_name(e.0).is_none() {
                    k.def.enums.push(e);
                    k.def.enums.sort_by_key(|(v, _)| *v);
                }
            }
            if k.rules.as_ref().is_none_or(Vec::is_empty) && a.rules.is_some() {
                k.rules = a.rules;
            }
            continue;
        }
        if by_name.contains_key(&a.def.name) {
            return Err(ctx.err(
                a.at,
                format!(
                    "AVP name {} is already used by another code/vendor",
                    a.def.name
                ),
            ));
        }
        if kept.len() >= NO_SLOT as usize {
            return Err(ctx.err(a.at, "too many AVP definitions"));
        }
        let id = kept.len() as AvpId;
        by_key.insert(key, id);
        by_name.insert(a.def.name.clone(), id);
        kept.push(a);
    }
    let count = kept.len();
    let mut avps = Vec::with_capacity(count);
    for a in &kept {
        let mut def = a.def.clone();
        if let Some(rules) = &a.rules {
            def.group = Some(resolve(&ctx, rules, &by_name, count)?);
        }
        avps.push(def);
    }
    let mut commands = HashMap::new();
    for c in st.commands {
        let def = CommandDef {
            request: resolve(&ctx, &c.request, &by_name, count)?,
            answer: resolve(&ctx, &c.answer, &by_name, count)?,
            name: c.name,
            short: c.short,
            code: c.code,
            application: c.app,
        };
        // A later file may restate a command; its grammar wins.
        commands.insert((c.app, c.code), def);
    }
    let mut base = vec![NO_SLOT; DIRECT_CODES];
    let mut tgpp = vec![NO_SLOT; DIRECT_CODES];
    let mut other = HashMap::new();
    for (&(code, vendor), &id) in &by_key {
        match vendor {
            0 if (code as usize) < DIRECT_CODES => base[code as usize] = id,
            VENDOR_3GPP if (code as usize) < DIRECT_CODES => tgpp[code as usize] = id,
            _ => {
                other.insert((code, vendor), id);
            }
        }
    }
    Ok(Dictionary {
        meta: avps.iter().map(super::AvpMeta::of).collect(),
        avps,
        base,
        tgpp,
        other,
        by_name,
        commands,
        applications: st.apps,
        sources: sources.into_iter().map(|(p, _)| p).collect(),
    })
}

#[cfg(test)]
mod tests;
