//! Tidy: fast checks of template/ and the documentation, without the engine. Every template file
//! renders with the real Liquid parser under every combination of answers, strictly (an unknown
//! variable is an error, where cargo-generate would quietly print nothing), every placeholder is
//! used (by a file, or by a condition that leaves files out), nothing in template/ is there by
//! accident, and the documentation agrees with the code it describes. All violations are
//! collected, then reported once.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use liquid::{
    ObjectView, ValueView,
    model::{DisplayCow, KStringCow, State, Value},
};

use crate::support::{read, repo_root, template_dir};

/// Variables cargo-generate 0.26 defines for every template (its `template.rs`), with a sample
/// value each.
const BUILT_INS: &[(&str, &str)] = &[
    ("project-name", "tidy-app"),
    ("crate_name", "tidy_app"),
    ("crate_type", "bin"),
    ("authors", "Tidy"),
    ("username", "tidy"),
    ("os-arch", "linux-x86_64"),
    ("is_init", "false"),
    ("within_cargo_project", "false"),
];

#[test]
fn template_is_tidy() {
    let template = template_dir();
    let config = read(&template.join("cargo-generate.toml")).unwrap();
    let config = Config::parse(&config)
        .unwrap_or_else(|error| panic!("template/cargo-generate.toml: {error}"));
    let mut files = BTreeMap::new();
    walk(&template, "", &mut files);

    let mut violations = check_tree(&files, &config);
    if let Ok(hook) = fs::read_to_string(template.join("hooks/taken-names.rhai")) {
        for kind in config.choices("kind") {
            let lock =
                fs::read_to_string(template.join(format!("locks/{kind}.lock"))).unwrap_or_default();
            violations.extend(check_taken_names(&hook, &kind, &lock));
        }
    }
    let texts: BTreeMap<&str, String> = files
        .keys()
        .filter(|path| config.is_rendered(path))
        // Liquid only renders text; anything else is copied as is.
        .filter_map(|path| Some((path.as_str(), fs::read_to_string(template.join(path)).ok()?)))
        .collect();
    violations.extend(check_liquid(&texts, &config));
    assert!(
        violations.is_empty(),
        "template/ has {} problem(s):\n{}",
        violations.len(),
        violations.join("\n")
    );
}

/// What template/cargo-generate.toml declares.
#[derive(Debug, Default)]
struct Config {
    /// Every placeholder: its name, the condition it is asked under (`None`: always) and the
    /// values to render with (every choice, both booleans, else its default).
    placeholders: Vec<(String, Option<String>, Vec<Value>)>,
    /// The output names each condition leaves out (`ignore` under `[conditional.'...']`).
    ignored: Vec<(String, Vec<String>)>,
    /// `[template] exclude`: copied without rendering.
    excluded: Vec<String>,
    /// `[hooks]` scripts: run, never copied.
    hooks: Vec<String>,
}

impl Config {
    fn parse(config: &str) -> Result<Config, String> {
        let config: toml::Table = config
            .parse()
            .map_err(|error: toml::de::Error| error.to_string())?;
        let get = |path: &[&str]| {
            path.iter()
                .try_fold(&config, |table, key| table.get(*key)?.as_table())
        };
        let strings = |value: Option<&toml::Value>| -> Vec<String> {
            let items = value.and_then(toml::Value::as_array).into_iter().flatten();
            items
                .filter_map(|item| Some(item.as_str()?.to_owned()))
                .collect()
        };
        let mut sections = vec![(None, get(&["placeholders"]))];
        let mut declared = Config::default();
        for (condition, section) in get(&["conditional"]).into_iter().flatten() {
            sections.push((
                Some(condition.clone()),
                section.get("placeholders").and_then(|p| p.as_table()),
            ));
            declared
                .ignored
                .push((condition.clone(), strings(section.get("ignore"))));
        }
        for (condition, table) in sections {
            for (name, entry) in table.into_iter().flatten() {
                let values = match (
                    entry.get("choices"),
                    entry.get("type").and_then(|t| t.as_str()),
                ) {
                    (Some(choices), _) => strings(Some(choices))
                        .into_iter()
                        .map(Value::scalar)
                        .collect(),
                    (None, Some("bool")) => vec![Value::scalar(true), Value::scalar(false)],
                    (None, _) => {
                        let default = entry.get("default").and_then(|d| d.as_str()).unwrap_or("x");
                        vec![Value::scalar(default.to_owned())]
                    }
                };
                declared
                    .placeholders
                    .push((name.clone(), condition.clone(), values));
            }
        }
        declared.excluded = strings(get(&["template"]).and_then(|t| t.get("exclude")));
        for stage in ["init", "pre", "post"] {
            declared
                .hooks
                .extend(strings(get(&["hooks"]).and_then(|hooks| hooks.get(stage))));
        }
        Ok(declared)
    }

