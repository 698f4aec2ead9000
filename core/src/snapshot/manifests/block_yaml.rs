//! A fast reader for the block-style YAML that `kubectl get -o yaml`, Helm and most Git
//! repositories write, giving exactly the [`Value`]s that serde-saphyr gives for the same text.
//!
//! serde-saphyr reads about 7 MB/s per core, which made it most of the cost of
//! `audit --manifests`. Manifests use a small part of YAML: block mappings and sequences, plain
//! one-line scalars, one-line quoted scalars, one-line flow collections (`{app: web}`), literal
//! and simple folded block scalars (`|`, `|-`, `>-`) and comments. [`parse`] reads that part
//! line by line and returns
//! `None` as soon as it meets anything else (anchors, aliases, tags, multi-line flow
//! collections, multi-line plain or quoted scalars, folded scalars with blank or indented lines,
//! tabs, CRLF, directives, duplicate or non-string keys, merge keys, numbers it does not
//! resolve the way serde-saphyr does): the caller then parses the whole file with serde-saphyr,
//! so every error message, every line number and every unusual construct is serde-saphyr's.
//!
//! Plain scalars are resolved as serde-saphyr's default options resolve them into a
//! `serde_json::Value` (YAML 1.1 booleans such as `yes`/`on`, `~`/`null` as null, decimal
//! integers, `0755` and `1e3` as floats); the spellings it resolves by rules this reader does
//! not repeat (`0x`, `0o`, `0b`, underscores, `.inf`, overflowing numbers) make it give up.
//! The differential tests below and in `tests/manifests_fast_path.rs` compare both readers.

use serde_json::{Map, Number, Value};

/// The reader gave up: the caller parses the file with serde-saphyr instead.
#[derive(Debug)]
pub(super) struct GiveUp;

type Read<T> = Result<T, GiveUp>;

/// Parses every document of a multi-document YAML text, or `None` when the text uses anything
/// outside the subset this reader handles. Empty documents (also the text before a first
/// `---`) come back as [`Value::Null`], for the caller to drop as it drops serde-saphyr's.
pub(super) fn parse(text: &str) -> Option<Vec<Value>> {
    if text.contains(['\t', '\r']) || text.starts_with('\u{feff}') {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut docs = Vec::new();
    let mut start = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("...") || line.starts_with('%') {
            return None;
        }
        let Some(rest) = line.strip_prefix("---") else {
            continue;
        };
        if rest.is_empty() || rest.starts_with(' ') {
            if !is_blank_or_comment(rest) {
                return None;
            }
            docs.push(document(&lines[start..i]).ok()?);
            start = i + 1;
        }
    }
    docs.push(document(&lines[start..]).ok()?);
    Some(docs)
}

