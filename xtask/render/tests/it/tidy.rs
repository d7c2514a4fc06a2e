//! Tidy: fast checks of template/ without rendering it. Every Liquid variable is declared (or
//! built in) and used only where it is defined, Liquid never eats Rust or GitHub Actions syntax,
//! and nothing in template/ is there by accident. All violations are collected, then reported once.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use crate::support::{read, template_dir};

/// Variables cargo-generate 0.26 defines for every template (its `lib.rs`).
const BUILT_INS: &[&str] = &[
    "project-name",
    "crate_name",
    "crate_type",
    "authors",
    "username",
    "os-arch",
    "is_init",
    "within_cargo_project",
];

/// Rust macros whose string arguments are format strings, where `{{` is an escaped brace that
/// Liquid would turn into a placeholder (or abort on, for `{{}}`).
const FORMAT_MACROS: &[&str] = &[
    "print",
    "println",
    "eprint",
    "eprintln",
    "format",
    "format_args",
    "write",
    "writeln",
    "panic",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "unreachable",
    "todo",
    "unimplemented",
    "anyhow",
    "bail",
    "ensure",
    "trace",
    "debug",
    "info",
    "warn",
    "error",
];

#[test]
fn template_is_tidy() {
    let template = template_dir();
    let config = read(&template.join("cargo-generate.toml")).unwrap();
    let declared = Declared::parse(&config)
        .unwrap_or_else(|error| panic!("template/cargo-generate.toml: {error}"));
    let mut files = BTreeMap::new();
    walk(&template, "", &mut files);

    let mut violations = check_tree(&files, &declared);
    if let Ok(hook) = fs::read_to_string(template.join("hooks/taken-names.rhai")) {
        for kind in declared.choices.get("kind").into_iter().flatten() {
            let lock =
                fs::read_to_string(template.join(format!("locks/{kind}.lock"))).unwrap_or_default();
            violations.extend(check_taken_names(&hook, kind, &lock));
        }
    }
    let mut used = BTreeSet::new();
    for path in files.keys() {
        if !declared.is_rendered(path) {
            continue;
        }
        // Liquid only renders text; anything else is copied as is.
        let Ok(text) = fs::read_to_string(template.join(path)) else {
            continue;
        };
        violations.extend(check_liquid(path, &text, &declared, &mut used));
        if output_name(path).ends_with(".rs") {
            violations.extend(check_format_strings(path, &text));
        }
    }
    for (name, _) in &declared.placeholders {
        if !used.contains(name) {
            violations.push(format!("cargo-generate.toml: placeholder `{name}` is asked for but used nowhere; use it or remove it"));
        }
    }
    assert!(
        violations.is_empty(),
        "template/ has {} problem(s):\n{}",
        violations.len(),
        violations.join("\n")
    );
}

/// What template/cargo-generate.toml declares.
#[derive(Debug, Default)]
struct Declared {
    /// Every placeholder, with the condition it is asked under (`None`: always).
    placeholders: Vec<(String, Option<String>)>,
    /// The choices of each placeholder that has them.
    choices: BTreeMap<String, Vec<String>>,
    /// Output names each condition leaves out (`ignore` under `[conditional.'...']`).
    ignored: Vec<(String, Vec<String>)>,
    /// `[template] exclude`: copied without rendering.
    excluded: Vec<String>,
    /// `[hooks]` scripts: run, never copied.
    hooks: Vec<String>,
}

