//! Diameter dictionaries as data: AVP definitions (code, vendor, type, flag
//! rules, enumerations), grouped-AVP and command grammars. Loaded from XML files
//! in the go-diameter layout; lookups on the hot path are array indexes.

mod xml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use xml::DictionaryError;

/// Index of an AVP definition inside one dictionary.
pub type AvpId = u16;

const NO_SLOT: u16 = u16::MAX;
/// Vendor-0 and 3GPP AVP codes below this are found by direct index.
const DIRECT_CODES: usize = 4096;
pub const VENDOR_3GPP: u32 = 10415;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    OctetString,
    Integer32,
    Integer64,
    Unsigned32,
    Unsigned64,
    Float32,
    Float64,
    Grouped,
    Address,
    Time,
    UTF8String,
    DiameterIdentity,
    DiameterURI,
    Enumerated,
    IPFilterRule,
}

impl DataType {
    pub fn parse(s: &str) -> Option<DataType> {
        use DataType::*;
        Some(match s {
            "OctetString" | "QoSFilterRule" => OctetString,
            "Integer32" => Integer32,
            "Integer64" => Integer64,
            "Unsigned32" => Unsigned32,
            "Unsigned64" => Unsigned64,
            "Float32" => Float32,
            "Float64" => Float64,
            "Grouped" => Grouped,
            "Address" | "IPAddress" => Address,
            "Time" => Time,
            "UTF8String" => UTF8String,
            "DiameterIdentity" => DiameterIdentity,
            "DiameterURI" => DiameterURI,
            "Enumerated" => Enumerated,
            "IPFilterRule" => IPFilterRule,
            _ => return None,
        })
    }
    /// Octets of data a zero-filled example of this type needs (Failed-AVP for 5005).
    pub fn minimal_len(self) -> usize {
        use DataType::*;
        match self {
            Integer32 | Unsigned32 | Float32 | Enumerated | Time => 4,
            Integer64 | Unsigned64 | Float64 => 8,
            Address => 6,
            _ => 0,
        }
    }
}

/// What validating a value of a type takes, packed for the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Any,
    Fixed(u8),
    Utf8,
    Identity,
    Uri,
    Address,
    Grouped,
}

/// The few facts validation needs per AVP, kept dense so a message's AVPs
/// touch a handful of cache lines rather than whole definitions.
#[derive(Debug, Clone, Copy)]
pub struct AvpMeta {
    pub must_not: u8,
    pub check: Check,
    /// Enumerated with known values: an M-bit AVP must carry one of them.
    pub closed_enum: bool,
}

