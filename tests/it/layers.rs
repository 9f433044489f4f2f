//! The layers of `src/` as docs/design/layers.md draws them: every import
//! of another top-level module must be one its row allows, and only the
//! node clock reads the system's time. The table is read from the document,
//! so the document and the code cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TABLE: &str = "docs/design/layers.md";
const CLOCK: &str = "src/model/clock.rs";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Rows of the table: module → the modules it may import. A row's first
/// cell is one module in backticks; its second lists the allowed ones in
/// backticks (or says "nothing").
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join(TABLE)).expect("docs/design/layers.md");
    let mut rows = BTreeMap::new();
    for line in text.lines().filter(|l| l.trim_start().starts_with('|')) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        let [module, may, ..] = cells[..] else {
            continue;
        };
        let module = ticked(module);
        if module.len() != 1 {
            continue;
        }
        let may = ticked(may).into_iter().collect();
        assert!(
            rows.insert(module[0].clone(), may).is_none(),
            "{TABLE}: `{}` has two rows",
            module[0]
        );
    }
    rows
}

/// The words in backticks of a table cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|w| w.trim().to_string())
        .collect()
}

/// The top-level modules: `src/NAME.rs` and `src/NAME/`, but not the crate
/// root `lib.rs` (`main.rs` is the binary, a module of its own here).
fn top_modules() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(root().join("src")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if p.is_dir() || (p.extension().is_some_and(|x| x == "rs") && name != "lib") {
            out.insert(name);
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
    /// `::`
    Path,
}

/// The file's tokens with their lines, comments, strings and character
/// literals left out (an import in a doc comment is no import).
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let b = src.as_bytes();
    let (mut i, mut line, mut out) = (0, 1, vec![]);
    let skip_to = |i: &mut usize, line: &mut usize, end: usize| {
        *line += b[*i..end].iter().filter(|&&c| c == b'\n').count();
        *i = end;
    };
    while i < b.len() {
        let c = b[i];
        let rest = &src[i..];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if rest.starts_with("//") {
            let end = rest.find('\n').map_or(b.len(), |n| i + n);
            skip_to(&mut i, &mut line, end);
        } else if rest.starts_with("/*") {
            let end = block_comment_end(b, i);
            skip_to(&mut i, &mut line, end);
        } else if let Some(end) = string_end(b, i) {
            skip_to(&mut i, &mut line, end);
        } else if c == b'\'' {
            // A character literal, or a lifetime (which is left alone).
            let end = char_end(src, i);
            skip_to(&mut i, &mut line, end);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let end = i + rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            out.push((Tok::Ident(src[i..end].to_string()), line));
            i = end;
        } else if rest.starts_with("::") {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            if !c.is_ascii_whitespace() {
                out.push((Tok::Punct(c as char), line));
            }
            i += 1;
        }
    }
    out
}

fn block_comment_end(b: &[u8], start: usize) -> usize {
    let (mut depth, mut i) = (0, start);
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => (depth, i) = (depth + 1, i + 2),
            (b'*', b'/') => {
                (depth, i) = (depth - 1, i + 2);
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// Where a string literal starting at `i` ends: "…", b"…", r"…", r#"…"#,
/// br#"…"#; None when none starts there.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    if b.get(j) == Some(&b'b') || b.get(j) == Some(&b'c') {
        j += 1;
    }
    let raw = b.get(j) == Some(&b'r');
    if raw {
        j += 1;
    }
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    if b.get(j + hashes) != Some(&b'"') || (!raw && hashes > 0) {
        return None;
    }
    let mut k = j + hashes + 1;
    while k < b.len() {
        if !raw && b[k] == b'\\' {
            k += 2;
            continue;
        }
        let closing =
            b[k + 1..].len() >= hashes && b[k + 1..k + 1 + hashes].iter().all(|&c| c == b'#');
        if b[k] == b'"' && closing {
            return Some(k + 1 + hashes);
        }
        k += 1;
    }
    Some(b.len())
}

/// A character literal ends after its closing quote; a lifetime is
/// skipped as its quote alone.
fn char_end(src: &str, i: usize) -> usize {
    let b = src.as_bytes();
    if b.get(i + 1) == Some(&b'\\') {
        // The escaped character itself may be a quote: look past it.
        let close = b[i + 3..].iter().position(|&c| c == b'\'').unwrap_or(0);
        return i + 4 + close;
    }
    let width = src[i + 1..].chars().next().map_or(1, char::len_utf8);
    if b.get(i + 1 + width) == Some(&b'\'') {
        i + 2 + width
    } else {
        i + 1
    }
}

/// Where a file sits in the module tree: `src/a/b.rs` and `src/a/b/mod.rs`
/// are `a::b`; a file that a `#[path]` attribute names is the module that
/// declares it.
fn module_path(file: &Path, renamed: &BTreeMap<PathBuf, Vec<String>>) -> Vec<String> {
    if let Some(p) = renamed.get(file) {
        return p.clone();
    }
    let rel = file.strip_prefix(root().join("src")).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// Files named by `#[path = "F"] mod NAME;`, with the module they are.
fn path_attributes(files: &[PathBuf]) -> BTreeMap<PathBuf, Vec<String>> {
    let mut out = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            let Some(target) = l.trim().strip_prefix("#[path = \"") else {
                continue;
            };
            let target = target.trim_end_matches("\"]");
            let decl = lines.find(|l| l.contains("mod ")).unwrap_or_default();
            let name = decl.split("mod ").nth(1).unwrap_or_default();
            let mut path = module_path(f, &BTreeMap::new());
            path.push(name.trim_end_matches(';').trim().to_string());
            out.insert(f.parent().unwrap().join(target), path);
        }
    }
    out
}

/// An import of another top-level module: where, and what.
struct Import {
    line: usize,
    module: String,
    written: String,
}

