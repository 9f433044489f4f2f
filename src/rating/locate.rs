//! Where in a rating file a fault is: the line and the key, so that every
//! error reads `FILE:LINE: key: why` and an operator's editor can jump to
//! it. Pure: the file's text in, positions out.
//!
//! The toml crate gives a byte span for syntax and type errors. Faults found
//! after parsing (a bad rate code, a bad network key, a negative price) come
//! from values that no longer know where they were written, so they are
//! found again in the text by the keys and values the message names.

use super::RatingError;

/// The 1-based line holding byte `offset` of `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Where a line's comment starts, if it has one: the first `#` outside a
/// quoted string.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') => return Some(i),
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            _ => {}
        }
    }
    None
}

/// A line without its comment.
fn code(line: &str) -> &str {
    comment_start(line).map_or(line, |i| &line[..i])
}

/// The dotted key of the line holding `offset`: the table header above it
/// (or on it) and the key before the line's first `=`. None when neither
/// exists (a fault before any table on a line that sets nothing).
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let n = line_at(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    let this = code(lines.get(n - 1).copied().unwrap_or("")).trim();
    let header = lines[..n.min(lines.len())]
        .iter()
        .rev()
        .map(|l| code(l).trim())
        .find(|l| l.starts_with('['))
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = this
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match (header, key) {
        (Some(h), Some(k)) => Some(format!("{h}.{k}")),
        (h, k) => h.or(k.map(str::to_string)),
    }
}

/// Characters that continue a bare key or a rate code: a match of a needle
/// must not be part of a longer word (`2137` is not in `21377`).
fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The first whole-word occurrence of `needle` at or after byte `from`
/// that is not in a comment.
fn find_word(text: &str, needle: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(i) = text.get(at..)?.find(needle).map(|i| i + at) {
        let end = i + needle.len();
        let before = text[..i].chars().next_back();
        let after = text[end..].chars().next();
        let line_start = text[..i].rfind('\n').map_or(0, |p| p + 1);
        let commented = comment_start(&text[line_start..]).is_some_and(|c| line_start + c < i);
        if !before.is_some_and(word_char) && !after.is_some_and(word_char) && !commented {
            return Some(i);
        }
        at = end;
    }
    None
}

/// The line of the last of `needles`, each looked for after the one before
/// it (a rate code after its group's name, a network after its sponsor).
/// When that chain is not in the text (a table written in another order),
/// the first occurrence of the last needle.
pub fn find_line(text: &str, needles: &[&str]) -> Option<usize> {
    let needles: Vec<&str> = needles.iter().copied().filter(|n| !n.is_empty()).collect();
    let last = *needles.last()?;
    let chained = needles
        .iter()
        .try_fold(0, |from, n| find_word(text, n, from));
    chained
        .or_else(|| find_word(text, last, 0))
        .map(|i| line_at(text, i))
}

/// A fault found after parsing, at the line of `needles` when it is found.
pub fn semantic(file: &str, text: &str, needles: &[&str], message: String) -> RatingError {
    match find_line(text, needles) {
        Some(line) => RatingError::At {
            file: file.into(),
            line,
            message,
        },
        None => RatingError::Config {
            file: file.into(),
            message,
        },
    }
}

/// A syntax, type or unknown-field error from the toml crate, on one line
/// with its line and key (the crate's own rendering spans several lines).
pub fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> RatingError {
    let why = e.message().trim_end().replace('\n', "; ");
    match e.span() {
        Some(span) => RatingError::At {
            file: file.into(),
            line: line_at(text, span.start),
            message: match key_at(text, span.start) {
                Some(key) => format!("{key}: {why}"),
                None => why,
            },
        },
        None => RatingError::Config {
            file: file.into(),
            message: why,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "top = 1\n[grant]\n# data_octets in a comment\ndata_octets = 5 # data_octets\n\n[[tariff]]\nsponsor = \"x\"\nprices = { \"21377\" = \"1\", \"2137\" = \"2\" }\n";

    #[test]
    fn lines_and_keys() {
        assert_eq!(line_at(TEXT, 0), 1);
        let at = TEXT.find("5 #").unwrap();
        assert_eq!(line_at(TEXT, at), 4);
        assert_eq!(key_at(TEXT, at).as_deref(), Some("grant.data_octets"));
        assert_eq!(key_at(TEXT, 0).as_deref(), Some("top"));
        let header = TEXT.find("tariff").unwrap();
        assert_eq!(key_at(TEXT, header).as_deref(), Some("tariff"));
    }

    #[test]
    fn needles_are_whole_words_outside_comments() {
        assert_eq!(find_line(TEXT, &["data_octets"]), Some(4));
        assert_eq!(find_line(TEXT, &["x", "2137"]), Some(8));
        assert_eq!(find_line(TEXT, &["grant", "data_octets"]), Some(4));
        // Out of order: the first occurrence of the last needle.
        assert_eq!(find_line(TEXT, &["2137", "top"]), Some(1));
        assert_eq!(find_line(TEXT, &["nowhere"]), None);
        assert_eq!(find_line(TEXT, &[]), None);
    }
}
