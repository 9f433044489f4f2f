//! The documentation keeps two promises a reader relies on: every relative
//! link in README.md and docs/ leads to a file that exists (and, with an
//! `#anchor`, to a heading of it, named as GitHub names headings), and every
//! key of the shipped configuration files is in the configuration reference.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const REFERENCE: &str = "docs/guide/configuration.md";

/// Configuration files whose every key the reference must name.
const CONFIGS: [&str; 2] = ["config/gyro.toml", "config/proxy.example.toml"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README.md and every Markdown file under docs/.
fn markdown_files() -> Vec<PathBuf> {
    let mut out = vec![repo().join("README.md")];
    let mut dirs = vec![repo().join("docs")];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The lines of a Markdown file that are prose: fenced code blocks left out,
/// with their line numbers (from 1).
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| t.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(f), Some(m)) if f == m => fence = None,
            (None, None) => out.push((i + 1, line)),
            _ => {}
        }
    }
    out
}

/// A line with its inline code spans removed, so that `[x](y)` inside
/// backticks is not taken for a link.
fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join("")
}

/// The targets of the inline links `[text](target)` of a line.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut out = vec![];
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        out.push(after[..end].trim().to_string());
        rest = &after[end..];
    }
    out
}

/// The anchor GitHub gives a heading: lower case, inline markup and
/// punctuation dropped (letters, digits, `-` and `_` stay), spaces become
/// `-`.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    // A link in a heading counts by its text only.
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](") else {
            break;
        };
        let Some(close) = rest[open + mid..].find(')') else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..open + mid]);
        rest = &rest[open + mid + close + 1..];
    }
    text.push_str(rest);
    text.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor a Markdown file offers: its headings' slugs, a repeated
/// slug numbered `-1`, `-2` … as GitHub does.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = vec![];
    for (_, line) in prose_lines(text) {
        let level = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&level) || !line[level..].starts_with(' ') {
            continue;
        }
        let base = slug(line[level..].trim().trim_end_matches('#').trim());
        let n = seen.entry(base.clone()).or_insert(0);
        out.push(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// What is wrong with one link of `file`, if anything.
fn broken(file: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let dest = if path.is_empty() {
        file.to_path_buf()
    } else {
        file.parent().expect("a file has a folder").join(path)
    };
    if !dest.exists() {
        return Some(format!("{} does not exist", dest.display()));
    }
    let anchor = anchor?;
    if dest.extension().is_none_or(|x| x != "md") {
        return Some(format!("#{anchor}: {} is not Markdown", dest.display()));
    }
    let known = anchors(&read(&dest));
    (!known.iter().any(|a| a == anchor)).then(|| {
        format!(
            "no heading #{anchor} in {} (it has: {})",
            dest.display(),
            known.join(", ")
        )
    })
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut faults = vec![];
    let mut links = 0;
    for file in markdown_files() {
        let text = read(&file);
        for (n, line) in prose_lines(&text) {
            for target in link_targets(line) {
                links += 1;
                if let Some(why) = broken(&file, &target) {
                    let name = file
                        .strip_prefix(repo())
                        .unwrap_or(&file)
                        .display()
                        .to_string();
                    faults.push(format!("{name}:{n}: ({target}): {why}"));
                }
            }
        }
    }
    assert!(links > 50, "only {links} links found: is the scan broken?");
    assert!(faults.is_empty(), "broken links:\n{}", faults.join("\n"));
}

/// The dotted path of every key of a TOML table. Tables add their name to
/// the path; an array of tables adds its name once, without an index, so
/// `[[diameter.peers]] origin_host` is `diameter.peers.origin_host`. Any
/// other value (an array of strings included) is one key.
fn dotted_keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => dotted_keys(t, &path, out),
            toml::Value::Array(items)
                if !items.is_empty() && items.iter().all(|v| v.is_table()) =>
            {
                for item in items.iter().filter_map(toml::Value::as_table) {
                    dotted_keys(item, &path, out);
                }
            }
            _ => out.push(path),
        }
    }
}

#[test]
fn every_shipped_configuration_key_is_in_the_reference() {
    let reference = read(&repo().join(REFERENCE));
    let mut missing = vec![];
    for config in CONFIGS {
        let table: toml::Table = read(&repo().join(config))
            .parse()
            .unwrap_or_else(|e| panic!("{config}: {e}"));
        let mut keys = vec![];
        dotted_keys(&table, "", &mut keys);
        assert!(keys.len() > 20, "{config}: only {} keys found", keys.len());
        for key in keys {
            if !reference.contains(&format!("`{key}`")) && !missing.contains(&key) {
                missing.push(key);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys of {CONFIGS:?} that {REFERENCE} does not name (as `section.key`): {missing:?}"
    );
}

#[test]
fn headings_get_the_anchors_github_gives_them() {
    assert_eq!(slug("Reloading the rating"), "reloading-the-rating");
    assert_eq!(
        slug("`[events]` and `[[events.webhook]]`"),
        "events-and-eventswebhook"
    );
    assert_eq!(
        slug("The exchange with the SM-DP+ (`gyro serve` with `[smdp]`)"),
        "the-exchange-with-the-sm-dp-gyro-serve-with-smdp"
    );
    assert_eq!(
        slug("#1.7 Bundle change and eSIM swap"),
        "17-bundle-change-and-esim-swap"
    );
    assert_eq!(
        slug("See [the guide](guide/x.md) first"),
        "see-the-guide-first"
    );
    let doc = "# A\n## B\n```\n# not a heading\n```\n## B\n";
    assert_eq!(anchors(doc), ["a", "b", "b-1"]);
}

#[test]
fn dotted_keys_name_arrays_of_tables_without_an_index() {
    let t: toml::Table =
        "top = 1\n[a]\nb = [1, 2]\n[a.c]\nd = \"x\"\n[[e.f]]\ng = 1\n[[e.f]]\nh = 2\n"
            .parse()
            .expect("valid TOML");
    let mut keys = vec![];
    dotted_keys(&t, "", &mut keys);
    keys.sort();
    assert_eq!(keys, ["a.b", "a.c.d", "e.f.g", "e.f.h", "top"]);
}