impl Declared {
    fn parse(config: &str) -> Result<Declared, String> {
        let config: toml::Table = config
            .parse()
            .map_err(|error: toml::de::Error| error.to_string())?;
        let mut declared = Declared::default();
        let strings = |value: Option<&toml::Value>| -> Vec<String> {
            value
                .and_then(toml::Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let add =
            |declared: &mut Declared, table: Option<&toml::Value>, condition: Option<&str>| {
                for (name, entry) in table.and_then(toml::Value::as_table).into_iter().flatten() {
                    declared
                        .placeholders
                        .push((name.clone(), condition.map(normalize)));
                    let choices = strings(entry.get("choices"));
                    if !choices.is_empty() {
                        declared.choices.insert(name.clone(), choices);
                    }
                }
            };
        add(&mut declared, config.get("placeholders"), None);
        for (condition, section) in config
            .get("conditional")
            .and_then(toml::Value::as_table)
            .into_iter()
            .flatten()
        {
            add(&mut declared, section.get("placeholders"), Some(condition));
            declared
                .ignored
                .push((normalize(condition), strings(section.get("ignore"))));
        }
        let template = config.get("template");
        declared.excluded = strings(template.and_then(|template| template.get("exclude")));
        for stage in ["init", "pre", "post"] {
            declared.hooks.extend(strings(
                config.get("hooks").and_then(|hooks| hooks.get(stage)),
            ));
        }
        Ok(declared)
    }

    fn condition_of(&self, name: &str) -> Option<Option<&str>> {
        if BUILT_INS.contains(&name) {
            return Some(None);
        }
        self.placeholders
            .iter()
            .find(|(declared, _)| declared == name)
            .map(|(_, condition)| condition.as_deref())
    }

    /// Whether Liquid renders `path`: not the configuration, not a hook, not excluded.
    fn is_rendered(&self, path: &str) -> bool {
        path != "cargo-generate.toml"
            && !self.hooks.iter().any(|hook| hook == path)
            && !self
                .excluded
                .iter()
                .any(|excluded| excluded == path || excluded == output_name(path))
    }

    /// Whether `path` is left out of the output wherever `condition` (`var=="value"`) is false:
    /// it is ignored under `var=="other"` for every other choice of `var`.
    fn ignored_unless(&self, path: &str, condition: &str) -> bool {
        let Some((var, value)) = equality(condition) else {
            return false;
        };
        let Some(choices) = self.choices.get(var) else {
            return false;
        };
        choices
            .iter()
            .filter(|choice| *choice != value)
            .all(|other| self.is_ignored_under(path, &format!("{var}==\"{other}\"")))
    }

    fn is_ignored_under(&self, path: &str, condition: &str) -> bool {
        self.ignored.iter().any(|(ignored_under, names)| {
            ignored_under == condition && names.iter().any(|ignored| ignores(ignored, path))
        })
    }
}

/// Whether the `ignore` entry `ignored` (an output name: a file or a whole directory) covers the
/// template file `path`.
fn ignores(ignored: &str, path: &str) -> bool {
    output_name(path) == ignored
        || path
            .strip_prefix(ignored)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A condition without whitespace, so that `kind == "service"` and `kind=="service"` compare equal.
fn normalize(condition: &str) -> String {
    condition.chars().filter(|c| !c.is_whitespace()).collect()
}

/// `var=="value"` (normalized) as its two sides.
fn equality(condition: &str) -> Option<(&str, &str)> {
    let (var, value) = condition.split_once("==")?;
    Some((var, value.strip_prefix('"')?.strip_suffix('"')?))
}

/// The name cargo-generate gives a template file in the output: without `.liquid`.
fn output_name(path: &str) -> &str {
    path.strip_suffix(".liquid").unwrap_or(path)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// A piece of a Liquid template.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    /// `{{ expression }}`, trimmed (also of whitespace control `-`).
    Output(&'a str),
    /// `{% tag arguments %}`, trimmed.
    Tag(&'a str),
    /// The inside of `{% raw %}...{% endraw %}`: copied as is.
    Raw(&'a str),
    /// Everything else.
    Text(&'a str),
}

/// Splits a template into tokens, each with its byte offset; `Err` names an unclosed `{{`/`{%`.
fn lex(text: &str) -> Result<Vec<(usize, Token<'_>)>, (usize, String)> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let next = [text[at..].find("{{"), text[at..].find("{%")]
            .into_iter()
            .flatten()
            .min();
        let Some(start) = next.map(|next| at + next) else {
            tokens.push((at, Token::Text(&text[at..])));
            break;
        };
        if start > at {
            tokens.push((at, Token::Text(&text[at..start])));
        }
        let close = if text[start..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        let Some(end) = text[start + 2..].find(close).map(|end| start + 2 + end) else {
            return Err((
                start,
                format!("`{}` is never closed", &text[start..start + 2]),
            ));
        };
        let inner = text[start + 2..end].trim_matches('-').trim();
        at = end + 2;
        if close == "}}" {
            tokens.push((start, Token::Output(inner)));
            continue;
        }
        tokens.push((start, Token::Tag(inner)));
        let block_end = match inner {
            "raw" => "endraw",
            "comment" => "endcomment",
            _ => continue,
        };
        // The body of raw and comment blocks is not Liquid: find the closing tag by name.
        let mut search = at;
        let body_end = loop {
            let Some(open) = text[search..].find("{%").map(|open| search + open) else {
                return Err((
                    start,
                    format!("`{{% {inner} %}}` is never closed with `{{% {block_end} %}}`"),
                ));
            };
            let Some(close) = text[open..].find("%}").map(|close| open + close) else {
                return Err((open, "`{%` is never closed".to_owned()));
            };
            if text[open + 2..close].trim_matches('-').trim() == block_end {
                break (open, close + 2);
            }
            search = open + 2;
        };
        if inner == "raw" {
            tokens.push((at, Token::Raw(&text[at..body_end.0])));
        }
        tokens.push((body_end.0, Token::Tag(block_end)));
        at = body_end.1;
    }
    Ok(tokens)
}

/// The variables an expression or condition reads (ignoring literals, operators and filters).
fn variables(expression: &str) -> Vec<&str> {
    // Drop filters (`name | upcase`) and string literals, then split at operators.
    let expression = expression.split('|').next().unwrap_or_default();
    let mut words = Vec::new();
    let mut quote = None;
    let mut word_start = None;
    for (i, c) in expression.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        let in_word = c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
        match (in_word, word_start) {
            (true, None) => word_start = Some(i),
            (false, Some(start)) => {
                words.push(&expression[start..i]);
                word_start = None;
            }
            _ => {}
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
        }
    }
    if let Some(start) = word_start {
        words.push(&expression[start..]);
    }
    const NOT_VARIABLES: &[&str] = &[
        "and", "or", "contains", "true", "false", "nil", "null", "empty", "blank", "-",
    ];
    words
        .into_iter()
        .map(|word| word.split('.').next().unwrap_or(word))
        .filter(|word| {
            !NOT_VARIABLES.contains(word)
                && !word.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        })
        .collect()
}

/// Checks the Liquid in one template file; records the variables it reads in `used`.
fn check_liquid(
    path: &str,
    text: &str,
    declared: &Declared,
    used: &mut BTreeSet<String>,
) -> Vec<String> {
    let tokens = match lex(text) {
        Ok(tokens) => tokens,
        Err((offset, message)) => {
            return vec![format!("{path}:{}: {message}", line_of(text, offset))];
        }
    };
    let mut violations = Vec::new();
    // The conditions known to hold at this point: one entry per open block, holding the
    // `and`-ed equalities of its active branch (none for `else`, `unless`, `for`, ...).
    let mut scopes: Vec<Vec<String>> = Vec::new();
    let mut locals: BTreeSet<&str> = BTreeSet::new();
    for (i, (offset, token)) in tokens.iter().enumerate() {
        let line = line_of(text, *offset);
        let mut check = |expression: &str,
                         scopes: &[Vec<String>],
                         locals: &BTreeSet<&str>,
                         violations: &mut Vec<String>| {
            for name in variables(expression) {
                if locals.contains(name) {
                    continue;
                }
                used.insert(name.to_owned());
                match declared.condition_of(name) {
                    None => violations.push(format!(
                        "{path}:{line}: `{name}` is neither a placeholder in cargo-generate.toml nor a cargo-generate built-in"
                    )),
                    Some(None) => {}
                    Some(Some(condition)) => {
                        let in_scope = scopes.iter().any(|scope| scope.iter().any(|holds| holds == condition));
                        if !in_scope && !declared.ignored_unless(path, condition) {
                            violations.push(format!(
                                "{path}:{line}: `{name}` is only defined when {condition}: use it inside {{% if {condition} %}} or in a file ignored otherwise"
                            ));
                        }
                    }
                }
            }
        };
        match token {
            Token::Output(expression) => {
                let after_dollar =
                    i > 0 && matches!(tokens[i - 1].1, Token::Text(text) if text.ends_with('$'));
                if after_dollar {
                    violations.push(format!(
                        "{path}:{line}: unescaped `${{{{ {expression} }}}}`: wrap it in {{% raw %}}...{{% endraw %}} (Liquid would leave the whole file unrendered)"
                    ));
                } else {
                    check(expression, &scopes, &locals, &mut violations);
                }
            }
            Token::Tag(tag) => {
                let (name, arguments) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
                match name {
                    "if" | "elsif" => {
                        check(arguments, &scopes, &locals, &mut violations);
                        let holds = if arguments.contains(" or ") {
                            Vec::new()
                        } else {
                            arguments.split(" and ").map(normalize).collect()
                        };
                        if name == "if" {
                            scopes.push(holds);
                        } else if let Some(scope) = scopes.last_mut() {
                            *scope = holds;
                        }
                    }
                    "else" => {
                        if let Some(scope) = scopes.last_mut() {
                            scope.clear();
                        }
                    }
                    "unless" | "case" | "for" | "tablerow" => {
                        let (local, iterated) =
                            arguments.split_once(" in ").unwrap_or(("", arguments));
                        if !local.is_empty() {
                            locals.insert(local.trim());
                        }
                        check(iterated, &scopes, &locals, &mut violations);
                        scopes.push(Vec::new());
                    }
                    "endif" | "endunless" | "endcase" | "endfor" | "endtablerow" => {
                        let closed = scopes.pop();
                        if closed.is_none() {
                            violations
                                .push(format!("{path}:{line}: `{{% {name} %}}` closes no block"));
                        }
                    }
                    "assign" | "capture" => {
                        let (local, value) = arguments.split_once('=').unwrap_or((arguments, ""));
                        locals.insert(local.trim());
                        check(value, &scopes, &locals, &mut violations);
                    }
                    "when" => check(arguments, &scopes, &locals, &mut violations),
                    _ => {}
                }
            }
            Token::Raw(_) | Token::Text(_) => {}
        }
    }
    if !scopes.is_empty() {
        violations.push(format!(
            "{path}: {} Liquid block(s) never closed",
            scopes.len()
        ));
    }
    violations
}

/// Finds `{{` in the string literals of Rust format macros (outside `{% raw %}` blocks).
fn check_format_strings(path: &str, text: &str) -> Vec<String> {
    let raw: Vec<(usize, usize)> = match lex(text) {
        Ok(tokens) => tokens
            .iter()
            .filter_map(|(offset, token)| match token {
                Token::Raw(body) => Some((*offset, offset + body.len())),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(), // check_liquid reports it
    };
    let bytes = text.as_bytes();
    let mut violations = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if let Some(end) = skip_comment_or_literal(text, at) {
            at = end;
            continue;
        }
        let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        if !is_ident(bytes[at]) || (at > 0 && is_ident(bytes[at - 1])) {
            at += 1;
            continue;
        }
        let ident_end = (at..bytes.len())
            .find(|&i| !is_ident(bytes[i]))
            .unwrap_or(bytes.len());
        let name = &text[at..ident_end];
        let after_bang = text[ident_end..]
            .strip_prefix('!')
            .map(|rest| rest.trim_start());
        let open = after_bang
            .and_then(|rest| rest.chars().next())
            .filter(|c| "([{".contains(*c));
        let (Some(open), true) = (open, FORMAT_MACROS.contains(&name)) else {
            at = ident_end;
            continue;
        };
        let close = match open {
            '(' => b')',
            '[' => b']',
            _ => b'}',
        };
        let open_at = text.len() - after_bang.unwrap().len();
        let mut depth = 0;
        let mut i = open_at;
        while i < bytes.len() {
            if let Some(end) = skip_comment_or_literal(text, i) {
                let literal = &text[i..end];
                let string = literal.starts_with(['"', 'r', 'b']);
                if let Some(brace) = literal.find("{{").filter(|_| string) {
                    let brace = i + brace;
                    if !raw
                        .iter()
                        .any(|(start, end)| (*start..*end).contains(&brace))
                    {
                        violations.push(format!(
                            "{path}:{}: `{{{{` in a format string of {name}!: Liquid takes it for a placeholder (or aborts on `{{{{}}}}`); put the text in a const or pass the value as an argument",
                            line_of(text, brace)
                        ));
                    }
                }
                i = end;
                continue;
            }
            if bytes[i] == open as u8 {
                depth += 1;
            } else if bytes[i] == close {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            i += 1;
        }
        at = i + 1;
    }
    violations
}

/// If a comment or a string/char literal starts at `at`, where it ends. String literals are
/// returned whole (with their quotes); comments and char literals are skipped the same way.
fn skip_comment_or_literal(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at..];
    if rest.starts_with("//") {
        return Some(rest.find('\n').map_or(text.len(), |end| at + end));
    }
    if rest.starts_with("/*") {
        return Some(rest.find("*/").map_or(text.len(), |end| at + end + 2));
    }
    if let Some(after) = rest.strip_prefix('\'') {
        // A char literal ('(', '\'', '\u{7f}'); a lifetime ('a) is not one.
        let c = after.chars().next()?;
        if c == '\\' {
            return after.get(2..)?.find('\'').map(|end| at + 1 + 2 + end + 1);
        }
        return after[c.len_utf8()..]
            .starts_with('\'')
            .then(|| at + 1 + c.len_utf8() + 1);
    }
    let prefix = ["br", "b", "r", ""].into_iter().find(|prefix| {
        rest.starts_with(prefix)
            && rest[prefix.len()..]
                .trim_start_matches('#')
                .starts_with('"')
    })?;
    // A prefix letter is only a literal prefix at the start of a token.
    if !prefix.is_empty() && at > 0 && text.as_bytes()[at - 1].is_ascii_alphanumeric() {
        return None;
    }
    let after_prefix = &rest[prefix.len()..];
    let hashes = after_prefix.len() - after_prefix.trim_start_matches('#').len();
    let body_start = at + prefix.len() + hashes + 1;
    if prefix.contains('r') {
        let terminator = format!("\"{}", "#".repeat(hashes));
        return Some(
            text[body_start..]
                .find(&terminator)
                .map_or(text.len(), |end| body_start + end + terminator.len()),
        );
    }
    if hashes > 0 {
        return None;
    }
    let mut chars = text[body_start..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return Some(body_start + i + 1),
            _ => {}
        }
    }
    Some(text.len())
}

/// Checks that hooks/taken-names.rhai refuses every crate name in `kind`'s lock (both come from
/// `cargo xtask lock`; a hand-edited lock would drift).
fn check_taken_names(hook: &str, kind: &str, lock: &str) -> Vec<String> {
    let list = hook
        .split_once(&format!("\n    {kind}: ["))
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list);
    let Some(list) = list else {
        return vec![format!(
            "hooks/taken-names.rhai: no list for kind {kind}: run `cargo xtask lock`"
        )];
    };
    let taken: BTreeSet<&str> = list.split('"').skip(1).step_by(2).collect();
    lock.lines()
        .filter_map(|line| line.strip_prefix("name = \"")?.strip_suffix('"'))
        .filter(|name| *name != "{{project-name}}" && !taken.contains(name.replace('_', "-").as_str()))
        .map(|name| format!("hooks/taken-names.rhai: {kind} does not refuse `{name}` (in locks/{kind}.lock): run `cargo xtask lock`"))
        .collect()
}

/// Checks the files themselves: nothing copied by accident, hooks and ignored files exist, every
/// file reaches some output, and each kind has its lock file. `files` maps paths to sizes.
fn check_tree(files: &BTreeMap<String, u64>, declared: &Declared) -> Vec<String> {
    let mut violations = Vec::new();
    for path in files.keys() {
        let name = path.rsplit('/').next().unwrap_or(path);
        let junk = path
            .split('/')
            .any(|part| part == "target" || part == ".git")
            || [".swp", ".swo", ".orig", ".rej", ".bak", "~"]
                .iter()
                .any(|suffix| name.ends_with(suffix))
            || name == ".DS_Store"
            || name == "Cargo.lock";
        if junk {
            violations.push(format!(
                "{path}: cargo-generate would copy this into every project; delete it (lock files live in locks/<kind>.lock)"
            ));
        }
    }
    for hook in &declared.hooks {
        if !files.contains_key(hook) {
            violations.push(format!("cargo-generate.toml: hook {hook} does not exist"));
        }
    }
    for (condition, names) in &declared.ignored {
        for name in names {
            if !files.keys().any(|path| ignores(name, path)) {
                violations.push(format!(
                    "cargo-generate.toml: `{name}`, ignored when {condition}, matches no file (ignore takes output names: without .liquid, no wildcards)"
                ));
            }
        }
    }
    for path in files.keys() {
        for (var, choices) in &declared.choices {
            let everywhere = choices
                .iter()
                .all(|choice| declared.is_ignored_under(path, &format!("{var}==\"{choice}\"")));
            if everywhere {
                violations.push(format!(
                    "{path}: ignored for every {var}, so no project ever gets it"
                ));
            }
        }
    }
    let kinds = declared.choices.get("kind").cloned().unwrap_or_default();
    for kind in &kinds {
        match files.get(&format!("locks/{kind}.lock")) {
            None => violations.push(format!(
                "locks/{kind}.lock is missing: run `cargo xtask lock`"
            )),
            Some(0) => violations.push(format!(
                "locks/{kind}.lock is empty: run `cargo xtask lock`"
            )),
            Some(_) => {}
        }
    }
    for path in files.keys().filter(|path| path.starts_with("locks/")) {
        let kind = path
            .strip_prefix("locks/")
            .and_then(|name| name.strip_suffix(".lock"));
        if !kind.is_some_and(|kind| kinds.iter().any(|known| known == kind)) {
            violations.push(format!(
                "{path}: the lockfile hook only uses locks/<kind>.lock; delete it"
            ));
        }
    }
    violations
}

/// Every file under `dir`, hidden ones too, by its `/`-separated path relative to the template.
fn walk(dir: &Path, prefix: &str, files: &mut BTreeMap<String, u64>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(Result::unwrap).collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let metadata = entry.metadata().unwrap();
        if metadata.is_dir()
            && path != "target"
            && !path.ends_with("/target")
            && !path.ends_with(".git")
        {
            walk(&entry.path(), &format!("{path}/"), files);
        } else {
            files.insert(path, metadata.len());
        }
    }
}

mod fixtures {
    use super::*;

    const CONFIG: &str = r#"
[hooks]
post = ["hooks/lock.rhai"]

[placeholders]
kind = { type = "string", prompt = "?", choices = ["service", "cli"], default = "service" }

[conditional.'kind == "service"'.placeholders]
port = { type = "string", prompt = "?", default = "8080" }

[conditional.'kind == "cli"']
ignore = ["src/serve.rs", "docs"]
"#;

    fn liquid(path: &str, text: &str) -> Vec<String> {
        let declared = Declared::parse(CONFIG).unwrap();
        check_liquid(path, text, &declared, &mut BTreeSet::new())
    }

    #[test]
    fn liquid_variables_are_declared_and_used_where_defined() {
        let port_outside = r#"`port` is only defined when kind=="service": use it inside {% if kind=="service" %} or in a file ignored otherwise"#;
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "src/main.rs",
                "{{ crate_name }} {{project-name}} {% if kind == \"cli\" %}{% endif %}",
                &[],
            ),
            (
                "src/main.rs",
                "a\n{{ nope | upcase }}",
                &[
                    "src/main.rs:2: `nope` is neither a placeholder in cargo-generate.toml nor a cargo-generate built-in",
                ],
            ),
            (
                "src/main.rs",
                "{% if fancy %}{% endif %}",
                &[
                    "src/main.rs:1: `fancy` is neither a placeholder in cargo-generate.toml nor a cargo-generate built-in",
                ],
            ),
            (
                "src/main.rs",
                "{{ port }}",
                &[&format!("src/main.rs:1: {port_outside}")],
            ),
            (
                "src/main.rs",
                "{% if kind == \"service\" %}\n{{port}}\n{% endif %}",
                &[],
            ),
            (
                "src/main.rs",
                "{%- if kind == \"service\" and crate_name != \"x\" -%}{{ port }}{%- endif %}",
                &[],
            ),
            (
                "src/main.rs",
                "{% if kind == \"cli\" %}{% else %}\n{{ port }}{% endif %}",
                &[&format!("src/main.rs:2: {port_outside}")],
            ),
            ("src/serve.rs", "const PORT: u16 = {{port}};", &[]),
            ("src/serve.rs.liquid", "{{port}}", &[]),
            (
                "ci.yml",
                "run: echo ${{ github.sha }}",
                &[
                    "ci.yml:1: unescaped `${{ github.sha }}`: wrap it in {% raw %}...{% endraw %} (Liquid would leave the whole file unrendered)",
                ],
            ),
            (
                "ci.yml",
                "run: echo {% raw %}${{ github.sha }} {{ x }}{% endraw %}",
                &[],
            ),
            (
                "ci.yml",
                "{% raw %}${{ github.sha }}",
                &["ci.yml:1: `{% raw %}` is never closed with `{% endraw %}`"],
            ),
            (
                "a.txt",
                "x\n{{ crate_name",
                &["a.txt:2: `{{` is never closed"],
            ),
            (
                "a.txt",
                "{% if kind == \"cli\" %}",
                &["a.txt: 1 Liquid block(s) never closed"],
            ),
            (
                "a.txt",
                "{% endif %}",
                &["a.txt:1: `{% endif %}` closes no block"],
            ),
            ("a.txt", "{% assign twice = 2 %}{{ twice }}", &[]),
        ];
        for (path, text, expected) in cases {
            assert_eq!(liquid(path, text), *expected, "{path}: {text:?}");
        }
    }

    #[test]
    fn format_strings_never_hold_liquid_braces() {
        let at = |line: usize, mac: &str| {
            format!(
                "f.rs:{line}: `{{{{` in a format string of {mac}!: Liquid takes it for a placeholder (or aborts on `{{{{}}}}`); put the text in a const or pass the value as an argument"
            )
        };
        let cases: &[(&str, Vec<String>)] = &[
            ("println!(\"{{}}\");", vec![at(1, "println")]),
            ("let s = format!(\"{{x}}\");", vec![at(1, "format")]),
            (
                "writeln!(\n    f,\n    r#\"{{\"#\n)?;",
                vec![at(3, "writeln")],
            ),
            (
                "println!(\"{}\", format!(\"{{}}\"));",
                vec![at(1, "println")],
            ),
            (
                "const USAGE: &str = \"{{project-name}}\";\nprintln!(\"{USAGE}\");",
                vec![],
            ),
            ("println!(\"{}\", {{port}});", vec![]),
            ("// println!(\"{{}}\")\n/* format!(\"{{}}\") */", vec![]),
            ("{% raw %}println!(\"{{}}\");{% endraw %}", vec![]),
            ("let c = '(';\neprintln!(\"{error}\");", vec![]),
            (
                "println!(\"{}{}\", '(', '\\'', /* {{ */ \"{{\");",
                vec![at(1, "println")],
            ),
            ("fn f<'a>(s: &'a str) { print!(\"{s}\") }", vec![]),
            ("my_println!(\"{{x}}\");", vec![]),
        ];
        for (text, expected) in cases {
            assert_eq!(check_format_strings("f.rs", text), *expected, "{text:?}");
        }
    }

    #[test]
    fn taken_names_cover_the_lock() {
        let hook = "let taken = #{\n    service: [\n        \"anyhow\", \"windows-x86-64-gnu\",\n    ],\n    cli: [\n    ],\n};\n";
        let lock =
            "name = \"anyhow\"\nname = \"{{project-name}}\"\nname = \"windows_x86_64_gnu\"\n";
        assert_eq!(
            check_taken_names(hook, "service", lock),
            Vec::<String>::new()
        );
        assert_eq!(
            check_taken_names(hook, "cli", lock),
            [
                "hooks/taken-names.rhai: cli does not refuse `anyhow` (in locks/cli.lock): run `cargo xtask lock`",
                "hooks/taken-names.rhai: cli does not refuse `windows_x86_64_gnu` (in locks/cli.lock): run `cargo xtask lock`",
            ]
        );
        assert_eq!(
            check_taken_names(hook, "lib", lock),
            ["hooks/taken-names.rhai: no list for kind lib: run `cargo xtask lock`"]
        );
    }

    #[test]
    fn tree_has_nothing_by_accident_and_everything_reachable() {
        let declared = Declared::parse(CONFIG).unwrap();
        let tree = |paths: &[(&str, u64)]| {
            let files = paths
                .iter()
                .map(|(path, len)| (path.to_string(), *len))
                .collect();
            check_tree(&files, &declared)
        };
        let good = [
            ("hooks/lock.rhai", 1),
            ("src/serve.rs", 1),
            ("docs/guide.md", 1),
            ("locks/service.lock", 1),
            ("locks/cli.lock", 1),
        ];
        assert_eq!(tree(&good), Vec::<String>::new());

        let bad = [
            ("hooks/lock.rhai", 1),
            ("target/debug/x", 1),
            ("src/main.rs~", 1),
            ("locks/service.lock", 0),
            ("locks/lib.lock", 1),
        ];
        assert_eq!(
            tree(&bad),
            [
                "src/main.rs~: cargo-generate would copy this into every project; delete it (lock files live in locks/<kind>.lock)",
                "target/debug/x: cargo-generate would copy this into every project; delete it (lock files live in locks/<kind>.lock)",
                "cargo-generate.toml: `src/serve.rs`, ignored when kind==\"cli\", matches no file (ignore takes output names: without .liquid, no wildcards)",
                "cargo-generate.toml: `docs`, ignored when kind==\"cli\", matches no file (ignore takes output names: without .liquid, no wildcards)",
                "locks/service.lock is empty: run `cargo xtask lock`",
                "locks/cli.lock is missing: run `cargo xtask lock`",
                "locks/lib.lock: the lockfile hook only uses locks/<kind>.lock; delete it",
            ]
        );
    }
}