fn is_blank_or_comment(s: &str) -> bool {
    let t = s.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// One document: a block mapping at column 0, or nothing (null).
fn document(lines: &[&str]) -> Read<Value> {
    let mut p = Reader { lines, i: 0 };
    p.skip_blank();
    if p.done() {
        return Ok(Value::Null);
    }
    if indent(p.line()) != 0 || find_key(p.line())?.is_none() {
        return Err(GiveUp);
    }
    let root = p.mapping(0)?;
    p.skip_blank();
    if !p.done() {
        return Err(GiveUp);
    }
    Ok(root)
}

struct Reader<'a> {
    lines: &'a [&'a str],
    i: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.i >= self.lines.len()
    }

    fn line(&self) -> &'a str {
        self.lines[self.i]
    }

    fn skip_blank(&mut self) {
        while !self.done() && is_blank_or_comment(self.line()) {
            self.i += 1;
        }
    }

    /// Indentation of the next non-blank line, if any (after skipping blank lines).
    fn next_indent(&mut self) -> Option<usize> {
        self.skip_blank();
        (!self.done()).then(|| indent(self.line()))
    }

    /// A block mapping whose keys sit at column `col`; the current line holds its first key.
    fn mapping(&mut self, col: usize) -> Read<Value> {
        let mut map = Map::new();
        loop {
            let content = &self.line()[col..];
            let (key, rest) = find_key(content)?.ok_or(GiveUp)?;
            if key == "<<" {
                return Err(GiveUp);
            }
            let rest = rest.trim_start_matches(' ');
            let value = if is_blank_or_comment(rest) {
                self.i += 1;
                match self.next_indent() {
                    Some(ind) if ind > col => self.node(ind, col)?,
                    Some(ind) if ind == col && is_dash(&self.line()[col..]) => {
                        self.sequence(col)?
                    }
                    _ => Value::Null,
                }
            } else {
                self.inline(rest, col)?
            };
            if map.insert(key, value).is_some() {
                return Err(GiveUp);
            }
            match self.next_indent() {
                Some(ind) if ind == col && !is_dash(&self.line()[col..]) => {}
                Some(ind) if ind > col => return Err(GiveUp),
                Some(ind) if ind == col => return Err(GiveUp),
                _ => return Ok(Value::Object(map)),
            }
        }
    }

    /// A block sequence whose dashes sit at column `col`; the current line holds the first.
    fn sequence(&mut self, col: usize) -> Read<Value> {
        let mut items = Vec::new();
        loop {
            let after = &self.line()[col + 1..];
            let rest = after.trim_start_matches(' ');
            let item_col = col + 1 + (after.len() - rest.len());
            let item = if is_blank_or_comment(rest) {
                self.i += 1;
                match self.next_indent() {
                    Some(ind) if ind > col => self.node(ind, col)?,
                    _ => Value::Null,
                }
            } else if is_dash(rest) {
                self.sequence(item_col)?
            } else if find_key(rest)?.is_some() {
                self.mapping(item_col)?
            } else {
                self.inline(rest, col)?
            };
            items.push(item);
            match self.next_indent() {
                Some(ind) if ind == col && is_dash(&self.line()[col..]) => {}
                Some(ind) if ind > col => return Err(GiveUp),
                _ => return Ok(Value::Array(items)),
            }
        }
    }

    /// A node starting at column `col` of the current line, inside a parent at `parent`.
    fn node(&mut self, col: usize, parent: usize) -> Read<Value> {
        let content = &self.line()[col..];
        if is_dash(content) {
            self.sequence(col)
        } else if content.starts_with(['|', '>']) {
            Err(GiveUp)
        } else if find_key(content)?.is_some() {
            self.mapping(col)
        } else {
            self.inline(content, parent)
        }
    }

    /// A scalar, `{}`, `[]` or literal block scalar that starts in `text` on the current line,
    /// a value of a parent collection at column `parent`. Moves past the lines it used.
    fn inline(&mut self, text: &str, parent: usize) -> Read<Value> {
        let value = match text.as_bytes()[0] {
            b'"' | b'\'' => {
                let (s, rest) = quoted(text)?;
                if !ends_line(rest) {
                    return Err(GiveUp);
                }
                Value::String(s)
            }
            b'|' => return self.block_scalar(&text[1..], parent, false),
            b'>' => return self.block_scalar(&text[1..], parent, true),
            b'{' | b'[' => {
                let (value, rest) = flow(text, 0)?;
                if !ends_line(rest) {
                    return Err(GiveUp);
                }
                value
            }
            _ => {
                let plain = plain_end(text);
                if plain.ends_with(':') || plain.contains(": ") || starts_with_indicator(plain) {
                    return Err(GiveUp);
                }
                resolve(plain)?
            }
        };
        self.i += 1;
        // A more indented line after a one-line scalar would continue it (or be an error).
        match self.next_indent() {
            Some(ind) if ind > parent => Err(GiveUp),
            _ => Ok(value),
        }
    }

    /// A literal (`|`, `|-`) or folded (`>`, `>-`) block scalar; `header` is what follows the
    /// indicator. Folded scalars are read only when every line sits at the block's indentation
    /// with no blank line between (their lines joined by spaces); others are left to
    /// serde-saphyr.
    fn block_scalar(&mut self, header: &str, parent: usize, folded: bool) -> Read<Value> {
        let strip = match header.trim_end_matches(' ') {
            "" => false,
            "-" => true,
            _ => return Err(GiveUp),
        };
        self.i += 1;
        let Some(&first) = self.lines.get(self.i) else {
            return Err(GiveUp);
        };
        let block = indent(first);
        if first.trim_start_matches(' ').is_empty() || block <= parent {
            return Err(GiveUp);
        }
        let mut out = String::new();
        let mut pending_newlines = 0;
        while let Some(&line) = self.lines.get(self.i) {
            if line.trim_start_matches(' ').is_empty() {
                if line.len() > block {
                    return Err(GiveUp);
                }
                pending_newlines += 1;
            } else if indent(line) < block {
                break;
            } else {
                if folded && (pending_newlines > 0 || indent(line) > block) {
                    return Err(GiveUp);
                }
                if folded && !out.is_empty() {
                    out.push(' ');
                } else if !out.is_empty() || pending_newlines > 0 {
                    out.push('\n');
                }
                for _ in 0..pending_newlines {
                    out.push('\n');
                }
                pending_newlines = 0;
                out.push_str(&line[block..]);
            }
            self.i += 1;
        }
        if !strip {
            out.push('\n');
        }
        Ok(Value::String(out))
    }
}

