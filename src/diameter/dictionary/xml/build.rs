//! From the definitions of every file to one `Dictionary`: AVPs get their
//! ids (repeats merged, conflicts refused), grammars name AVPs by id, and
//! the codes get their look-up tables.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{parse_file, Ctx, DictionaryError, RawAvp, RawCommand, RawRule, Staging};
use crate::diameter::dictionary::{
    AvpDefinition, AvpId, AvpMeta, CommandDef, Dictionary, Rule, RuleSet, DIRECT_CODES, NO_SLOT,
    VENDOR_3GPP,
};

pub(in crate::diameter::dictionary) fn build(
    sources: impl IntoIterator<Item = (PathBuf, String)>,
) -> Result<Dictionary, DictionaryError> {
    let sources: Vec<(PathBuf, String)> = sources.into_iter().collect();
    let ctx = Ctx { sources: &sources };
    let mut st = Staging::default();
    for i in 0..sources.len() {
        parse_file(i, &ctx, &mut st)?;
    }
    let ids = Ids::assign(&ctx, st.avps)?;
    let avps = ids.definitions(&ctx)?;
    let commands = ids.commands(&ctx, st.commands)?;
    let (base, tgpp, other) = ids.tables();
    Ok(Dictionary {
        meta: avps.iter().map(AvpMeta::of).collect(),
        avps,
        base,
        tgpp,
        other,
        by_name: ids.by_name,
        commands,
        applications: st.apps,
        sources: sources.into_iter().map(|(p, _)| p).collect(),
    })
}

/// AVP ids by (code, vendor).
type ByCode = HashMap<(u32, u32), AvpId>;

/// The AVPs kept, by id (their index), with the ways to find one.
struct Ids {
    kept: Vec<RawAvp>,
    by_key: ByCode,
    by_name: HashMap<String, AvpId>,
}

impl Ids {
    /// Assigns ids. The same AVP repeated with the same name and type
    /// (vendor files often restate base AVPs) is merged; anything else is a
    /// conflict.
    fn assign(ctx: &Ctx, avps: Vec<RawAvp>) -> Result<Ids, DictionaryError> {
        let mut ids = Ids {
            kept: vec![],
            by_key: HashMap::new(),
            by_name: HashMap::new(),
        };
        for mut a in avps {
            a.def.enums.sort_by_key(|(k, _)| *k);
            a.def.enums.dedup_by_key(|(k, _)| *k);
            let key = (a.def.code, a.def.vendor);
            if let Some(&id) = ids.by_key.get(&key) {
                merge(ctx, &mut ids.kept[id as usize], a)?;
                continue;
            }
            if ids.by_name.contains_key(&a.def.name) {
                return Err(ctx.err(
                    a.at,
                    format!(
                        "AVP name {} is already used by another code/vendor",
                        a.def.name
                    ),
                ));
            }
            if ids.kept.len() >= NO_SLOT as usize {
                return Err(ctx.err(a.at, "too many AVP definitions"));
            }
            let id = ids.kept.len() as AvpId;
            ids.by_key.insert(key, id);
            ids.by_name.insert(a.def.name.clone(), id);
            ids.kept.push(a);
        }
        Ok(ids)
    }

    /// Every AVP's definition, Grouped ones with their grammar resolved.
    fn definitions(&self, ctx: &Ctx) -> Result<Vec<AvpDefinition>, DictionaryError> {
        let count = self.kept.len();
        let mut avps = Vec::with_capacity(count);
        for a in &self.kept {
            let mut def = a.def.clone();
            if let Some(rules) = &a.rules {
                def.group = Some(resolve(ctx, rules, &self.by_name, count)?);
            }
            avps.push(def);
        }
        Ok(avps)
    }

    fn commands(
        &self,
        ctx: &Ctx,
        raw: Vec<RawCommand>,
    ) -> Result<HashMap<(u32, u32), CommandDef>, DictionaryError> {
        let count = self.kept.len();
        let mut commands = HashMap::new();
        for c in raw {
            let def = CommandDef {
                request: resolve(ctx, &c.request, &self.by_name, count)?,
                answer: resolve(ctx, &c.answer, &self.by_name, count)?,
                name: c.name,
                short: c.short,
                code: c.code,
                application: c.app,
            };
            // A later file may restate a command; its grammar wins.
            commands.insert((c.app, c.code), def);
        }
        Ok(commands)
    }

    /// Ids by code: direct tables for the base and 3GPP codes below
    /// `DIRECT_CODES`, a map for the rest.
    fn tables(&self) -> (Vec<AvpId>, Vec<AvpId>, ByCode) {
        let mut base = vec![NO_SLOT; DIRECT_CODES];
        let mut tgpp = vec![NO_SLOT; DIRECT_CODES];
        let mut other = HashMap::new();
        for (&(code, vendor), &id) in &self.by_key {
            match vendor {
                0 if (code as usize) < DIRECT_CODES => base[code as usize] = id,
                VENDOR_3GPP if (code as usize) < DIRECT_CODES => tgpp[code as usize] = id,
                _ => {
                    other.insert((code, vendor), id);
                }
            }
        }
        (base, tgpp, other)
    }
}

/// A repeat of a kept AVP: refused unless name and type agree; its new
/// enumerated values are added, and its grammar fills an empty one.
fn merge(ctx: &Ctx, k: &mut RawAvp, a: RawAvp) -> Result<(), DictionaryError> {
    if k.def.name != a.def.name || k.def.data_type != a.def.data_type {
        return Err(ctx.err(
            a.at,
            format!(
                "AVP {} (code {}, vendor {}) conflicts with {} ({:?}) defined at {}",
                a.def.name,
                a.def.code,
                a.def.vendor,
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
    Ok(())
}

/// A grammar with its AVPs named by id; an unknown or repeated AVP is
/// refused.
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
