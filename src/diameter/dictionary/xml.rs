//! Reads the go-diameter XML dictionary layout (`<diameter><application>
//! <command><request><rule/>…</request></command><avp><data type=…><item/>
//! </data></avp></application></diameter>`) and resolves it into a `Dictionary`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{ApplicationDef, AvpDefinition, DataType};
use crate::diameter::avp::avp_flags;

mod build;

pub(super) use build::build;

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
    let mut p = FileParser {
        ctx,
        st,
        app: None,
        command: None,
        side: None,
        avp: None,
        saw_root: false,
    };
    loop {
        let ev = r.read_event().map_err(|e| {
            ctx.err(
                At(idx, r.error_position()),
                format!("not well-formed XML: {e}"),
            )
        })?;
        // The end of the tag just read is on the tag's line.
        let at = At(idx, r.buffer_position().saturating_sub(1));
        match &ev {
            Event::Start(e) => p.start(e, false, at)?,
            Event::Empty(e) => p.start(e, true, at)?,
            Event::End(e) => p.end(e.name().as_ref()),
            Event::Eof => break,
            _ => {}
        }
    }
    if !p.saw_root {
        return Err(ctx.err(At(idx, 0), "no <diameter> root element"));
    }
    Ok(())
}

/// Where in the document one file's reader is: the definitions it has open.
struct FileParser<'c, 's> {
    ctx: &'c Ctx<'s>,
    st: &'c mut Staging,
    app: Option<u32>,
    command: Option<RawCommand>,
    /// Inside a command's `<request>` (true) or `<answer>` (false).
    side: Option<bool>,
    avp: Option<RawAvp>,
    saw_root: bool,
}

type Attrs = HashMap<String, String>;

impl FileParser<'_, '_> {
    /// An element opens (`empty`: and closes at once).
    fn start(&mut self, e: &BytesStart<'_>, empty: bool, at: At) -> Result<(), DictionaryError> {
        let ctx = self.ctx;
        let m = attrs(e, ctx, at)?;
        match e.name().as_ref() {
            b"diameter" => self.saw_root = true,
            b"application" => self.application(&m, empty, at)?,
            b"vendor" => {}
            b"command" => self.command(&m, empty, at)?,
            b"request" => self.side = Some(true),
            b"answer" => self.side = Some(false),
            b"avp" => self.avp(&m, empty, at)?,
            b"data" | b"type" => self.data(&m, at)?,
            b"item" | b"enum" => self.item(&m, at)?,
            b"rule" => self.rule(&m, at)?,
            other => {
                return Err(ctx.err(
                    at,
                    format!("unknown element <{}>", String::from_utf8_lossy(other)),
                ))
            }
        }
        Ok(())
    }

    /// An element closes: what it defined is complete.
    fn end(&mut self, name: &[u8]) {
        match name {
            b"application" => self.app = None,
            b"command" => self.st.commands.extend(self.command.take()),
            b"request" | b"answer" => self.side = None,
            b"avp" => self.st.avps.extend(self.avp.take()),
            _ => {}
        }
    }

    fn application(&mut self, m: &Attrs, empty: bool, at: At) -> Result<(), DictionaryError> {
        let ctx = self.ctx;
        let id = num(
            req(m, "id", "application", ctx, at)?,
            "application id",
            ctx,
            at,
        )?;
        self.st.apps.push(ApplicationDef {
            id,
            name: m.get("name").cloned().unwrap_or_default(),
            kind: m.get("type").cloned().unwrap_or_default(),
        });
        self.app = if empty { None } else { Some(id) };
        Ok(())
    }

    fn command(&mut self, m: &Attrs, empty: bool, at: At) -> Result<(), DictionaryError> {
        let ctx = self.ctx;
        let app = self
            .app
            .ok_or_else(|| ctx.err(at, "<command> outside <application>"))?;
        self.command = Some(RawCommand {
            app,
            code: num(req(m, "code", "command", ctx, at)?, "command code", ctx, at)?,
            name: req(m, "name", "command", ctx, at)?.to_string(),
            short: m.get("short").cloned().unwrap_or_default(),
            request: vec![],
            answer: vec![],
        });
        if empty {
            self.st.commands.extend(self.command.take());
        }
        Ok(())
    }