/// A one-line flow collection (`{a: 1, b: [x, "y"]}`) at the start of `text`, and the text
/// after it. Entries must be `key: value` in mappings and values in sequences, without
/// trailing commas, empty values or comments inside; anything else is left to serde-saphyr.
fn flow(text: &str, depth: usize) -> Read<(Value, &str)> {
    if depth > 32 {
        return Err(GiveUp);
    }
    let is_map = text.starts_with('{');
    let close = if is_map { '}' } else { ']' };
    let mut rest = text[1..].trim_start_matches(' ');
    let mut map = Map::new();
    let mut items = Vec::new();
    if let Some(after) = rest.strip_prefix(close) {
        let value = if is_map {
            Value::Object(map)
        } else {
            Value::Array(items)
        };
        return Ok((value, after));
    }
    loop {
        if is_map {
            let (key, after) = flow_scalar(rest, true)?;
            let Value::String(key) = key else {
                return Err(GiveUp);
            };
            let after = after.trim_start_matches(' ');
            let after = after.strip_prefix(": ").ok_or(GiveUp)?;
            let (value, after) = flow_node(after.trim_start_matches(' '), depth)?;
            if key == "<<" || map.insert(key, value).is_some() {
                return Err(GiveUp);
            }
            rest = after;
        } else {
            let (value, after) = flow_node(rest, depth)?;
            items.push(value);
            rest = after;
        }
        rest = rest.trim_start_matches(' ');
        if let Some(after) = rest.strip_prefix(close) {
            let value = if is_map {
                Value::Object(map)
            } else {
                Value::Array(items)
            };
            return Ok((value, after));
        }
        rest = rest
            .strip_prefix(',')
            .ok_or(GiveUp)?
            .trim_start_matches(' ');
        if rest.starts_with([']', '}', ',']) || rest.is_empty() {
            return Err(GiveUp);
        }
    }
}

/// A value inside a flow collection: a nested collection or a scalar.
fn flow_node(text: &str, depth: usize) -> Read<(Value, &str)> {
    if text.starts_with(['{', '[']) {
        flow(text, depth + 1)
    } else {
        flow_scalar(text, false)
    }
}

/// A quoted or plain scalar inside a flow collection (a key when `key`), and the text after it.
fn flow_scalar(text: &str, key: bool) -> Read<(Value, &str)> {
    if text.starts_with(['"', '\'']) {
        let (s, rest) = quoted(text)?;
        return Ok((Value::String(s), rest));
    }
    let end = text.find([',', '[', ']', '{', '}']).unwrap_or(text.len());
    let (plain, rest) = text.split_at(end);
    let plain = plain.trim_end_matches(' ');
    // A colon ends a key; in a value (or any other place) it is left to serde-saphyr.
    let (plain, rest) = match plain.find(':') {
        Some(at) if key => (&plain[..at], &text[at..]),
        Some(_) => return Err(GiveUp),
        None => (plain, rest),
    };
    let plain = plain.trim_end_matches(' ');
    if plain.is_empty() || plain.contains('#') || starts_with_indicator(plain) {
        return Err(GiveUp);
    }
    let value = resolve(plain)?;
    if key && !value.is_string() {
        return Err(GiveUp);
    }
    Ok((value, rest))
}

/// Whether what follows a value on its line is nothing or a comment.
fn ends_line(rest: &str) -> bool {
    rest.is_empty() || (rest.starts_with(' ') && is_blank_or_comment(rest))
}