    /// The choices of the placeholder `name`, as text.
    fn choices(&self, name: &str) -> Vec<String> {
        let values = self
            .placeholders
            .iter()
            .filter(|(declared, ..)| declared == name);
        values
            .flat_map(|(.., values)| values.iter().map(|value| value.to_kstr().into_string()))
            .collect()
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

    /// Every combination of answers cargo-generate can be given, as it would ask: a conditional
    /// placeholder only where its condition holds.
    fn answers(&self) -> Vec<Answers> {
        let mut globals = liquid::Object::new();
        for (name, value) in BUILT_INS {
            let value = match *value {
                "false" => Value::scalar(false),
                text => Value::scalar(text.to_owned()),
            };
            globals.insert((*name).into(), value);
        }
        // A new project, and (when a condition reads it) `--init` in an existing one.
        let reads_init = self
            .placeholders
            .iter()
            .filter_map(|(_, condition, _)| condition.as_deref())
            .chain(self.ignored.iter().map(|(condition, _)| condition.as_str()))
            .any(|condition| condition_names(condition).any(|name| name == "is_init"));
        let inits: &[bool] = if reads_init { &[false, true] } else { &[false] };
        let mut combinations: Vec<liquid::Object> = inits
            .iter()
            .copied()
            .map(|init| {
                let mut globals = globals.clone();
                globals.insert("is_init".into(), Value::scalar(init));
                globals
            })
            .collect();
        // cargo-generate asks again until no condition adds a placeholder: ask each one after
        // the placeholders its condition reads.
        let mut ordered: Vec<&(String, Option<String>, Vec<Value>)> = Vec::new();
        while ordered.len() < self.placeholders.len() {
            let ready = self.placeholders.iter().find(|(name, condition, _)| {
                !ordered.iter().any(|(done, ..)| done == name)
                    && condition
                        .iter()
                        .flat_map(|c| condition_names(c))
                        .all(|read| {
                            !self.placeholders.iter().any(|(other, ..)| *other == read)
                                || ordered.iter().any(|(done, ..)| *done == read)
                        })
            });
            ordered.push(ready.expect("placeholder conditions that read each other"));
        }
        for (name, condition, values) in ordered {
            combinations = combinations
                .into_iter()
                .flat_map(|globals| {
                    let asked = condition
                        .as_ref()
                        .is_none_or(|condition| holds(condition, &globals));
                    let values = if asked { values.clone() } else { Vec::new() };
                    let unasked = (!asked).then(|| globals.clone());
                    values
                        .into_iter()
                        .map(move |value| {
                            let mut globals = globals.clone();
                            globals.insert(name.clone().into(), value);
                            globals
                        })
                        .chain(unasked)
                })
                .collect();
        }
        combinations
            .into_iter()
            .map(|globals| {
                let ignored = self
                    .ignored
                    .iter()
                    .filter(|(condition, _)| holds(condition, &globals));
                let ignored = ignored.flat_map(|(_, names)| names.clone()).collect();
                // Name the answers that vary: `ci=false kind=cli runtime=alpine`.
                let varying = self
                    .placeholders
                    .iter()
                    .filter(|(.., values)| values.len() > 1);
                let label: BTreeSet<String> = varying
                    .filter_map(|(name, ..)| {
                        Some(format!("{name}={}", globals.get(name.as_str())?.to_kstr()))
                    })
                    .collect();
                let mut label = Vec::from_iter(label).join(" ");
                if globals
                    .get("is_init")
                    .is_some_and(|init| init.query_state(State::Truthy))
                {
                    label.push_str(" (--init)");
                }
                Answers {
                    globals,
                    ignored,
                    label,
                }
            })
            .collect()
    }
}

/// One combination of answers: the variables Liquid sees, the output names left out, and the
/// answers that vary, for messages.
struct Answers {
    globals: liquid::Object,
    ignored: Vec<String>,
    label: String,
}

impl Answers {
    fn produces(&self, path: &str) -> bool {
        !self.ignored.iter().any(|ignored| ignores(ignored, path))
    }
}

/// Whether a `[conditional.'...']` condition holds for `globals`. Conditions are Rhai; the ones
/// this template needs (`==`, `!=` on strings and booleans) read the same in Liquid. A condition
/// over a placeholder that was not asked does not hold (cargo-generate takes its error for false).
fn holds(condition: &str, globals: &liquid::Object) -> bool {
    if !condition_names(condition).all(|name| globals.contains_key(name)) {
        return false;
    }
    let test = parse(&format!("{{% if {condition} %}}yes{{% endif %}}"));
    let holds = test.and_then(|test| test.render(globals).map_err(|error| error.to_string()));
    holds.unwrap_or_else(|error| panic!("condition {condition:?}: {error}")) == "yes"
}

/// The variables a condition reads.
fn condition_names(condition: &str) -> impl Iterator<Item = &str> {
    condition
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '"'))
        .filter(|word| !word.is_empty() && !word.starts_with('"'))
        .filter(|word| !["true", "false", "and", "or"].contains(word))
}

/// Parses `text` as cargo-generate's Liquid does. (Its own filters, `kebab_case` and the like,
/// are not registered: the template uses none.)
fn parse(text: &str) -> Result<liquid::Template, String> {
    let parser = liquid::ParserBuilder::with_stdlib().build().unwrap();
    parser.parse(text).map_err(|error| error.to_string())
}

/// Renders every file under every combination of answers that produces it, strictly: an unknown
/// variable is an error, also where Liquid itself takes it for `nil` (`{% if typo %}`). Reports
/// each failure once, with the first answers it showed under, and every placeholder no file reads.
fn check_liquid(texts: &BTreeMap<&str, String>, config: &Config) -> Vec<String> {
    let mut failures = BTreeMap::new();
    let mut templates = Vec::new();
    for (path, text) in texts {
        match parse(text) {
            Ok(template) => templates.push((*path, text, template)),
            Err(error) => {
                let context =
                    "every answer; wrap literal `{{` and `{%` in {% raw %}...{% endraw %}";
                failures.insert((*path, error), context.to_owned());
            }
        }
    }
    let mut used = BTreeSet::new();
    for answers in config.answers() {
        for (path, text, template) in templates.iter().filter(|(path, ..)| answers.produces(path)) {
            let globals = Recorder {
                globals: &answers.globals,
                read: RefCell::default(),
            };
            let rendered = template.render(&globals);
            let (defined, undefined): (Vec<_>, Vec<_>) = (globals.read.into_inner().into_iter())
                .partition(|name| answers.globals.contains_key(name.as_str()));
            used.extend(defined);
            let errors: Vec<String> = match rendered {
                Err(error) => vec![error.to_string()],
                Ok(_) => undefined
                    .into_iter()
                    .map(|name| format!("`{name}` is read but undefined for these answers"))
                    .collect(),
            };
            let hint = if text.contains("${{") {
                "GitHub Actions' `${{ ... }}` must be wrapped in {% raw %}...{% endraw %}"
            } else {
                "declare placeholders in cargo-generate.toml and use them only where their condition holds; wrap literal `{{` (in Rust: a format string's escaped brace) in {% raw %}...{% endraw %}"
            };
            for error in errors {
                failures
                    .entry((path, error))
                    .or_insert_with(|| format!("{}; {hint}", answers.label));
            }
        }
    }
    let mut violations: Vec<String> = failures
        .into_iter()
        .map(|((path, error), context)| {
            format!(
                "{path} ({context}):\n    {}",
                error.trim().replace('\n', "\n    ")
            )
        })
        .collect();
    // A condition that leaves files out is a use too (`own_xtask`: the project's xtask/ or ours).
    let decides = |name: &str| {
        config.ignored.iter().any(|(condition, names)| {
            !names.is_empty() && condition_names(condition).any(|read| read == name)
        })
    };
    for (name, ..) in &config.placeholders {
        if !used.contains(name) && !decides(name) {
            violations.push(format!(
                "cargo-generate.toml: placeholder `{name}` is asked for but used nowhere; use it or remove it"
            ));
        }
    }
    violations
}

/// The globals of a render, recording every variable the template looks up.
#[derive(Debug)]
struct Recorder<'a> {
    globals: &'a liquid::Object,
    read: RefCell<BTreeSet<String>>,
}

