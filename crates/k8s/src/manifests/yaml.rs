//! A YAML writer for the manifests: block mappings and sequences over a `serde_json::Value`,
//! strings plain only where every YAML 1.1 and 1.2 reader (PyYAML, libyaml, Go's yaml.v2 and
//! v3 as kubectl uses them) reads them back as the same string, double-quoted otherwise.
//!
//! A YAML crate would do this too, but the ones that write are either deprecated
//! (`serde_yaml`) or forks of it; what the manifests need is a hundred lines whose every
//! quoting decision is visible and tested here.
//!
//! Mapping keys are written sorted, whatever order the map kept, so the output does not depend
//! on whether some other crate in the build turned on `serde_json/preserve_order`.

use std::fmt::Write as _;

use serde_json::Value;

/// One YAML document for `value`, ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_sequence(&mut out, items, 0, false),
        scalar => {
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
    out
}

/// Several documents in one stream, separated by `---` lines.
pub fn join_documents<'a>(documents: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (index, document) in documents.into_iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        out.push_str(document);
    }
    out
}

/// Writes the entries of a non-empty mapping, each on its own line at `indent`; with
/// `first_inline`, the first entry continues the line of the sequence item's `- `.
fn write_mapping(
    out: &mut String,
    map: &serde_json::Map<String, Value>,
    indent: usize,
    first_inline: bool,
) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for (index, key) in keys.into_iter().enumerate() {
        // Invariant: YAML readers take implicit keys of at most 1024 characters; Kubernetes
        // field names and label keys (at most 317) stay far below.
        assert!(key.len() <= 1024, "a mapping key of {} bytes", key.len());
        if index > 0 || !first_inline {
            push_indent(out, indent);
        }
        out.push_str(&string_text(key));
        out.push(':');
        write_value_after_key(out, &map[key], indent);
    }
}

/// Writes the items of a non-empty sequence, each after a `- ` at `indent` (kubectl's style:
/// a sequence under a key is not indented further than the key); `first_inline` as for
/// [`write_mapping`].
fn write_sequence(out: &mut String, items: &[Value], indent: usize, first_inline: bool) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 || !first_inline {
            push_indent(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_mapping(out, map, indent + 2, true),
            Value::Array(nested) if !nested.is_empty() => {
                write_sequence(out, nested, indent + 2, true);
            }
            scalar => {
                out.push_str(&scalar_text(scalar));
                out.push('\n');
            }
        }
    }
}

fn write_value_after_key(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_mapping(out, map, indent + 2, false);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_sequence(out, items, indent, false);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar, or an empty mapping or sequence, as flow text.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number_text(number),
        Value::String(text) => string_text(text),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Integers as they are; floats with a `.` in the mantissa and a sign on the exponent, which
/// YAML 1.1 readers need to see a float rather than a string (`1e20` is a string to PyYAML).
fn number_text(number: &serde_json::Number) -> String {
    let text = number.to_string();
    if number.is_i64() || number.is_u64() {
        return text;
    }
    match text.split_once('e') {
        None if text.contains('.') => text,
        None => format!("{text}.0"),
        Some((mantissa, exponent)) => {
            let mantissa = if mantissa.contains('.') {
                mantissa.to_string()
            } else {
                format!("{mantissa}.0")
            };
            let exponent = if exponent.starts_with(['+', '-']) {
                exponent.to_string()
            } else {
                format!("+{exponent}")
            };
            format!("{mantissa}e{exponent}")
        }
    }
}

/// A string plain when that is unambiguous, else double-quoted.
fn string_text(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_string()
    } else {
        double_quoted(text)
    }
}

/// Whether `text` may be written unquoted: printable ASCII without the sequences that end or
/// start something else (`: `, ` #`, a leading indicator), and not a word or number that a
/// YAML 1.1 reader resolves to another type (`yes`, `on`, `1.0`, `0x1F`, `12:30`).
fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let printable = text.bytes().all(|byte| (0x20..0x7f).contains(&byte));
    let edges_clean = !first.is_whitespace() && !text.ends_with([' ', ':']);
    // A leading `-` is plain only as in `--listen`: not `- x` (an item), not `---` (a document
    // marker), not `-.inf` (a float).
    let starts_plain = match first {
        '-' => {
            text.len() > 1
                && !text.starts_with("- ")
                && !text.starts_with("---")
                && !text[1..].starts_with('.')
        }
        c => !"?:,[]{}#&*!|>'\"%@`.~=<".contains(c),
    };
    let no_breaks = !text.contains(": ") && !text.contains(" #");
    printable && edges_clean && starts_plain && no_breaks && !resolves_to_other_type(text)
}