impl AvpMeta {
    fn of(d: &AvpDefinition) -> AvpMeta {
        use DataType::*;
        let check = match d.data_type {
            Integer32 | Unsigned32 | Float32 | Enumerated | Time => Check::Fixed(4),
            Integer64 | Unsigned64 | Float64 => Check::Fixed(8),
            UTF8String => Check::Utf8,
            DiameterIdentity => Check::Identity,
            DiameterURI => Check::Uri,
            Address => Check::Address,
            Grouped => Check::Grouped,
            OctetString | IPFilterRule => Check::Any,
        };
        AvpMeta {
            must_not: d.must_not,
            check,
            closed_enum: d.data_type == Enumerated && !d.enums.is_empty(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AvpDefinition {
    pub name: String,
    pub code: u32,
    pub vendor: u32,
    pub data_type: DataType,
    /// Flag bits (V/M/P) that must be set, and that must not be set.
    pub must: u8,
    pub must_not: u8,
    /// Sorted by value.
    pub enums: Vec<(i32, String)>,
    /// Members' grammar, for Grouped.
    pub group: Option<RuleSet>,
}

impl AvpDefinition {
    pub fn enum_name(&self, v: i32) -> Option<&str> {
        self.enums
            .binary_search_by_key(&v, |(k, _)| *k)
            .ok()
            .map(|i| self.enums[i].1.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub avp: AvpId,
    pub min: u32,
    pub max: u32,
}

/// A grammar: which AVPs may appear how often. AVPs it does not name are
/// allowed (the `*[AVP]` every Diameter grammar carries).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    slots: Vec<u16>,
    /// Rules with a minimum: the only ones a message's end needs to check.
    required: Vec<u16>,
}

impl RuleSet {
    #[inline]
    pub fn slot(&self, avp: AvpId) -> Option<usize> {
        match self.slots.get(avp as usize) {
            Some(&s) if s != NO_SLOT => Some(s as usize),
            _ => None,
        }
    }
    pub fn required(&self) -> impl Iterator<Item = (usize, &Rule)> {
        self.required
            .iter()
            .map(|&i| (i as usize, &self.rules[i as usize]))
    }
    fn index(&mut self, avp_count: usize) {
        self.slots = vec![NO_SLOT; avp_count];
        for (i, r) in self.rules.iter().enumerate() {
            self.slots[r.avp as usize] = i as u16;
        }
        self.required = (0..self.rules.len() as u16)
            .filter(|&i| self.rules[i as usize].min > 0)
            .collect();
    }
}

#[derive(Debug, Clone)]
pub struct CommandDef {
    pub name: String,
    pub short: String,
    pub code: u32,
    pub application: u32,
    pub request: RuleSet,
    pub answer: RuleSet,
}

#[derive(Debug, Clone)]
pub struct ApplicationDef {
    pub id: u32,
    pub name: String,
    pub kind: String,
}

#[derive(Debug, Clone)]
pub struct Dictionary {
    avps: Vec<AvpDefinition>,
    meta: Vec<AvpMeta>,
    base: Vec<u16>,
    tgpp: Vec<u16>,
    other: HashMap<(u32, u32), AvpId>,
    by_name: HashMap<String, AvpId>,
    commands: HashMap<(u32, u32), CommandDef>,
    applications: Vec<ApplicationDef>,
    /// Where each definition came from, for messages.
    pub sources: Vec<PathBuf>,
}

/// The dictionaries shipped in `dictionaries/`, compiled in so that the binary
/// runs with no files beside it.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "dictionaries/base.xml",
        include_str!("../../../dictionaries/base.xml"),
    ),
    (
        "dictionaries/credit_control.xml",
        include_str!("../../../dictionaries/credit_control.xml"),
    ),
    (
        "dictionaries/tgpp_gy_ro.xml",
        include_str!("../../../dictionaries/tgpp_gy_ro.xml"),
    ),
];

impl Dictionary {
    pub fn builtin() -> Dictionary {
        Self::from_sources(
            BUILTIN
                .iter()
                .map(|(n, t)| (PathBuf::from(n), t.to_string())),
        )
        .expect("the shipped dictionaries are valid (checked by tests)")
    }

    /// Loads every `*.xml` in `dir` (sorted by name) and then `extra` files.
    pub fn load(dir: Option<&Path>, extra: &[PathBuf]) -> Result<Dictionary, DictionaryError> {
        let mut paths = vec![];
        if let Some(dir) = dir {
            let rd = std::fs::read_dir(dir).map_err(|e| DictionaryError::io(dir, e))?;
            for entry in rd {
                let p = entry.map_err(|e| DictionaryError::io(dir, e))?.path();
                if p.extension().is_some_and(|e| e == "xml") {
                    paths.push(p);
                }
            }
            paths.sort();
        }
        paths.extend(extra.iter().cloned());
        let mut sources = vec![];
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|e| DictionaryError::io(&p, e))?;
            sources.push((p, text));
        }
        Self::from_sources(sources)
    }

    pub fn from_sources(
        sources: impl IntoIterator<Item = (PathBuf, String)>,
    ) -> Result<Dictionary, DictionaryError> {
        xml::build(sources)
    }

    #[inline]
    pub fn avp_id(&self, code: u32, vendor: u32) -> Option<AvpId> {
        let direct = match vendor {
            0 => &self.base,
            VENDOR_3GPP => &self.tgpp,
            _ => return self.other.get(&(code, vendor)).copied(),
        };
        if (code as usize) < DIRECT_CODES {
            match direct[code as usize] {
                NO_SLOT => None,
                id => Some(id),
            }
        } else {
            self.other.get(&(code, vendor)).copied()
        }
    }
    #[inline]
    pub fn avp(&self, code: u32, vendor: u32) -> Option<&AvpDefinition> {
        self.avp_id(code, vendor).map(|id| &self.avps[id as usize])
    }
    #[inline]
    pub fn def(&self, id: AvpId) -> &AvpDefinition {
        &self.avps[id as usize]
    }
    #[inline]
    pub fn meta(&self, id: AvpId) -> AvpMeta {
        self.meta[id as usize]
    }
    pub fn avp_by_name(&self, name: &str) -> Option<&AvpDefinition> {
        self.by_name.get(name).map(|&id| &self.avps[id as usize])
    }
    /// The command grammar; base commands (CER, DWR, DPR…) live under application 0.
    pub fn command(&self, application: u32, code: u32) -> Option<&CommandDef> {
        self.commands
            .get(&(application, code))
            .or_else(|| self.commands.get(&(0, code)))
    }
    pub fn applications(&self) -> &[ApplicationDef] {
        &self.applications
    }
    pub fn avp_count(&self) -> usize {
        self.avps.len()
    }
}

#[cfg(test)]
mod tests;