impl ObjectView for Recorder<'_> {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.globals.size()
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        ObjectView::keys(self.globals)
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        ObjectView::values(self.globals)
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        ObjectView::iter(self.globals)
    }
    fn contains_key(&self, index: &str) -> bool {
        self.read.borrow_mut().insert(index.to_owned());
        self.globals.contains_key(index)
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        self.read.borrow_mut().insert(index.to_owned());
        ObjectView::get(self.globals, index)
    }
}

impl ValueView for Recorder<'_> {
    fn as_debug(&self) -> &dyn std::fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        self.globals.render()
    }
    fn source(&self) -> DisplayCow<'_> {
        self.globals.source()
    }
    fn type_name(&self) -> &'static str {
        self.globals.type_name()
    }
    fn query_state(&self, state: State) -> bool {
        self.globals.query_state(state)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        self.globals.to_kstr()
    }
    fn to_value(&self) -> Value {
        self.globals.to_value()
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        Some(self)
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

/// The name cargo-generate gives a template file in the output: without `.liquid`.
fn output_name(path: &str) -> &str {
    path.strip_suffix(".liquid").unwrap_or(path)
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
fn check_tree(files: &BTreeMap<String, u64>, config: &Config) -> Vec<String> {
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
            // The project's lock is locks/<kind>.lock; the tooling's is its own workspace's.
            || (name == "Cargo.lock" && path != "xtask/Cargo.lock");
        if junk {
            violations.push(format!(
                "{path}: cargo-generate would copy this into every project; delete it (lock files live in locks/<kind>.lock and xtask/Cargo.lock)"
            ));
        }
    }
    for hook in &config.hooks {
        if !files.contains_key(hook) {
            violations.push(format!("cargo-generate.toml: hook {hook} does not exist"));
        }
    }
    for (condition, names) in &config.ignored {
        for name in names {
            if !files.keys().any(|path| ignores(name, path)) {
                violations.push(format!(
                    "cargo-generate.toml: `{name}`, ignored when {condition}, matches no file (ignore takes output names: without .liquid, no wildcards)"
                ));
            }
        }
    }
    let answers = config.answers();
    for path in files.keys() {
        if !answers.iter().any(|answers| answers.produces(path)) {
            violations.push(format!(
                "{path}: ignored under every combination of answers, so no project ever gets it"
            ));
        }
    }
    let kinds = config.choices("kind");
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

/// The crate's reference: its option table lists every option of `cargo xtask docker --help`.
const CRATE_README: &str = "xtask/rust-alpine/README.md";

/// Options of `cargo xtask docker --help` that the reference's table may leave out.
const README_MAY_OMIT: &[&str] = &["--help"];

/// Documents that describe how the image is built: each names the Dockerfile's default profile.
const PROFILE_DOCS: &[&str] = &[
    "README.md",
    "ARCHITECTURE.md",
    "xtask/rust-alpine/README.md",
    "template/.cargo/config.toml",
    "template/Cargo.toml.liquid",
];

/// Documents that quote how much larger the default profile's binary is than fat LTO's.
const GROWTH_DOCS: &[&str] = &["README.md", "template/Cargo.toml.liquid"];

/// Documents whose file names must name files of the repository (or of the template).
const PATH_DOCS: &[&str] = &["BENCHMARKS.md", "ARCHITECTURE.md"];

#[test]
fn docs_agree_with_the_code() {
    let root = repo_root();
    let text = |path: &str| read(&root.join(path)).unwrap();
    let help = help_options(&text("xtask/rust-alpine/src/flags.rs"));
    // The option table is the crate's reference (the generated README is a quick start).
    let table = table_options(&text(CRATE_README));
    let mut violations = BTreeSet::new();
    for option in help
        .iter()
        .filter(|option| !table.contains(option) && !README_MAY_OMIT.contains(&option.as_str()))
    {
        violations.insert(format!(
            "{CRATE_README}: the option table lacks `{option}`, which `cargo xtask docker --help` lists; add a row"
        ));
    }
    for option in table.iter().filter(|option| !help.contains(option)) {
        violations.insert(format!(
            "{CRATE_README}: the option table lists `{option}`, which `cargo xtask docker --help` does not"
        ));
    }
    let dockerfile = text("template/Dockerfile");
    let profile = dockerfile_profile(&dockerfile)
        .expect("template/Dockerfile: no `ARG CARGO_PROFILE=` default");
    for doc in PROFILE_DOCS {
        violations.extend(check_profile(doc, &text(doc), profile));
    }
    let percent = growth_percent(&text("BENCHMARKS.md"))
        .expect("BENCHMARKS.md: no binary sizes of `ours` and `ours (release profile)`");
    for doc in GROWTH_DOCS {
        violations.extend(check_growth(doc, &text(doc), percent));
    }
    for doc in PATH_DOCS {
        let exists =
            |path: &str| root.join(path).exists() || root.join("template").join(path).exists();
        violations.extend(check_paths(doc, &text(doc), exists));
    }
    assert!(
        violations.is_empty(),
        "the documentation has drifted from the code:\n{}",
        Vec::from_iter(violations).join("\n")
    );
}

/// The long options of a `HELP` text in Rust source: lines `  --name ...` or `  -h, --help ...`.
fn help_options(source: &str) -> Vec<String> {
    let help = source
        .split_once("HELP: &str = \"")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let help = help
        .split_once("\";")
        .map(|(help, _)| help)
        .unwrap_or_default();
    help.lines()
        .filter(|line| line.starts_with("  -"))
        .filter_map(|line| line.split_whitespace().find(|word| word.starts_with("--")))
        .map(str::to_owned)
        .collect()
}

/// The options of a Markdown table whose rows start with `` | `--option ...` | ``.
fn table_options(markdown: &str) -> Vec<String> {
    let rows = markdown
        .lines()
        .filter_map(|line| line.strip_prefix("| `--"));
    rows.filter_map(|row| Some(format!("--{}", row.split([' ', '`']).next()?)))
        .collect()
}

/// The default of `ARG CARGO_PROFILE=` in a Dockerfile.
fn dockerfile_profile(dockerfile: &str) -> Option<&str> {
    dockerfile
        .lines()
        .find_map(|line| line.trim().strip_prefix("ARG CARGO_PROFILE="))
}

/// A document about the image names its profile and never says it builds `--release`.
fn check_profile(doc: &str, text: &str, profile: &str) -> Vec<String> {
    let mut violations = Vec::new();
    let names = [
        format!("`{profile}`"),
        format!("--profile {profile}"),
        format!("[profile.{profile}]"),
    ];
    if !names.iter().any(|name| text.contains(name.as_str())) {
        violations.push(format!("{doc}: never names the `{profile}` profile that the Dockerfile builds by default (ARG CARGO_PROFILE)"));
    }
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains("--release"))
    {
        violations.push(format!("{doc}:{}: `--release`, but the image builds `--profile {profile}` (write `--profile release` for the release profile): {}", i + 1, line.trim()));
    }
    violations
}

/// How much larger, in whole percent, BENCHMARKS.md measured the binary of `ours` (the default
/// profile) than that of `ours (release profile)`.
fn growth_percent(benchmarks: &str) -> Option<u32> {
    let header = benchmarks
        .lines()
        .find(|line| line.starts_with("| strategy |"))?;
    let column = header.split('|').position(|cell| cell.trim() == "binary")?;
    let binary = |strategy: &str| -> Option<f64> {
        let row = benchmarks.lines().find(|line| {
            line.split('|')
                .nth(1)
                .is_some_and(|cell| cell.trim() == strategy)
        })?;
        row.split('|')
            .nth(column)?
            .trim()
            .strip_suffix(" MB")?
            .parse()
            .ok()
    };
    Some(((binary("ours")? / binary("ours (release profile)")? - 1.0) * 100.0).round() as u32)
}

/// Every `about N% larger` in `text` quotes the measured `percent`.
fn check_growth(doc: &str, text: &str, percent: u32) -> Vec<String> {
    let quoted: Vec<&str> = text
        .split("about ")
        .skip(1)
        .filter_map(|rest| rest.split_once("% larger").map(|(n, _)| n))
        .collect();
    if quoted.is_empty() {
        return vec![format!(
            "{doc}: does not say how much larger the default profile's binary is (BENCHMARKS.md: about {percent}%)"
        )];
    }
    quoted
        .into_iter()
        .filter(|n| *n != percent.to_string())
        .map(|n| format!("{doc}: says about {n}% larger; BENCHMARKS.md measured {percent}%"))
        .collect()
}

/// Every file name in `text` (a word ending in a known extension, or `Dockerfile`) exists.
fn check_paths(doc: &str, text: &str, exists: impl Fn(&str) -> bool) -> Vec<String> {
    const ENDINGS: &[&str] = &[
        ".rs",
        ".md",
        ".toml",
        ".lock",
        ".rhai",
        ".yml",
        ".jq",
        "Dockerfile",
    ];
    let words = text.split(|c: char| c.is_whitespace() || "`'\"()[],;*".contains(c));
    let paths: BTreeSet<&str> = words
        .map(|word| word.trim_end_matches(['.', ':']))
        .filter(|word| ENDINGS.iter().any(|ending| word.ends_with(ending)))
        // Not URLs, not patterns like `locks/<kind>.lock`.
        .filter(|word| !word.contains("://") && !word.contains('<'))
        .collect();
    paths.into_iter().filter(|path| !exists(path)).map(|path| format!("{doc}: names `{path}`, which does not exist; write its path from the repository root")).collect()
}

/// Engine calls that `xtask/rust-alpine/src/engine.rs` makes, as other code would spell them: in a
/// `cmd!` template or a `Command`'s argument list. Each has one implementation: the engine's.
const ENGINE_CALLS: &[(&str, &str)] = &[
    ("image inspect", "Engine::image"),
    ("\"image\", \"inspect\"", "Engine::image"),
    ("container inspect", "Running::inspect"),
    ("\"container\", \"inspect\"", "Running::inspect"),
    ("} cp ", "Engine::copy_out"),
    ("} create ", "Engine::copy_out"),
    ("} rmi ", "Engine::remove_image"),
    ("} image rm ", "Engine::remove_image"),
    ("\"rm\", \"--force\"", "Running (removed on drop)"),
    ("} build --tag", "Builder::build"),
    ("\"build\", \"--tag\"", "Builder::build"),
    ("\"stop\", \"--time\"", "Running::stop"),
    ("} history ", "Engine::history"),
];

/// The modules of one crate (file stem -> source without its `#[cfg(test)]` part).
fn modules(dir: &Path) -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            let text = read(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            modules.insert(stem, code);
        }
    }
    modules
}