/// Every path in the file that names a top-level module: `crate::x`,
/// `crate::{x::…, y}`, `super::…::x` climbing out of the file's own
/// top-level module, and `gyro::x` in the binary.
fn imports(toks: &[(Tok, usize)], path: &[String]) -> Vec<Import> {
    let mut out = vec![];
    // Inline `mod name { … }` blocks open at the brace depth they began.
    let (mut depth, mut inline): (usize, Vec<usize>) = (0, vec![]);
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            Tok::Ident(m) if m == "mod" => {
                if matches!(toks.get(i + 2), Some((Tok::Punct('{'), _))) {
                    inline.push(depth);
                }
            }
            Tok::Ident(r) if (r == "crate" || r == "gyro") && next_is_path(toks, i) => {
                named_after(toks, i + 2, r, &mut out);
            }
            Tok::Ident(s) if s == "super" && !after_path(toks, i) => {
                let mut n = 0;
                while matches!(&toks.get(i + 2 * n), Some((Tok::Ident(s), _)) if s == "super")
                    && next_is_path(toks, i + 2 * n)
                {
                    n += 1;
                }
                // super^n of the module (its inline blocks included) is the
                // crate root exactly when n is its depth.
                if n > 0 && n == path.len() + inline.len() {
                    named_after(toks, i + 2 * n, "super::…", &mut out);
                }
                i += 2 * n.max(1) - 1;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn next_is_path(toks: &[(Tok, usize)], i: usize) -> bool {
    matches!(toks.get(i + 1), Some((Tok::Path, _)))
}

fn after_path(toks: &[(Tok, usize)], i: usize) -> bool {
    i > 0 && matches!(toks[i - 1].0, Tok::Path)
}

/// The module named at `toks[i]`: one name, or each first name in a
/// `{…}` group.
fn named_after(toks: &[(Tok, usize)], i: usize, root: &str, out: &mut Vec<Import>) {
    match toks.get(i) {
        Some((Tok::Ident(m), line)) => out.push(Import {
            line: *line,
            module: m.clone(),
            written: format!("{root}::{m}"),
        }),
        Some((Tok::Punct('{'), _)) => {
            let (mut depth, mut first) = (0, true);
            for (t, line) in &toks[i..] {
                match t {
                    Tok::Punct('{') => {
                        depth += 1;
                        first = depth == 1;
                    }
                    Tok::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Punct(',') if depth == 1 => first = true,
                    Tok::Ident(m) if first && depth == 1 => {
                        out.push(Import {
                            line: *line,
                            module: m.clone(),
                            written: format!("{root}::{{{m}…}}"),
                        });
                        first = false;
                    }
                    _ => first = false,
                }
            }
        }
        _ => {}
    }
}

fn display(f: &Path) -> String {
    f.strip_prefix(root()).unwrap().display().to_string()
}

#[test]
fn every_import_between_top_level_modules_is_one_the_table_allows() {
    let table = allowed();
    let modules = top_modules();
    let mut faults = vec![];
    for m in &modules {
        if !table.contains_key(m) {
            faults.push(format!("{TABLE}: no row for the module `{m}`"));
        }
    }
    for (m, may) in &table {
        for x in may.iter().chain([m]) {
            if !modules.contains(x) {
                faults.push(format!("{TABLE}: `{x}` (row `{m}`) is no module of src/"));
            }
        }
    }
    let mut files = vec![];
    rust_files(&root().join("src"), &mut files);
    files.sort();
    let renamed = path_attributes(&files);
    for f in &files {
        let path = module_path(f, &renamed);
        let Some(own) = path.first().filter(|p| *p != "lib") else {
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for imp in imports(&tokens(&text), &path) {
            let allowed = table.get(own).is_some_and(|may| may.contains(&imp.module));
            if modules.contains(&imp.module) && imp.module != *own && !allowed {
                faults.push(format!(
                    "{}:{}: `{}`: `{own}` may not import `{}` ({TABLE})",
                    display(f),
                    imp.line,
                    imp.written,
                    imp.module
                ));
            }
        }
    }
    assert!(faults.is_empty(), "\n{}\n", faults.join("\n"));
}

#[test]
fn only_the_node_clock_reads_the_system_time() {
    let mut files = vec![];
    rust_files(&root().join("src"), &mut files);
    files.sort();
    let mut faults = vec![];
    for f in files.iter().filter(|f| !f.ends_with(CLOCK)) {
        let toks = tokens(&std::fs::read_to_string(f).unwrap());
        for w in toks.windows(3) {
            if let [(Tok::Ident(a), line), (Tok::Path, _), (Tok::Ident(b), _)] = w {
                if a == "SystemTime" && b == "now" {
                    faults.push(format!(
                        "{}:{line}: `SystemTime::now`: the time comes from the node clock ({CLOCK})",
                        display(f)
                    ));
                }
            }
        }
    }
    assert!(faults.is_empty(), "\n{}\n", faults.join("\n"));
}

#[test]
fn the_scanner_sees_through_groups_climbs_and_comments() {
    let src = "//! crate::api in a comment\nuse crate::{model::X, inventory};\n\
        fn f() { let s = \"crate::cli\"; let c = '{'; super::super::events::go(); }\n\
        mod tests { use super::super::super::server::Y; }\n";
    let path = vec!["ota".to_string(), "intake".to_string()];
    let found: Vec<(usize, String)> = imports(&tokens(src), &path)
        .into_iter()
        .map(|i| (i.line, i.module))
        .collect();
    let want = [(2, "model"), (2, "inventory"), (3, "events"), (4, "server")];
    let want: Vec<(usize, String)> = want.iter().map(|(l, m)| (*l, m.to_string())).collect();
    assert_eq!(found, want);
}