/// Whether `s` starts a block sequence entry (`-` then a space or the end of the line).
fn is_dash(s: &str) -> bool {
    s == "-" || s.starts_with("- ")
}

/// Characters that cannot start a plain scalar or that start constructs this reader leaves to
/// serde-saphyr (anchors, aliases, tags, flow collections, folded scalars, reserved).
fn starts_with_indicator(s: &str) -> bool {
    matches!(
        s.as_bytes().first(),
        Some(
            b'&' | b'*'
                | b'!'
                | b'>'
                | b'|'
                | b'%'
                | b'@'
                | b'`'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b','
                | b'#'
        )
    ) || s.starts_with("? ")
        || s == "?"
        || s.starts_with(": ")
        || s == ":"
        || s == "-"
        || s.starts_with("- ")
}

/// The plain scalar at the start of `text`: up to a ` #` comment, trailing spaces removed.
fn plain_end(text: &str) -> &str {
    let end = text.find(" #").unwrap_or(text.len());
    text[..end].trim_end_matches(' ')
}

/// If `content` is a mapping entry, its key (as a string) and the text after the colon.
/// `Err` means a key this reader does not handle.
fn find_key(content: &str) -> Read<Option<(String, &str)>> {
    let first = content.as_bytes().first().copied();
    if let Some(b'"' | b'\'') = first {
        let (key, rest) = quoted(content)?;
        let rest = rest.trim_start_matches(' ');
        return Ok(match rest.strip_prefix(':') {
            Some(after) if after.is_empty() || after.starts_with(' ') => Some((key, after)),
            _ => None,
        });
    }
    if is_dash(content) || content.is_empty() {
        return Ok(None);
    }
    let bytes = content.as_bytes();
    let mut at = None;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && i > 0 && bytes[i - 1] == b' ' {
            break;
        }
        if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            at = Some(i);
            break;
        }
    }
    let Some(at) = at else {
        return Ok(None);
    };
    let key = content[..at].trim_end_matches(' ');
    if key.is_empty() || starts_with_indicator(key) {
        return Err(GiveUp);
    }
    match resolve(key)? {
        Value::String(s) => Ok(Some((s, &content[at + 1..]))),
        _ => Err(GiveUp),
    }
}

/// A one-line single- or double-quoted scalar at the start of `text`, and the text after it.
fn quoted(text: &str) -> Read<(String, &str)> {
    let quote = text.as_bytes()[0];
    let body = &text[1..];
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (b'\'', '\'') => {
                if body[i + 1..].starts_with('\'') {
                    out.push('\'');
                    chars.next();
                } else {
                    return Ok((out, &body[i + 1..]));
                }
            }
            (b'"', '"') => return Ok((out, &body[i + 1..])),
            (b'"', '\\') => {
                let escaped = match chars.next().map(|(_, e)| e) {
                    Some('\\') => '\\',
                    Some('"') => '"',
                    Some('/') => '/',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('r') => '\r',
                    Some('0') => '\0',
                    _ => return Err(GiveUp),
                };
                out.push(escaped);
            }
            _ => out.push(c),
        }
    }
    // Multi-line quoted scalar: left to serde-saphyr.
    Err(GiveUp)
}