/// The sibling modules a module's code names: `crate::name`, `super::name` (in a root module
/// the same thing) and the items of `use crate::{a, b::{..}}`.
fn uses(code: &str, known: &BTreeSet<&str>) -> BTreeSet<String> {
    let ident = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for prefix in ["crate::", "super::"] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            let Some(list) = rest.strip_prefix('{') else {
                found.insert(ident(rest));
                continue;
            };
            let (mut depth, mut item_start) = (0, true);
            for (index, c) in list.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        found.insert(ident(&list[index..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        }
    }
    found.retain(|name| known.contains(name.as_str()));
    found
}

/// A cycle in `graph` (module -> modules it uses), as `a -> b -> a`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    fn visit<'g>(
        node: &'g str,
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'g str>,
        done: &mut BTreeSet<&'g str>,
    ) -> Option<String> {
        if let Some(at) = path.iter().position(|seen| *seen == node) {
            let mut names = path[at..].to_vec();
            names.push(node);
            return Some(names.join(" -> "));
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// Lines of the Rust files below `dir` that spell an engine call `engine.rs` already makes.
fn engine_call_copies(dir: &Path, prefix: &str) -> Vec<String> {
    let mut files = BTreeMap::new();
    walk(dir, "", &mut files);
    let mut violations = Vec::new();
    let copies = files
        .keys()
        .filter(|path| path.ends_with(".rs") && !path.ends_with("engine.rs"))
        // This file names the calls to look for.
        .filter(|path| !path.ends_with("it/tidy.rs"));
    for path in copies {
        let text = read(&dir.join(path)).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (call, instead) in ENGINE_CALLS.iter().filter(|(call, _)| line.contains(call)) {
                violations.push(format!(
                    "{prefix}{path}:{}: makes the engine call `{}` itself; use {instead} of \
                     xtask/rust-alpine/src/engine.rs",
                    number + 1,
                    call.replace('"', "").trim_matches(['}', ' '])
                ));
            }
        }
    }
    violations
}

/// The generated xtask reads top-down (no module imports one that imports it back), only
/// `engine.rs` runs the container engine, the repository's bench and tests reuse it instead of
/// copies, and ARCHITECTURE.md's codemap names every module.
#[test]
fn one_engine_module_and_layers_without_cycles() {
    let root = repo_root();
    let modules = modules(&root.join("xtask/rust-alpine/src"));
    let known: BTreeSet<&str> = modules.keys().map(String::as_str).collect();
    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|(name, code)| {
            let mut used = uses(code, &known);
            used.remove(name);
            (name.clone(), used)
        })
        .collect();
    let mut violations = Vec::new();
    if let Some(cycle) = cycle(&graph) {
        violations.push(format!(
            "xtask/rust-alpine/src: modules import each other: {cycle}"
        ));
    }
    for name in modules.keys().filter(|name| *name != "engine") {
        if modules[name].contains("{program} ") {
            violations.push(format!(
                "xtask/rust-alpine/src/{name}.rs runs the container engine; every call belongs in engine.rs"
            ));
        }
    }
    violations.extend(engine_call_copies(&root.join("xtask/src"), "xtask/src/"));
    violations.extend(engine_call_copies(
        &root.join("xtask/render/tests"),
        "xtask/render/tests/",
    ));
    let architecture = read(&root.join("ARCHITECTURE.md")).unwrap();
    for name in modules.keys() {
        if !architecture.contains(&format!("`{name}`")) {
            violations.push(format!(
                "ARCHITECTURE.md: the codemap does not name xtask/rust-alpine/src/{name}.rs (`{name}`)"
            ));
        }
    }
    violations.extend(layer_violations(&layers(&architecture, &known), &graph));
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The layers ARCHITECTURE.md gives the generated xtask's modules: its `- layer N, ...` bullets
/// (with their continuation lines), each naming modules in backticks; module -> layer number
/// (1 is the top).
fn layers(architecture: &str, known: &BTreeSet<&str>) -> BTreeMap<String, u32> {
    let mut bullets: Vec<(u32, String)> = Vec::new();
    let mut open = false;
    for line in architecture.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("- layer ") {
            let number = rest.split(',').next().and_then(|n| n.trim().parse().ok());
            open = number.is_some();
            bullets.extend(number.map(|number| (number, rest.to_owned())));
        } else if trimmed.is_empty() || trimmed.starts_with("- ") {
            open = false;
        } else if open && let Some((_, text)) = bullets.last_mut() {
            text.push(' ');
            text.push_str(trimmed);
        }
    }
    let mut layers = BTreeMap::new();
    for (number, text) in bullets {
        for (index, word) in text.split('`').enumerate() {
            if index % 2 == 1 && known.contains(word) {
                layers.insert(word.to_owned(), number);
            }
        }
    }
    layers
}