/// Booleans and nulls of YAML 1.1 and 1.2 in any case, and anything that could be an integer,
/// float, sexagesimal number or timestamp: a digit after an optional sign followed only by
/// characters those forms use. Erring towards quoting is harmless; the reverse is not.
fn resolves_to_other_type(text: &str) -> bool {
    const WORDS: [&str; 10] = [
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
    ];
    if WORDS.contains(&text.to_ascii_lowercase().as_str()) {
        return true;
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let starts_numeric = unsigned.starts_with(|c: char| c.is_ascii_digit());
    let numeric_chars = unsigned
        .chars()
        .all(|c| c.is_ascii_hexdigit() || "_.:+-xXoObBtTzZ ".contains(c));
    starts_numeric && numeric_chars
}

/// A double-quoted scalar with JSON-style escapes; the characters YAML 1.1 takes as line breaks
/// (NEL, LS, PS) and the byte-order mark are escaped too, so they survive a reader.
fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(value: Value, expected: &str) {
        assert_eq!(to_yaml(&value), expected, "for {value}");
    }

    fn check_string(text: &str, expected: &str) {
        assert_eq!(string_text(text), expected, "for {text:?}");
    }

    #[test]
    fn strings_that_readers_would_take_for_something_else_are_quoted() {
        for word in [
            "yes", "No", "ON", "off", "y", "true", "False", "null", "~", "",
        ] {
            check_string(word, &format!("\"{word}\""));
        }
        for number in [
            "1",
            "1.0",
            "-2",
            "+3.5",
            "1e3",
            "0x1F",
            "0o17",
            "12:30",
            "2001-12-14",
        ] {
            check_string(number, &format!("\"{number}\""));
        }
        check_string(": ", "\": \"");
        check_string("a: b", "\"a: b\"");
        check_string("key:", "\"key:\"");
        check_string("# comment", "\"# comment\"");
        check_string("value # comment", "\"value # comment\"");
        check_string("  leading", "\"  leading\"");
        check_string("trailing ", "\"trailing \"");
        check_string("two\nlines", "\"two\\nlines\"");
        check_string("tab\there", "\"tab\\there\"");
        check_string("\"hi\" \\ bye", "\"\\\"hi\\\" \\\\ bye\"");
        check_string("- item", "\"- item\"");
        check_string("*alias", "\"*alias\"");
        check_string("{flow}", "\"{flow}\"");
        check_string("---", "\"---\"");
        check_string("-", "\"-\"");
        check_string("-.inf", "\"-.inf\"");
        check_string(".nan", "\".nan\"");
        check_string("<<", "\"<<\"");
        check_string("café", "\"café\"");
        check_string("line\u{2028}separator", "\"line\\u2028separator\"");
        check_string("bell\u{7}", "\"bell\\u0007\"");
    }

    #[test]
    fn ordinary_strings_stay_plain() {
        for text in [
            "8Gi",
            "250m",
            "30s",
            "apps/v1",
            "app.kubernetes.io/name",
            "http://purser.agents.svc:7543",
            "sum(rate(x{namespace=\"agents\",container!=\"\"}[5m])) > 0.9",
            "Pod {{ $labels.pod }} is at {{ $value | humanizePercentage }}",
            "deadbeef",
            "say \"hi\" \\ bye",
            "Off-peak",
            "--data-dir",
        ] {
            check_string(text, text);
        }
    }

    #[test]
    fn blocks_nest_in_kubectl_style() {
        check(
            json!({"kind": "Pod", "metadata": {"name": "a", "labels": {}}, "spec": {
                "args": ["serve", "--listen", "0.0.0.0:7543"],
                "containers": [{"name": "agent", "ports": [{"containerPort": 80}]}, {}],
                "matrix": [[1, 2], []],
                "empty": [],
                "ratio": 0.5,
                "none": null,
                "on": true,
            }}),
            "kind: Pod\nmetadata:\n  labels: {}\n  name: a\nspec:\n  args:\n  - serve\n  - --listen\n  \
             - \"0.0.0.0:7543\"\n  containers:\n  - name: agent\n    ports:\n    - containerPort: 80\n  \
             - {}\n  empty: []\n  matrix:\n  - - 1\n    - 2\n  - []\n  none: null\n  \"on\": true\n  \
             ratio: 0.5\n",
        );
        check(json!([{"a": {"b": 1}}]), "- a:\n    b: 1\n");
        check(json!("yes"), "\"yes\"\n");
    }

    #[test]
    fn floats_keep_a_decimal_point_and_a_signed_exponent() {
        check(json!(1e20), "1.0e+20\n");
        check(json!(2.5e-7), "2.5e-7\n");
        check(json!(100.0), "100.0\n");
        check(json!(42), "42\n");
    }

    #[test]
    fn documents_join_with_separator_lines() {
        assert_eq!(join_documents(["a: 1\n", "b: 2\n"]), "a: 1\n---\nb: 2\n");
        assert_eq!(join_documents(["a: 1\n"]), "a: 1\n");
    }
}