/// Resolves a plain scalar as serde-saphyr does for an untyped value, or gives up on spellings
/// it resolves by rules not repeated here.
fn resolve(s: &str) -> Read<Value> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        _ => {}
    }
    const TRUE: [&str; 4] = ["true", "yes", "y", "on"];
    const FALSE: [&str; 4] = ["false", "no", "n", "off"];
    if s.len() <= 5 {
        if TRUE.iter().any(|t| s.eq_ignore_ascii_case(t)) {
            return Ok(Value::Bool(true));
        }
        if FALSE.iter().any(|t| s.eq_ignore_ascii_case(t)) {
            return Ok(Value::Bool(false));
        }
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    match unsigned.as_bytes().first() {
        Some(b'0'..=b'9') => {}
        // `.5`, `.inf`, `.nan`: left to serde-saphyr; `.` and `.foo` are strings.
        Some(b'.')
            if unsigned.as_bytes().get(1).is_some_and(u8::is_ascii_digit)
                || matches!(
                    &unsigned[1..],
                    "inf" | "Inf" | "INF" | "nan" | "NaN" | "NAN"
                ) =>
        {
            return Err(GiveUp);
        }
        // Not a number in any spelling serde-saphyr accepts (Rust's `inf`/`nan` are refused
        // there too): a string.
        _ => return Ok(Value::String(s.to_string())),
    }
    let decimal = unsigned.bytes().all(|b| b.is_ascii_digit());
    if decimal && (unsigned == "0" || !unsigned.starts_with('0')) {
        if unsigned.len() > 18 {
            return Err(GiveUp);
        }
        let n: i64 = unsigned.parse().map_err(|_| GiveUp)?;
        return Ok(Value::Number(if s.starts_with('-') {
            Number::from(-n)
        } else {
            Number::from(n as u64)
        }));
    }
    if unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        // Leading-zero decimals (`0755`) and decimal floats (`1.5`, `1e3`): serde-saphyr reads
        // them with Rust's float parser; a finite result is a float, anything else a string.
        return match s.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Number::from_f64(f).map_or(Value::Null, Value::Number)),
            Ok(_) => Err(GiveUp),
            Err(_) => Ok(Value::String(s.to_string())),
        };
    }
    let radix = ["0x", "0X", "0o", "0O", "0b", "0B"];
    if radix.iter().any(|r| unsigned.starts_with(r)) || unsigned.contains('_') {
        return Err(GiveUp);
    }
    // Starts with a digit, holds a character no number spelling has (`500m`, `128Mi`,
    // `10.0.0.1/24`): a string.
    Ok(Value::String(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both readers on `text`: when the fast one answers, it must equal serde-saphyr.
    fn same(text: &str) -> bool {
        let fast = parse(text);
        let reference: Result<Vec<Value>, _> = serde_saphyr::from_multiple(text);
        match (fast, reference) {
            (Some(fast), Ok(reference)) => {
                let fast: Vec<Value> = fast.into_iter().filter(|v| !v.is_null()).collect();
                assert_eq!(fast, reference, "differs on:\n{text}");
                true
            }
            (Some(fast), Err(e)) => {
                panic!("fast reader accepted what serde-saphyr refuses ({e}): {fast:?}\n{text}")
            }
            (None, _) => false,
        }
    }

    #[test]
    fn plain_scalars_resolve_like_serde_saphyr() {
        let scalars = [
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "False",
            "TRUE",
            "~",
            "null",
            "NULL",
            "0",
            "7",
            "-7",
            "+7",
            "0755",
            "-0755",
            "1e3",
            "1E3",
            "1.5",
            "-1.5",
            "+1.5",
            "1.",
            "123456789012345678",
            "10.0.0.1",
            "1.2.3",
            "500m",
            "128Mi",
            "1Gi",
            "2026-06-01",
            "2026-06-01T10:00:00Z",
            "v1",
            "apps/v1",
            "--x",
            "-x",
            "+x",
            "inf",
            "nan",
            "infinity",
            "1e",
            "e3",
            "1-2",
            "1+2",
            "0.0",
            "-0",
            "a b  c",
            "img:1",
            "http://x:80/y",
            "k:{\"name\":\"app\"}",
            ".",
            ".x",
            "-.x",
            "a#b",
            "yes please",
            "1 2",
            "00000007-1b2c-4d3e-8f90-00000000d889",
            "1b",
            "12ab",
        ];
        for s in scalars {
            assert!(same(&format!("k: {s}\n")), "fell back on {s:?}");
        }
        for s in [
            "-", "0x1F", "0X1f", "0o17", "0b101", "1_000", "-0x1", "0xyz1", ".5", ".inf", "-.inf",
            ".nan", "1e999",
        ] {
            let text = format!("k: {s}\n");
            assert!(!same(&text), "must leave {s:?} to serde-saphyr");
        }
    }

    #[test]
    fn kubectl_shapes_read_like_serde_saphyr() {
        let texts = [
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    app: a\nspec:\n  containers:\n  - name: c\n    image: i:1\n    args:\n    - --x\n    - \"y\"\n    ports:\n    - containerPort: 80\n      name: http\n  hostNetwork: true\nstatus: {}\n",
            "---\n# comment\napiVersion: v1\nkind: ConfigMap\ndata:\n  a: 'it''s'\n  b: \"q\\\"uote\\n\"\n  c: |\n    line 1\n\n    line 2\n  d: |-\n    x\n      y\n  e:\n  f: []\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s # trailing\n",
            "a:\n  - x\n  -\n    - y\n    - z\n  - - p\n    - q\nb: -1\n",
            "labels: {app: web, tier: 'x', num: 1, o: yes}\nl: [a, \"b\", [c, {d: e}], {}, []] # c\nm: {a: {b: [1, 2.5, ~]}}\n",
            "k:\n    deep:\n        deeper: 1\nl: 2\n",
            "a: >-\n  docker.io/library/app@sha256:00\nb: >\n  one\n  two\n\nc: 1\n",
            "",
            "# only a comment\n",
            "---\n",
            "a: 1\n---\n",
        ];
        for text in texts {
            assert!(same(text), "fell back on:\n{text}");
        }
    }

    /// A pod as `kubectl get -o yaml` prints it, with the constructs the reader handles.
    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1\n  namespace: shop\n  labels: {app: web, tier: 'front'}\n  annotations:\n    note: \"a \\\"b\\\" c\"\n    script: |\n      #!/bin/sh\n      echo hi\n\n      exit 0\n  uid: 00000007-1b2c-4d3e-8f90-00000000d889\n  resourceVersion: '100007'\n  managedFields:\n  - manager: kubectl\n    fieldsV1:\n      f:metadata:\n        .: {}\n        k:{\"name\":\"app\"}: {}\nspec:\n  containers:\n  - name: app # main\n    image: registry.example.com/app:1.7\n    args: [--port, '8080', -v]\n    resources:\n      limits: {cpu: 500m, memory: 128Mi}\n    ports:\n    - containerPort: 8080\n  hostNetwork: false\nstatus:\n  phase: Running\n  hostIP: 10.0.0.12\n  mode: 0755\n  ratio: 1e3\n  ready: yes\n  gone: ~\n";

    #[test]
    fn mutated_manifests_never_read_differently() {
        assert!(same(POD), "fell back on the sample pod");
        let pieces = [
            " ", "  ", "\n", ":", ": ", "- ", "#", " #", "'", "\"", "{", "}", "[", "]", ",", "|",
            "|-", ">", "&a ", "*a", "!", "---\n", "~", "yes", "0x1", "1e3", "\\", "?", "%", ".",
            "-", "0", "\n  ", "\n    - ", "\u{e9}",
        ];
        // xorshift: the same mutations on every run.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut rnd = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut taken = 0;
        for _ in 0..2_000 {
            let mut text = POD.to_string();
            for _ in 0..1 + rnd(3) {
                let at = rnd(text.len() + 1);
                if !text.is_char_boundary(at) {
                    continue;
                }
                if rnd(3) == 0 {
                    let mut end = (at + 1 + rnd(4)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end, "");
                } else {
                    text.insert_str(at, pieces[rnd(pieces.len())]);
                }
            }
            taken += usize::from(same(&text));
        }
        // Many mutations stay inside the subset, so the comparison is exercised.
        assert!(taken > 300, "only {taken} mutated texts were read fast");
    }

    #[test]
    fn unusual_yaml_is_left_to_serde_saphyr() {
        let texts = [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: {b: 1, }\n",
            "a: [1, 2,]\n",
            "a: {b}\n",
            "a: {b:c}\n",
            "a: [a:b]\n",
            "a: {b: 1, b: 2}\n",
            "a: {b: 1\n",
            "a: [x #c]\n",
            "a: {1: x}\n",
            "a: >\n  folded\n\n  twice\n",
            "a: >\n  folded\n    more\n",
            "a: multi\n  line\n",
            "a: 1\na: 2\n",
            "<<: {a: 1}\n",
            "1: a\n",
            "true: a\n",
            "a:\tb\n",
            "a: b\r\n",
            "%YAML 1.2\n---\na: 1\n",
            "--- a\n",
            "a: \"multi\n  line\"\n",
            "a: b: c\n",
            "- a\n- b\n",
            "a: |+\n  x\n\n",
            "a: 1\n b: 2\n",
            "? a\n: b\n",
        ];
        for text in texts {
            assert!(!same(text), "fast reader took:\n{text}");
        }
    }
}