    fn avp(&mut self, m: &Attrs, empty: bool, at: At) -> Result<(), DictionaryError> {
        let ctx = self.ctx;
        if self.app.is_none() {
            return Err(ctx.err(at, "<avp> outside <application>"));
        }
        let vendor: u32 = match m.get("vendor-id") {
            Some(v) => num(v, "vendor-id", ctx, at)?,
            None => 0,
        };
        let (must, must_not) = flags(m, vendor, ctx, at)?;
        self.avp = Some(RawAvp {
            def: AvpDefinition {
                name: req(m, "name", "avp", ctx, at)?.to_string(),
                code: num(req(m, "code", "avp", ctx, at)?, "AVP code", ctx, at)?,
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
        Ok(())
    }

    /// `<data type=…>`: the open AVP's type (Grouped opens its grammar).
    fn data(&mut self, m: &Attrs, at: At) -> Result<(), DictionaryError> {
        let ctx = self.ctx;
        let a = self
            .avp
            .as_mut()
            .ok_or_else(|| ctx.err(at, "<data> outside <avp>"))?;
        let t = m
            .get("type")
            .or_else(|| m.get("type-name"))
            .ok_or_else(|| ctx.err(at, "<data> needs the attribute type"))?;
        a.def.data_type =
            DataType::parse(t).ok_or_else(|| ctx.err(at, format!("unknown data type '{t}'")))?;
        if a.def.data_type == DataType::Grouped {
            a.rules = Some(vec![]);
        }
        Ok(())
    }

    /// `<item code=… name=…>`: one enumerated value of the open AVP.
    fn item(&mut self, m: &Attrs, at: At) -> Result<(), DictionaryError> {
        let ctx = self.ctx;
        let a = self
            .avp
            .as_mut()
            .ok_or_else(|| ctx.err(at, "<item> outside <avp>"))?;
        let code = m.get("code").or_else(|| m.get("value"));
        let code = code.ok_or_else(|| ctx.err(at, "<item> needs the attribute code"))?;
        a.def.enums.push((
            num(code, "item code", ctx, at)?,
            req(m, "name", "item", ctx, at)?.to_string(),
        ));
        Ok(())
    }

    /// `<rule>`: a line of the open command's request or answer grammar, or
    /// of the open Grouped AVP's.
    fn rule(&mut self, m: &Attrs, at: At) -> Result<(), DictionaryError> {
        let ctx = self.ctx;
        let rr = rule(m, ctx, at)?;
        if let Some(c) = self.command.as_mut() {
            match self.side {
                Some(true) => c.request.push(rr),
                Some(false) => c.answer.push(rr),
                None => {
                    return Err(ctx.err(
                        at,
                        "<rule> in <command> must be inside <request> or <answer>",
                    ))
                }
            }
        } else if let Some(a) = self.avp.as_mut() {
            a.rules
                .as_mut()
                .ok_or_else(|| ctx.err(at, "<rule> inside an AVP that is not Grouped"))?
                .push(rr);
        } else {
            return Err(ctx.err(at, "<rule> outside <command> and <avp>"));
        }
        Ok(())
    }
}

/// An AVP's must and must-not flags; V follows from the vendor id, whatever
/// the file says.
fn flags(m: &Attrs, vendor: u32, ctx: &Ctx, at: At) -> Result<(u8, u8), DictionaryError> {
    let mut must = flag_bits(m.get("must"), ctx, at)?;
    let mut must_not = flag_bits(m.get("must-not"), ctx, at)?;
    if vendor != 0 {
        must |= avp_flags::VENDOR;
        must_not &= !avp_flags::VENDOR;
    } else {
        must &= !avp_flags::VENDOR;
    }
    if must & must_not != 0 {
        return Err(ctx.err(at, "a flag is both in must and must-not"));
    }
    Ok((must, must_not))
}

#[cfg(test)]
mod tests;