/// Every module is in a layer and uses modules of its own layer or the layers below only.
fn layer_violations(
    layers: &BTreeMap<String, u32>,
    graph: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut violations = Vec::new();
    for (module, used) in graph {
        let Some(layer) = layers.get(module) else {
            violations.push(format!(
                "ARCHITECTURE.md: `{module}` is in no `- layer N` line"
            ));
            continue;
        };
        for other in used {
            if let Some(other_layer) = layers.get(other).filter(|other| *other < layer) {
                violations.push(format!(
                    "xtask/rust-alpine/src/{module}.rs (layer {layer}) uses `{other}` (layer \
                     {other_layer}), a layer above it: move the code, or the module in \
                     ARCHITECTURE.md"
                ));
            }
        }
    }
    violations
}

mod fixtures {
    use super::*;

    #[test]
    fn layers_are_read_from_the_architecture_and_enforced() {
        let known: BTreeSet<&str> = ["docker", "engine", "report", "budget"].into();
        let architecture = "- layer 1, commands: `docker` (the `cargo` one)\n\
                            - layer 2, engine and report: `engine`,\n    `report`\n\
                            - layer 3, facts: `budget`\n\n`engine` again, in prose\n";
        let layers = layers(architecture, &known);
        assert_eq!(layers.get("engine"), Some(&2));
        assert_eq!(layers.len(), 4);
        let graph = |edges: &[(&str, &str)]| {
            let mut graph: BTreeMap<String, BTreeSet<String>> = known
                .iter()
                .map(|name| (name.to_string(), BTreeSet::new()))
                .collect();
            for (from, to) in edges {
                graph.get_mut(*from).unwrap().insert(to.to_string());
            }
            graph
        };
        let good = graph(&[
            ("docker", "engine"),
            ("engine", "report"),
            ("report", "budget"),
        ]);
        assert_eq!(layer_violations(&layers, &good), Vec::<String>::new());
        let bad = layer_violations(&layers, &graph(&[("budget", "engine")]));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(
            bad[0].contains("budget.rs (layer 3) uses `engine` (layer 2)"),
            "{bad:?}"
        );
        let mut unplaced = graph(&[]);
        unplaced.insert("sbom".into(), BTreeSet::new());
        assert!(
            layer_violations(&layers, &unplaced)[0].contains("`sbom` is in no `- layer N` line")
        );
    }

    const CONFIG: &str = r#"
[hooks]
post = ["hooks/lock.rhai"]

[placeholders]
kind = { type = "string", prompt = "?", choices = ["service", "cli"], default = "service" }
ci = { type = "bool", prompt = "?", default = true }

[conditional.'kind == "service"'.placeholders]
port = { type = "string", prompt = "?", default = "8080" }

[conditional.'kind == "cli"']
ignore = ["src/serve.rs", "docs"]

[conditional.'ci == false']
ignore = [".github"]
"#;

    /// The violations of one file next to a file that uses every placeholder.
    fn liquid(path: &str, text: &str) -> Vec<String> {
        let config = Config::parse(CONFIG).unwrap();
        let uses_all = "{{ kind }}{{ ci }}{% if kind == \"service\" %}{{ port }}{% endif %}";
        let texts = BTreeMap::from([("all.txt", uses_all.to_owned()), (path, text.to_owned())]);
        check_liquid(&texts, &config)
    }

    #[test]
    fn answers_follow_the_conditions() {
        let config = Config::parse(CONFIG).unwrap();
        let labels: Vec<String> = config
            .answers()
            .iter()
            .map(|answers| format!("{} / {}", answers.label, answers.ignored.join(",")))
            .collect();
        assert_eq!(
            labels,
            [
                "ci=true kind=service / ",
                "ci=false kind=service / .github",
                "ci=true kind=cli / src/serve.rs,docs",
                "ci=false kind=cli / src/serve.rs,docs,.github",
            ]
        );
    }

    #[test]
    fn liquid_renders_strictly_under_every_answer() {
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
                    "src/main.rs (ci=true kind=service;",
                    "requested variable=nope",
                ],
            ),
            (
                "src/main.rs",
                "{% if fancy %}{% endif %}",
                &["`fancy` is read but undefined for these answers"],
            ),
            (
                "src/main.rs",
                "{% if port %}{% endif %}",
                &["(ci=true kind=cli;", "`port` is read but undefined"],
            ),
            // Only defined for services: outside its condition it fails for the cli.
            (
                "src/main.rs",
                "{{ port }}",
                &["src/main.rs (ci=true kind=cli;", "requested variable=port"],
            ),
            (
                "src/main.rs",
                "{% if kind == \"service\" %}\n{{port}}\n{% endif %}",
                &[],
            ),
            (
                "src/main.rs",
                "{%- if kind == \"service\" and ci -%}{{ port }}{%- endif %}",
                &[],
            ),
            (
                "src/main.rs",
                "{% if kind == \"cli\" %}{% else %}\n{{ port }}{% endif %}",
                &[],
            ),
            (
                "src/main.rs",
                "{% if kind == \"service\" %}{% else %}\n{{ port }}{% endif %}",
                &["requested variable=port"],
            ),
            ("src/serve.rs", "const PORT: u16 = {{port}};", &[]),
            ("src/serve.rs.liquid", "{{port}}", &[]),
            ("docs/guide.md", "{{port}}", &[]),
            (
                ".github/ci.yml",
                "run: echo ${{ github.sha }}",
                &["requested variable=github", "must be wrapped in {% raw %}"],
            ),
            (
                ".github/ci.yml",
                "run: echo {% raw %}${{ github.sha }} {{ x }}{% endraw %}",
                &[],
            ),
            (".github/ci.yml", "{% raw %}${{ github.sha }}", &["raw"]),
            ("a.txt", "x\n{{ crate_name", &["a.txt (", "2:"]),
            ("a.txt", "{% if kind == \"cli\" %}", &["a.txt ("]),
            ("a.txt", "{% endif %}", &["a.txt ("]),
            ("a.txt", "{% assign twice = 2 %}{{ twice }}", &[]),
            // Rust format strings: an escaped brace is Liquid syntax.
            (
                "f.rs",
                "println!(\"{{}}\");",
                &["f.rs (every answer; wrap literal", "1:13"],
            ),
            (
                "f.rs",
                "let s = format!(\"{{x}}\");",
                &["requested variable=x"],
            ),
            ("f.rs", "writeln!(\n    f,\n    r#\"{{\"#\n)?;", &["f.rs ("]),
            ("f.rs", "// println!(\"{{}}\")", &["f.rs ("]),
            (
                "f.rs",
                "const USAGE: &str = \"{{project-name}}\";\nprintln!(\"{USAGE}\");",
                &[],
            ),
            ("f.rs", "{% raw %}println!(\"{{}}\");{% endraw %}", &[]),
            ("f.rs", "let c = '(';\neprintln!(\"{error}\");", &[]),
        ];
        for (path, text, expected) in cases {
            let violations = liquid(path, text).join("\n");
            if expected.is_empty() {
                assert_eq!(violations, "", "{path}: {text:?}");
            }
            for expected in *expected {
                assert!(
                    violations.contains(expected),
                    "{path}: {text:?}: {violations:?} lacks {expected:?}"
                );
            }
        }
    }

    #[test]
    fn every_placeholder_is_used() {
        let config = Config::parse(CONFIG).unwrap();
        let texts = BTreeMap::from([("a.txt", "{{ kind }}{% if ci %}x{% endif %}".to_owned())]);
        assert_eq!(
            check_liquid(&texts, &config),
            [
                "cargo-generate.toml: placeholder `port` is asked for but used nowhere; use it or remove it"
            ]
        );
    }

    /// A placeholder that only decides which files are left out is used: `own_xtask`.
    #[test]
    fn a_placeholder_that_leaves_files_out_is_used() {
        let config = format!(
            "{CONFIG}\n[conditional.'kind == \"cli\"'.placeholders]\nown = {{ type = \"bool\", prompt = \"?\", default = false }}\n\n[conditional.'own == true']\nignore = [\"xtask\"]\n"
        );
        let config = Config::parse(&config).unwrap();
        let texts = BTreeMap::from([(
            "a.txt",
            "{{ kind }}{% if kind == \"service\" %}{{ port }}{% endif %}".to_owned(),
        )]);
        assert_eq!(check_liquid(&texts, &config), Vec::<String>::new());
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
        let mut config = Config::parse(CONFIG).unwrap();
        let tree = |config: &Config, paths: &[(&str, u64)]| {
            let files = paths
                .iter()
                .map(|(path, len)| (path.to_string(), *len))
                .collect();
            check_tree(&files, config)
        };
        let good = [
            ("hooks/lock.rhai", 1),
            ("src/serve.rs", 1),
            ("docs/guide.md", 1),
            (".github/ci.yml", 1),
            ("locks/service.lock", 1),
            ("locks/cli.lock", 1),
        ];
        assert_eq!(tree(&config, &good), Vec::<String>::new());

        let bad = [
            ("hooks/lock.rhai", 1),
            ("target/debug/x", 1),
            ("src/main.rs~", 1),
            ("locks/service.lock", 0),
            ("locks/lib.lock", 1),
        ];
        assert_eq!(
            tree(&config, &bad),
            [
                "src/main.rs~: cargo-generate would copy this into every project; delete it (lock files live in locks/<kind>.lock and xtask/Cargo.lock)",
                "target/debug/x: cargo-generate would copy this into every project; delete it (lock files live in locks/<kind>.lock and xtask/Cargo.lock)",
                "cargo-generate.toml: `src/serve.rs`, ignored when kind == \"cli\", matches no file (ignore takes output names: without .liquid, no wildcards)",
                "cargo-generate.toml: `docs`, ignored when kind == \"cli\", matches no file (ignore takes output names: without .liquid, no wildcards)",
                "cargo-generate.toml: `.github`, ignored when ci == false, matches no file (ignore takes output names: without .liquid, no wildcards)",
                "locks/service.lock is empty: run `cargo xtask lock`",
                "locks/cli.lock is missing: run `cargo xtask lock`",
                "locks/lib.lock: the lockfile hook only uses locks/<kind>.lock; delete it",
            ]
        );

        config.ignored.push((
            "kind == \"service\"".to_owned(),
            vec!["src/serve.rs".to_owned()],
        ));
        assert_eq!(
            tree(&config, &good),
            [
                "src/serve.rs: ignored under every combination of answers, so no project ever gets it"
            ]
        );
    }

    #[test]
    fn module_uses_and_cycles_are_found() {
        let known = BTreeSet::from(["docker", "engine", "buildlog", "report", "cache"]);
        let code = "use crate::{\n    buildlog::{self, X},\n    engine::{Builder, Engine},\n};\nuse super::report;\nfn f() { crate::cache::check(); std::fs::read(); }\n";
        let expected: BTreeSet<String> = ["buildlog", "cache", "engine", "report"]
            .map(String::from)
            .into();
        assert_eq!(uses(code, &known), expected);
        let graph = |edges: &[(&str, &str)]| {
            let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (from, to) in edges {
                graph
                    .entry(from.to_string())
                    .or_default()
                    .insert(to.to_string());
            }
            graph
        };
        assert_eq!(
            cycle(&graph(&[("docker", "cache"), ("cache", "engine")])),
            None
        );
        assert_eq!(
            cycle(&graph(&[
                ("cache", "docker"),
                ("docker", "smoke"),
                ("smoke", "cache")
            ]))
            .as_deref(),
            Some("cache -> docker -> smoke -> cache")
        );
    }

    #[test]
    fn docs_checks_read_help_tables_and_benchmarks() {
        let source = "const X: &str = \"--no\";\npub const HELP: &str = \"\\\nusage\n  --engine PROGRAM  engine\n                    (e.g. --build-flag=--load)\n  -h, --help        this help\";\n";
        assert_eq!(help_options(source), ["--engine", "--help"]);
        let readme = "| option | what |\n|---|---|\n| `--engine PROGRAM` | x |\n| `--json` | y |\n";
        assert_eq!(table_options(readme), ["--engine", "--json"]);
        assert_eq!(
            dockerfile_profile("FROM x\nARG CARGO_PROFILE=container\n"),
            Some("container")
        );
        let benchmarks = "| strategy | profile | binary |\n|---|---|---|\n| ours | container | 3.69 MB |\n| ours (release profile) | release | 3.44 MB |\n";
        assert_eq!(growth_percent(benchmarks), Some(7));
        let cases: &[(Vec<String>, &[&str])] = &[
            (check_profile("d.md", "ships `container`", "container"), &[]),
            (
                check_profile("d.md", "ships --profile container", "container"),
                &[],
            ),
            (
                check_profile("d.md", "builds\ncargo build --release", "container"),
                &[
                    "d.md: never names the `container` profile that the Dockerfile builds by default (ARG CARGO_PROFILE)",
                    "d.md:2: `--release`, but the image builds `--profile container` (write `--profile release` for the release profile): cargo build --release",
                ],
            ),
            (check_growth("d.md", "about 7% larger", 7), &[]),
            (
                check_growth("d.md", "about 10% larger", 7),
                &["d.md: says about 10% larger; BENCHMARKS.md measured 7%"],
            ),
            (
                check_growth("d.md", "larger", 7),
                &[
                    "d.md: does not say how much larger the default profile's binary is (BENCHMARKS.md: about 7%)",
                ],
            ),
            (
                check_paths(
                    "d.md",
                    "see (xtask/a.rs), `b.Dockerfile`; https://x.io/c.md locks/<kind>.lock",
                    |path| path == "xtask/a.rs",
                ),
                &[
                    "d.md: names `b.Dockerfile`, which does not exist; write its path from the repository root",
                ],
            ),
        ];
        for (violations, expected) in cases {
            assert_eq!(violations, expected);
        }
    }
}

/// `cargo xtask upgrade` renders the files rust-alpine owns from the crate's copies of them
/// (xtask/rust-alpine/templates/, embedded, and read from an older version's source): each is
/// template/'s, byte for byte, and there is no other. `cargo xtask lock` refreshes them. The
/// versions a new project starts from agree with the crate's: the record and the pin in
/// xtask/Cargo.toml, and the Dockerfile's `ARG RUST_ALPINE_VERSION`.
#[test]
fn the_crate_carries_the_owned_files_as_template_has_them() {
    let root = repo_root();
    let copies = root.join("xtask/rust-alpine/templates");
    let mut violations = BTreeSet::new();
    for path in rust_alpine::upgrade::OWNED {
        let ours = read(&root.join("template").join(path));
        let copy = read(&copies.join(path));
        match (ours, copy) {
            (Ok(ours), Ok(copy)) if ours == copy => {}
            (Ok(_), Ok(_)) => {
                violations.insert(format!(
                    "xtask/rust-alpine/templates/{path} differs from template/{path}: run \
                     `cargo xtask lock`"
                ));
            }
            (Err(error), _) | (_, Err(error)) => {
                violations.insert(format!(
                    "{error}: rust-alpine owns {path} (upgrade::OWNED); run `cargo xtask lock`"
                ));
            }
        }
    }
    let mut files = BTreeMap::new();
    if copies.is_dir() {
        walk(&copies, "", &mut files);
    }
    for path in files
        .keys()
        .filter(|path| !rust_alpine::upgrade::OWNED.contains(&path.as_str()))
    {
        violations.insert(format!(
            "xtask/rust-alpine/templates/{path} is not a file rust-alpine owns \
             (upgrade::OWNED): delete it"
        ));
    }
    let manifest: toml::Table = read(&root.join("xtask/rust-alpine/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let version = manifest["package"]["version"].as_str().unwrap();
    let xtask = read(&root.join("template/xtask/Cargo.toml.liquid")).unwrap();
    let record = xtask
        .split_once("[package.metadata.rust-alpine]\n")
        .and_then(|(_, rest)| {
            rest.lines()
                .find_map(|line| line.strip_prefix("version = "))
        });
    let dockerfile = read(&root.join("template/Dockerfile")).unwrap();
    let arg = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ARG RUST_ALPINE_VERSION="));
    for (what, found) in [
        (
            "template/xtask/Cargo.toml.liquid: [package.metadata.rust-alpine] version",
            record.map(|value| value.trim_matches('"')),
        ),
        (
            "template/xtask/Cargo.toml.liquid: the rust-alpine pin",
            xtask
                .lines()
                .find_map(|line| {
                    line.strip_prefix("rust-alpine = { version = \"=")
                        .or_else(|| line.strip_prefix("rust-alpine = \"="))
                })
                .and_then(|value| value.split('"').next()),
        ),
        ("template/Dockerfile: ARG RUST_ALPINE_VERSION", arg),
    ] {
        if found != Some(version) {
            violations.insert(format!(
                "{what} is {found:?}, but the crate is rust-alpine {version}"
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "{}",
        Vec::from_iter(violations).join("\n")
    );
}

/// `cargo xtask upgrade` renders the owned files from the answers the generated
/// xtask/Cargo.toml records: under every combination of answers, the record renders (strictly
/// enough: no unknown variable), reads back as those answers, and the crate renders from it
/// exactly the owned files cargo-generate produces, each as template/ renders it.
#[test]
fn the_recorded_answers_render_the_owned_files_as_cargo_generate_does() {
    use rust_alpine::upgrade::{self, Record};

    let template = template_dir();
    let config = Config::parse(&read(&template.join("cargo-generate.toml")).unwrap()).unwrap();
    let manifest = parse(&read(&template.join("xtask/Cargo.toml.liquid")).unwrap()).unwrap();
    let mut violations = BTreeSet::new();
    for answers in config.answers() {
        let label = &answers.label;
        let text = match manifest.render(&answers.globals) {
            Ok(text) => text,
            Err(error) => {
                violations.insert(format!("xtask/Cargo.toml.liquid ({label}): {error}"));
                continue;
            }
        };
        let record = match Record::from_manifest(&text) {
            Ok(Some(record)) => record,
            Ok(None) => {
                violations.insert(format!(
                    "xtask/Cargo.toml ({label}): no [package.metadata.rust-alpine]"
                ));
                continue;
            }
            Err(error) => {
                violations.insert(format!("xtask/Cargo.toml ({label}): {error:#}"));
                continue;
            }
        };
        let answer = |name: &str| {
            let value = answers.globals.get(name);
            value.map(|value| value.to_kstr().into_string())
        };
        let expected = upgrade::Answers {
            name: answer("project-name").unwrap_or_default(),
            runtime: answer("runtime").unwrap_or_default(),
            ci: answer("ci").as_deref() == Some("true"),
            init: answer("is_init").as_deref() == Some("true"),
            kind: answer("kind"),
            description: answer("description"),
            port: answer("port"),
        };
        if record.answers != expected {
            violations.insert(format!(
                "xtask/Cargo.toml ({label}): records {:?}, but the answers were {expected:?}",
                record.answers
            ));
            continue;
        }
        let rendered = match upgrade::render(&upgrade::embedded(), &record.answers) {
            Ok(rendered) => rendered,
            Err(error) => {
                violations.insert(format!("rust-alpine's render ({label}): {error:#}"));
                continue;
            }
        };
        for path in upgrade::OWNED {
            match (answers.produces(path), rendered.get(*path)) {
                (false, None) => {}
                (false, Some(_)) => {
                    violations.insert(format!(
                        "rust-alpine renders {path} ({label}), which cargo-generate leaves out: \
                         fix upgrade::renders"
                    ));
                }
                (true, None) => {
                    violations.insert(format!(
                        "cargo-generate renders {path} ({label}), which rust-alpine does not: \
                         fix upgrade::renders"
                    ));
                }
                (true, Some(ours)) => {
                    let theirs = read(&template.join(path))
                        .and_then(|text| parse(&text))
                        .and_then(|text| {
                            text.render(&answers.globals)
                                .map_err(|error| error.to_string())
                        });
                    if theirs.as_ref() != Ok(ours) {
                        violations.insert(format!(
                            "rust-alpine renders {path} ({label}) unlike template/{path} does: \
                             refresh the crate's copy (`cargo xtask lock`) or fix the answers \
                             upgrade::render passes"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "{}",
        Vec::from_iter(violations).join("\n")
    );
}

/// The generated project is thin: its Dockerfile is the user's (at most 100 lines under every
/// combination of answers, no `RUN` longer than 6 lines, a marked place for build-time packages
/// and one for runtime files and packages), and the rust-alpine code it receives (xtask/ and
/// docker/, test code aside) is at most 100 lines.
#[test]
fn the_generated_project_is_thin() {
    let template = template_dir();
    let config = Config::parse(&read(&template.join("cargo-generate.toml")).unwrap()).unwrap();
    let dockerfile = parse(&read(&template.join("Dockerfile")).unwrap()).unwrap();
    let mut violations = BTreeSet::new();
    for answers in config.answers() {
        let text = dockerfile.render(&answers.globals).unwrap();
        violations.extend(
            dockerfile_thinness(&text)
                .into_iter()
                .map(|problem| format!("Dockerfile ({}): {problem}", answers.label)),
        );
    }
    let mut lines = 0;
    let mut files = BTreeMap::new();
    walk(&template, "", &mut files);
    for path in files
        .keys()
        .filter(|path| path.starts_with("xtask/") || path.starts_with("docker/"))
        .filter(|path| !path.ends_with("Cargo.lock") && !path.ends_with(".gitignore"))
    {
        let text = read(&template.join(path)).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        lines += code.lines().filter(|line| !line.trim().is_empty()).count();
    }
    if lines > 100 {
        violations.insert(format!(
            "xtask/ and docker/ give a generated project {lines} non-blank, non-test lines of \
             rust-alpine code (at most 100): move code into the rust-alpine crate"
        ));
    }
    assert!(
        violations.is_empty(),
        "{}",
        Vec::from_iter(violations).join("\n")
    );
}

/// What makes a rendered Dockerfile too long or too clever for its user.
fn dockerfile_thinness(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let total = text.lines().count();
    if total > 100 {
        problems.push(format!(
            "{total} lines (at most 100): move logic into the tool"
        ));
    }
    let mut run: Option<(usize, usize)> = None;
    for (number, line) in text.lines().enumerate() {
        match &mut run {
            Some((_, length)) => *length += 1,
            None if line.starts_with("RUN ") => run = Some((number + 1, 1)),
            None => {}
        }
        if !line.trim_end().ends_with('\\') {
            if let Some((start, length)) = run.take().filter(|(_, length)| *length > 6) {
                problems.push(format!(
                    "the RUN at line {start} has {length} lines (at most 6): move it into a \
                     command of the tool"
                ));
            }
            run = None;
        }
    }
    for marker in [
        "# >>> Build-time packages",
        "# >>> Runtime files and packages",
    ] {
        if !text.contains(marker) {
            problems.push(format!("no `{marker}` section for the user's additions"));
        }
    }
    problems
}

#[test]
fn dockerfile_thinness_finds_long_files_and_long_runs() {
    let long_run = "RUN a \\\n b \\\n c \\\n d \\\n e \\\n f \\\n g\n";
    let problems = dockerfile_thinness(&format!("FROM x\n{long_run}"));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("RUN at line 2 has 7 lines")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("Build-time packages")),
        "{problems:?}"
    );
    let ok = "# >>> Build-time packages\n# >>> Runtime files and packages\nRUN a \\\n b\n";
    assert_eq!(dockerfile_thinness(ok), Vec::<String>::new());
    let problems = dockerfile_thinness(&format!("{ok}{}", "# x\n".repeat(100)));
    assert!(
        problems.iter().any(|p| p.contains("104 lines")),
        "{problems:?}"
    );
}
