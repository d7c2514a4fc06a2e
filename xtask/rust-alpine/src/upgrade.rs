//! `cargo xtask upgrade [--to VERSION]`: brings the files rust-alpine owns in a project (the
//! Dockerfile, .dockerignore, the alias in .cargo/config.toml, the workflows) from the version
//! they were rendered with to this one. `xtask/Cargo.toml` records that version and the answers
//! cargo-generate rendered them from (`[package.metadata.rust-alpine]`). Each file is rendered
//! twice with those answers, from the recorded version's templates (its crate source, through
//! cargo) and from this crate's (`templates/`, copies of template/ that `cargo xtask lock` keeps
//! up to date in rust-alpine's repository), and merged three ways with the project's own: an
//! untouched file is replaced, the user's edits are kept, a conflict is left with markers.
//!
//! Rendering and merging need liquid and diffy, the `upgrade` feature (on by default); the image
//! build installs the tool without it. The record and the check `cargo xtask docker` makes
//! (`check`) need neither.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use toml_edit::DocumentMut;

use crate::{edit, tool};

/// The files rust-alpine owns, as paths in the project (and under `templates/` in this crate).
pub const OWNED: &[&str] = &[
    "Dockerfile",
    ".dockerignore",
    ".cargo/config.toml",
    ".github/workflows/ci.yml",
    ".github/workflows/docker.yml",
    ".github/docker-summary.jq",
];

/// Where the record lives: the project's xtask manifest.
const MANIFEST: &str = "xtask/Cargo.toml";

/// The table of `MANIFEST` that holds the record.
const TABLE: [&str; 3] = ["package", "metadata", "rust-alpine"];

/// The start of a conflict marker `upgrade` leaves in a file.
const CONFLICT_MARKER: &str = "<<<<<<<";

/// The answers cargo-generate rendered the owned files from (template/cargo-generate.toml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    /// `project-name`: the package's name, or the directory's under `--init`.
    pub name: String,
    /// scratch, alpine or distroless.
    pub runtime: String,
    /// The GitHub Actions workflows.
    pub ci: bool,
    /// `is_init`: an existing project adopted the tooling (`cargo generate --init`).
    pub init: bool,
    /// service or cli; asked for a new project only.
    pub kind: Option<String>,
    /// The one-line description; a new project only.
    pub description: Option<String>,
    /// The service's port; a new service only.
    pub port: Option<String>,
}

/// `[package.metadata.rust-alpine]` of `xtask/Cargo.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The rust-alpine version the owned files were last rendered with.
    pub version: String,
    pub answers: Answers,
}

impl Record {
    /// Reads the record from the xtask manifest; `None` when it has no such table (a project
    /// adopted before rust-alpine recorded it).
    pub fn from_manifest(manifest: &str) -> anyhow::Result<Option<Record>> {
        let mut doc = edit::parse(manifest, MANIFEST)?;
        let Some(table) = edit::table(&mut doc, &TABLE) else {
            return Ok(None);
        };
        let where_ = "[package.metadata.rust-alpine] in xtask/Cargo.toml";
        let string = |key: &str| -> anyhow::Result<Option<String>> {
            match table.get(key) {
                None => Ok(None),
                Some(item) => match item.as_str() {
                    Some(text) => Ok(Some(text.to_owned())),
                    // A port may be written as a number too.
                    None if key == "port" => match item.as_integer() {
                        Some(number) => Ok(Some(number.to_string())),
                        None => bail!("{where_}: `port` is not a number or a string"),
                    },
                    None => bail!("{where_}: `{key}` is not a string"),
                },
            }
        };
        let boolean = |key: &str| -> anyhow::Result<bool> {
            match table.get(key) {
                None => Ok(false),
                Some(item) => item
                    .as_bool()
                    .with_context(|| format!("{where_}: `{key}` is not true or false")),
            }
        };
        let required = |key: &str| -> anyhow::Result<String> {
            string(key)?.with_context(|| format!("{where_}: `{key}` is missing"))
        };
        let version = required("version")?;
        let runtime = required("runtime")?;
        if !["scratch", "alpine", "distroless"].contains(&runtime.as_str()) {
            bail!("{where_}: runtime {runtime:?} is not scratch, alpine or distroless");
        }
        let init = boolean("init")?;
        let kind = string("kind")?;
        match kind.as_deref() {
            None if !init => bail!("{where_}: `kind` is missing (service or cli)"),
            Some(kind) if kind != "service" && kind != "cli" => {
                bail!("{where_}: kind {kind:?} is not service or cli")
            }
            _ => {}
        }
        let port = string("port")?;
        if kind.as_deref() == Some("service") && !init && port.is_none() {
            bail!("{where_}: `port` is missing (a service's)");
        }
        let answers = Answers {
            name: required("name")?,
            runtime,
            ci: boolean("ci")?,
            init,
            kind,
            description: string("description")?,
            port,
        };
        Ok(Some(Record { version, answers }))
    }
}

/// Whether cargo-generate renders `path` under `answers` (template/cargo-generate.toml's
/// `ignore` rules): the workflow of a new project or the one an adopting project gets, each
/// only with `ci`.
pub fn renders(path: &str, answers: &Answers) -> bool {
    match path {
        ".github/workflows/ci.yml" => answers.ci && !answers.init,
        ".github/workflows/docker.yml" => answers.ci && answers.init,
        ".github/docker-summary.jq" => answers.ci,
        _ => true,
    }
}

/// What `cargo xtask docker` checks first: the owned files were upgraded to this tool's version
/// (`upgrade` left no conflict in them). A project without a record (adopted before
/// rust-alpine kept one) passes.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let Ok(manifest) = std::fs::read_to_string(root.join(MANIFEST)) else {
        return Ok(());
    };
    if let Some(record) = Record::from_manifest(&manifest)?
        && record.version != tool::VERSION
    {
        bail!(
            "the files rust-alpine owns (Dockerfile, .dockerignore, .cargo/config.toml, the \
             workflows) are rust-alpine {}'s ([package.metadata.rust-alpine] in xtask/Cargo.toml) \
             but xtask/Cargo.toml pins {}: run `cargo xtask upgrade` to bring them to {}",
            record.version,
            tool::VERSION,
            tool::VERSION
        );
    }
    let conflicts = conflicted(root);
    if !conflicts.is_empty() {
        bail!(
            "{} still {} conflict markers (`{CONFLICT_MARKER}`) from `cargo xtask upgrade`: \
             resolve them, then run `cargo xtask upgrade` again",
            conflicts.join(", "),
            if conflicts.len() == 1 { "has" } else { "have" }
        );
    }
    Ok(())
}

/// The owned files that hold a conflict marker at the start of a line.
fn conflicted(root: &Path) -> Vec<String> {
    OWNED
        .iter()
        .filter(|path| {
            std::fs::read_to_string(root.join(path)).is_ok_and(|text| has_conflict(&text))
        })
        .map(|path| (*path).to_owned())
        .collect()
}

fn has_conflict(text: &str) -> bool {
    text.lines().any(|line| line.starts_with(CONFLICT_MARKER))
}

/// The exit code of the upgrade `--to` handed over to (the new version's own), passed through
/// by [`crate::run`] without a message of its own.
#[derive(Debug)]
pub struct Exit(pub u8);

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the upgrade exited with status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// The project's root: the nearest directory, from here up, with `xtask/Cargo.toml`.
fn find_root() -> anyhow::Result<PathBuf> {
    let here = std::env::current_dir().context("reading the current directory")?;
    match here.ancestors().find(|dir| dir.join(MANIFEST).is_file()) {
        Some(root) => Ok(root.to_owned()),
        None => bail!(
            "no xtask/Cargo.toml here or above {}: run `cargo xtask upgrade` in the project",
            here.display()
        ),
    }
}

/// `cargo xtask upgrade [--to VERSION]`.
pub fn run(to: Option<&str>) -> anyhow::Result<()> {
    let root = find_root()?;
    if let Some(version) = to.filter(|version| *version != tool::VERSION) {
        check_version(version)?;
        let path = root.join(MANIFEST);
        let before = std::fs::read_to_string(&path).context("reading xtask/Cargo.toml")?;
        let lock_path = root.join("xtask/Cargo.lock");
        let lock_before = std::fs::read_to_string(&lock_path).ok();
        std::fs::write(&path, set_pin(&before, version)?).context("writing xtask/Cargo.toml")?;
        println!("xtask/Cargo.toml: rust-alpine pinned to ={version}; building it");
        // The project's alias, `cargo xtask`, with the new pin: cargo builds that version. A
        // version that does not build would leave `cargo xtask` broken: the pin goes back.
        let xtask = |command: &str| xtask_with_upgrade(&root, command);
        let built = xtask("build")
            .status()
            .context("running cargo build for xtask/")?;
        if !built.success() {
            std::fs::write(&path, &before).context("restoring xtask/Cargo.toml")?;
            if let Some(lock) = &lock_before {
                std::fs::write(&lock_path, lock).context("restoring xtask/Cargo.lock")?;
            }
            bail!(
                "xtask/ did not build with rust-alpine ={version} (see above): xtask/Cargo.toml \
                 and xtask/Cargo.lock are as they were; is {version} released (and reachable \
                 from here)?"
            );
        }
        let status = xtask("run")
            .args(["--", "upgrade"])
            .status()
            .context("running `cargo xtask upgrade` with the new pin")?;
        return match status.code() {
            Some(0) => Ok(()),
            Some(code) => Err(Exit(u8::try_from(code).unwrap_or(1)).into()),
            None => Err(Exit(1).into()),
        };
    }
    upgrade_here(&root)
}

#[cfg(feature = "upgrade")]
fn upgrade_here(root: &Path) -> anyhow::Result<()> {
    upgrade(root, &|version: &str| merge::cargo_templates(root, version))
}

/// Without the feature (a generated xtask depends with `default-features = false`, so that
/// its first build skips liquid and diffy): the project's xtask again, with its `upgrade`
/// feature, which turns this crate's on.
#[cfg(not(feature = "upgrade"))]
fn upgrade_here(root: &Path) -> anyhow::Result<()> {
    let status = xtask_with_upgrade(root, "run")
        .args(["--", "upgrade"])
        .status()
        .context("running `cargo xtask upgrade` with the upgrade feature")?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(Exit(u8::try_from(code).unwrap_or(1)).into()),
        None => Err(Exit(1).into()),
    }
}

/// `cargo COMMAND` of the project's xtask, as its alias runs it, with the xtask's `upgrade`
/// feature (`upgrade = ["rust-alpine/upgrade"]` in xtask/Cargo.toml).
fn xtask_with_upgrade(root: &Path, command: &str) -> std::process::Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cargo = std::process::Command::new(cargo);
    cargo
        .args([command, "--quiet", "--manifest-path", "xtask/Cargo.toml"])
        .args(["--target-dir", "target/xtask", "--features", "upgrade"])
        .current_dir(root);
    cargo
}

/// A version as cargo takes it after `=`: `MAJOR.MINOR.PATCH`, maybe with a pre-release.
fn check_version(version: &str) -> anyhow::Result<()> {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let ok = parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b));
    if !ok {
        bail!("--to {version:?}: give a version, MAJOR.MINOR.PATCH, e.g. --to 0.2.0");
    }
    Ok(())
}

/// The xtask manifest with its `rust-alpine` dependency pinned to `=version`.
fn set_pin(manifest: &str, version: &str) -> anyhow::Result<String> {
    let mut doc: DocumentMut = edit::parse(manifest, MANIFEST)?;
    let pin = format!("={version}");
    let Some(dependency) = edit::table(&mut doc, &["dependencies"])
        .and_then(|dependencies| dependencies.get_mut("rust-alpine"))
    else {
        bail!("xtask/Cargo.toml has no `rust-alpine` in [dependencies]: nothing to pin");
    };
    if dependency.is_str() {
        *dependency = toml_edit::value(pin);
    } else if let Some(version) = dependency
        .as_table_like_mut()
        .and_then(|table| table.get_mut("version"))
    {
        *version = toml_edit::value(pin);
    } else {
        bail!(
            "xtask/Cargo.toml takes rust-alpine without a version (a path or git dependency): \
             pin `rust-alpine = \"={version}\"` by hand and run `cargo xtask upgrade`"
        );
    }
    Ok(doc.to_string())
}

/// Path in the project -> template text (Liquid), as a version of rust-alpine ships them.
pub type Templates = BTreeMap<String, String>;

/// This version's templates, compiled in.
pub fn embedded() -> Templates {
    macro_rules! embed {
        ($($path:literal),* $(,)?) => {
            [$(($path, include_str!(concat!("../templates/", $path)))),*]
        };
    }
    let files = embed!(
        "Dockerfile",
        ".dockerignore",
        ".cargo/config.toml",
        ".github/workflows/ci.yml",
        ".github/workflows/docker.yml",
        ".github/docker-summary.jq",
    );
    files
        .into_iter()
        .map(|(path, text)| (path.to_owned(), text.to_owned()))
        .collect()
}

/// What happened to one owned file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Already what this version renders.
    Unchanged,
    /// The user's edits, and nothing new from the template to merge into them.
    Edited,
    /// Untouched since the old render: now the new one.
    Replaced,
    /// Edited by the user and changed by the template: both kept.
    Merged,
    /// Edited by both where they overlap: written with conflict markers.
    Conflict,
    /// New in this version (or for these answers): written.
    Created,
    /// The old version rendered it and the user deleted it: left deleted.
    KeptDeleted,
    /// The old version did not render it but the project has it: the user's, left as it is.
    NotOurs,
    /// This version no longer renders it: left as it is.
    Dropped,
    /// An adopted project's own file, which `cargo generate --init` kept (it shares few lines
    /// with the old render): left as it is.
    Adopted,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Unchanged => "unchanged",
            Outcome::Edited => "unchanged (your edits; nothing new to merge)",
            Outcome::Replaced => "replaced (you had not edited it)",
            Outcome::Merged => "merged (your edits kept)",
            Outcome::Conflict => "CONFLICT (resolve the markers)",
            Outcome::Created => "created",
            Outcome::KeptDeleted => "kept deleted (you deleted it)",
            Outcome::NotOurs => "left as it is (not rendered by the old version: yours)",
            Outcome::Dropped => {
                "left as it is (this version no longer has it; delete it if unused)"
            }
            Outcome::Adopted => {
                "left as it is (your own, which `cargo generate --init` kept; compare it with \
                 the template's by hand if you like)"
            }
        })
    }
}

#[cfg(feature = "upgrade")]
pub use merge::{render, upgrade};

#[cfg(feature = "upgrade")]
mod merge {
    use super::*;

    /// Renders every template `answers` render, as cargo-generate does (Liquid, with its
    /// variables: `project-name`, `crate_name`, `is_init` and the placeholders).
    pub fn render(templates: &Templates, answers: &Answers) -> anyhow::Result<Templates> {
        use liquid::model::Value;
        let parser = liquid::ParserBuilder::with_stdlib()
            .build()
            .context("building the Liquid parser")?;
        let mut globals = liquid::Object::new();
        let mut set = |name: &str, value: Value| {
            globals.insert(name.to_owned().into(), value);
        };
        set("project-name", Value::scalar(answers.name.clone()));
        set("crate_name", Value::scalar(answers.name.replace('-', "_")));
        set("runtime", Value::scalar(answers.runtime.clone()));
        set("ci", Value::scalar(answers.ci));
        set("is_init", Value::scalar(answers.init));
        for (name, value) in [
            ("kind", &answers.kind),
            ("description", &answers.description),
            ("port", &answers.port),
        ] {
            if let Some(value) = value {
                set(name, Value::scalar(value.clone()));
            }
        }
        let mut rendered = Templates::new();
        for (path, text) in templates.iter().filter(|(path, _)| renders(path, answers)) {
            let template = parser
                .parse(text)
                .with_context(|| format!("parsing the template of {path}"))?;
            let text = template
                .render(&globals)
                .with_context(|| format!("rendering {path}"))?;
            rendered.insert(path.clone(), text);
        }
        Ok(rendered)
    }

    /// Upgrades the project at `root` to this version; `old_templates(version)` gives the
    /// templates of the version the record names (the crate source through cargo, or a test's).
    /// Prints a line per file; an error when a file was left with conflicts.
    pub fn upgrade(
        root: &Path,
        old_templates: &dyn Fn(&str) -> anyhow::Result<Templates>,
    ) -> anyhow::Result<()> {
        let manifest_path = root.join(MANIFEST);
        let manifest =
            std::fs::read_to_string(&manifest_path).context("reading xtask/Cargo.toml")?;
        let Some(record) = Record::from_manifest(&manifest)? else {
            bail!(
                "xtask/Cargo.toml has no [package.metadata.rust-alpine]: this project's files \
                 were rendered by a template that did not record the version and answers an \
                 upgrade needs. Add them by hand, as a new project has them (your runtime, \
                 and whether it has workflows):\n\n[package.metadata.rust-alpine]\nversion = \
                 \"{}\"\nname = \"my-app\"\nruntime = \"scratch\"\nci = true\ninit = true\n\n\
                 then run `cargo xtask upgrade` again (it starts from the version you record)",
                tool::VERSION
            );
        };
        let conflicts = conflicted(root);
        if !conflicts.is_empty() {
            bail!(
                "{} still {} conflict markers (`{CONFLICT_MARKER}`) from an earlier upgrade: \
                 resolve them, then run `cargo xtask upgrade` again",
                conflicts.join(", "),
                if conflicts.len() == 1 { "has" } else { "have" }
            );
        }
        let answers = &record.answers;
        let new = render(&embedded(), answers)?;
        let old = if record.version == tool::VERSION {
            new.clone()
        } else {
            let templates = old_templates(&record.version)
                .with_context(|| format!("reading rust-alpine {}'s templates", record.version))?;
            render(&templates, answers)
                .with_context(|| format!("rendering rust-alpine {}'s templates", record.version))?
        };
        println!(
            "upgrading the files rust-alpine owns from {} to {}:",
            record.version,
            tool::VERSION
        );
        let mut writes = Vec::new();
        let mut conflicts = Vec::new();
        for path in OWNED {
            let current = std::fs::read_to_string(root.join(path)).ok();
            // A checkout with CRLF line endings (git's autocrlf) is compared and merged as LF,
            // and written back as it was.
            let crlf = current.as_ref().is_some_and(|text| text.contains("\r\n"));
            let current = current.map(|text| text.replace("\r\n", "\n"));
            let (outcome, text) = outcome(
                current.as_deref(),
                old.get(*path),
                new.get(*path),
                answers.init,
            );
            if let Some(text) = text {
                let text = if crlf {
                    text.replace('\n', "\r\n")
                } else {
                    text
                };
                writes.push((*path, text));
            }
            if outcome == Outcome::Conflict {
                conflicts.push(*path);
            }
            if current.is_some() || new.contains_key(*path) {
                println!("  {path}: {outcome}");
            }
        }
        for (path, text) in writes {
            let path = root.join(path);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        // The files are this version's now, conflicts or not: once they are resolved, a second
        // run has nothing left to do (and `cargo xtask docker` refuses the markers until then).
        if record.version != tool::VERSION {
            let manifest = edit::set_version(&manifest, &TABLE, tool::VERSION)?
                .context("[package.metadata.rust-alpine] in xtask/Cargo.toml: no `version`")?;
            std::fs::write(&manifest_path, manifest).context("writing xtask/Cargo.toml")?;
            println!(
                "  xtask/Cargo.toml: [package.metadata.rust-alpine] version = \"{}\"",
                tool::VERSION
            );
        }
        if !conflicts.is_empty() {
            bail!(
                "{} {} conflicts, between markers: `<<<<<<< ours` is yours, `||||||| original` \
                 rust-alpine {}'s, `>>>>>>> theirs` rust-alpine {}'s; resolve them (keep what \
                 each side needs, delete the markers), then run `cargo xtask upgrade` again",
                conflicts.join(", "),
                if conflicts.len() == 1 { "has" } else { "have" },
                record.version,
                tool::VERSION
            );
        }
        Ok(())
    }

    /// The outcome for one file from the project's copy, the old render and the new one, and
    /// what to write, if anything.
    fn outcome(
        current: Option<&str>,
        old: Option<&String>,
        new: Option<&String>,
        adopted: bool,
    ) -> (Outcome, Option<String>) {
        match (current, old, new) {
            (_, Some(_), None) => (Outcome::Dropped, None),
            (Some(_), None, None) | (None, None, None) => (Outcome::NotOurs, None),
            (None, None, Some(new)) => (Outcome::Created, Some(new.clone())),
            (None, Some(_), Some(_)) => (Outcome::KeptDeleted, None),
            (Some(current), _, Some(new)) if current == new => (Outcome::Unchanged, None),
            (Some(current), Some(old), Some(new)) if current == old => {
                (Outcome::Replaced, Some(new.clone()))
            }
            (Some(_), None, Some(_)) => (Outcome::NotOurs, None),
            // `cargo generate --init` keeps the files a project has (its .dockerignore, its
            // .cargo/config.toml): merging the template's changes into those is no upgrade.
            (Some(current), Some(old), Some(_)) if adopted && !mostly(old, current) => {
                (Outcome::Adopted, None)
            }
            (Some(current), Some(old), Some(new)) => match diffy::merge(old, current, new) {
                Ok(merged) if merged == current => (Outcome::Edited, None),
                Ok(merged) => (Outcome::Merged, Some(merged)),
                Err(conflicted) => (Outcome::Conflict, Some(conflicted)),
            },
        }
    }

    /// Whether `current` has at least half of the non-blank lines of `old`: an edited copy of
    /// it rather than another file.
    pub(super) fn mostly(old: &str, current: &str) -> bool {
        let lines: std::collections::BTreeSet<&str> = current.lines().map(str::trim_end).collect();
        let old: Vec<&str> = old
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty())
            .collect();
        let kept = old.iter().filter(|line| lines.contains(*line)).count();
        kept * 2 >= old.len()
    }

    /// The templates of rust-alpine `version`, from its crate source as this project's cargo
    /// gets it (any registry or source replacement it is configured with): a throwaway package
    /// that depends on that version, `cargo metadata`, and templates/ beside its manifest.
    pub fn cargo_templates(root: &Path, version: &str) -> anyhow::Result<Templates> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        cargo_templates_with(&cargo, root, version)
    }

    /// [`cargo_templates`] with the cargo program given.
    pub(super) fn cargo_templates_with(
        cargo: &str,
        root: &Path,
        version: &str,
    ) -> anyhow::Result<Templates> {
        let dir = root.join("target/xtask/rust-alpine-upgrade").join(version);
        std::fs::create_dir_all(dir.join("src"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let manifest = dir.join("Cargo.toml");
        std::fs::write(
            &manifest,
            format!(
                "[package]\nname = \"rust-alpine-upgrade\"\nversion = \"0.0.0\"\n\
                 edition = \"2021\"\npublish = false\n\n[dependencies]\n\
                 rust-alpine = \"={version}\"\n\n[workspace]\n"
            ),
        )
        .with_context(|| format!("writing {}", manifest.display()))?;
        std::fs::write(dir.join("src/lib.rs"), "").context("writing src/lib.rs")?;
        let output = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(&manifest)
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("running {cargo} metadata"))?;
        if !output.status.success() {
            bail!(
                "`cargo metadata` could not get rust-alpine {version} (see above): is the \
                 registry reachable?"
            );
        }
        let metadata: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("reading cargo metadata's output")?;
        let package = metadata["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|package| {
                package["name"] == "rust-alpine" && package["version"].as_str() == Some(version)
            })
            .with_context(|| format!("cargo metadata does not list rust-alpine {version}"))?;
        let crate_manifest = package["manifest_path"]
            .as_str()
            .context("cargo metadata: rust-alpine has no manifest_path")?;
        let templates = Path::new(crate_manifest)
            .parent()
            .unwrap_or(Path::new("."))
            .join("templates");
        if !templates.is_dir() {
            bail!(
                "rust-alpine {version} ships no templates (it predates `cargo xtask upgrade`), \
                 so your edits cannot be told from its files: re-render instead. Move the files \
                 it owns aside (Dockerfile, .dockerignore, .github/workflows/), run `cargo \
                 generate gh:org/rust-alpine template --init`, and carry your edits over"
            );
        }
        let mut found = Templates::new();
        for path in OWNED {
            if let Ok(text) = std::fs::read_to_string(templates.join(path)) {
                found.insert((*path).to_owned(), text);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
#[cfg(feature = "upgrade")]
mod tests {
    use super::{merge::mostly, *};

    const RUNTIMES: [&str; 3] = ["scratch", "alpine", "distroless"];

    fn answers(runtime: &str, kind: Option<&str>, ci: bool, init: bool) -> Answers {
        Answers {
            name: "my-app".to_owned(),
            runtime: runtime.to_owned(),
            ci,
            init,
            kind: kind.map(str::to_owned),
            description: (!init).then(|| "A small app".to_owned()),
            port: (kind == Some("service")).then(|| "8080".to_owned()),
        }
    }

    /// Every combination cargo-generate can be given: kind is not asked under --init.
    fn every_answer() -> Vec<Answers> {
        let mut all = Vec::new();
        for runtime in RUNTIMES {
            for ci in [true, false] {
                for kind in [Some("service"), Some("cli")] {
                    all.push(answers(runtime, kind, ci, false));
                }
                all.push(answers(runtime, None, ci, true));
            }
        }
        all
    }

    #[test]
    fn every_owned_file_is_embedded() {
        let embedded: Vec<String> = embedded().into_keys().collect();
        let mut owned: Vec<&str> = OWNED.to_vec();
        owned.sort_unstable();
        assert_eq!(embedded, owned);
    }

    #[test]
    fn the_embedded_templates_render_under_every_answer() {
        for answers in every_answer() {
            let label = format!("{answers:?}");
            let files = render(&embedded(), &answers).unwrap();
            for (path, text) in &files {
                assert!(!text.contains("{%"), "{label} {path}: Liquid left:\n{text}");
                // GitHub's own expressions (`${{ github.ref }}`) stay.
                assert!(
                    !text.replace("${{", "").contains("{{"),
                    "{label} {path}: Liquid left:\n{text}"
                );
            }
            let dockerfile = &files["Dockerfile"];
            assert!(
                dockerfile.starts_with("# my-app: a static musl binary"),
                "{label}"
            );
            assert!(
                dockerfile.contains("rust-alpine build /recipe /image /my-app\n")
                    && dockerfile.contains("COPY --from=builder /image/ /\n"),
                "{label}"
            );
            assert!(dockerfile.contains("id=my-app-target,"), "{label}");
            assert_eq!(tool::pinned(dockerfile), Some(tool::VERSION), "{label}");
            assert!(dockerfile.contains("--no-default-features"), "{label}");
            let from = match answers.runtime.as_str() {
                "scratch" => "\nFROM scratch\n",
                "alpine" => "\nARG RUNTIME_IMAGE=alpine:3.22\n",
                _ => "\nARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot\n",
            };
            assert!(dockerfile.contains(from), "{label}: no {from:?}");
            let service = answers.kind.as_deref() == Some("service");
            assert_eq!(dockerfile.contains("EXPOSE 8080\n"), service, "{label}");
            assert_eq!(
                dockerfile.contains("CMD [\"--help\"]"),
                answers.kind.as_deref() == Some("cli"),
                "{label}"
            );
            assert_eq!(
                dockerfile.contains("image.description=\"A small app\""),
                !answers.init,
                "{label}"
            );
            assert!(dockerfile.ends_with("\n"), "{label}");
            assert!(files.contains_key(".dockerignore"), "{label}");
            assert!(files[".cargo/config.toml"].contains("xtask = "), "{label}");
            assert_eq!(
                files.contains_key(".github/workflows/ci.yml"),
                answers.ci && !answers.init,
                "{label}"
            );
            assert_eq!(
                files.contains_key(".github/workflows/docker.yml"),
                answers.ci && answers.init,
                "{label}"
            );
            if let Some(ci) = files.get(".github/workflows/ci.yml") {
                assert!(ci.starts_with("# my-app: "), "{label}");
                assert!(ci.contains("PACKAGE: my-app\n"), "{label}");
                assert!(ci.contains("${{ github.workflow }}"), "{label}");
            }
            if let Some(docker) = files.get(".github/workflows/docker.yml") {
                assert!(docker.starts_with("# my-app: "), "{label}");
                assert!(docker.contains("${{ github.workflow }}"), "{label}");
            }
        }
    }

    const MANIFEST_TEXT: &str = "[package]\nname = \"xtask\"\nversion = \"0.0.0\"\n\n\
        [package.metadata.rust-alpine]\nversion = \"OLD\"\nname = \"my-app\"\n\
        runtime = \"scratch\"\nci = false\ninit = false\nkind = \"cli\"\n\
        description = \"A small app\"\n\n[dependencies]\nrust-alpine = \"=OLD\"\n";

    /// A project in a temp dir, rendered from `old` (the old version's templates) as `OLD`.
    fn project(old: &Templates) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("xtask")).unwrap();
        std::fs::write(
            dir.path().join(MANIFEST),
            MANIFEST_TEXT.replace("OLD", "0.0.9"),
        )
        .unwrap();
        let record = Record::from_manifest(&MANIFEST_TEXT.replace("OLD", "0.0.9"))
            .unwrap()
            .unwrap();
        for (path, text) in render(old, &record.answers).unwrap() {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    /// The old version's templates: this version's with the builder image one release older.
    fn old_templates() -> Templates {
        let mut old = embedded();
        let dockerfile = old.get_mut("Dockerfile").unwrap();
        assert!(dockerfile.contains("ARG BUILDER_IMAGE=rust:1.96-bookworm\n"));
        *dockerfile = dockerfile
            .replace(
                "ARG BUILDER_IMAGE=rust:1.96-bookworm\n",
                "ARG BUILDER_IMAGE=rust:1.95-bookworm\n",
            )
            .replace(
                &format!("ARG RUST_ALPINE_VERSION={}\n", tool::VERSION),
                "ARG RUST_ALPINE_VERSION=0.0.9\n",
            );
        old
    }

    fn run_upgrade(dir: &Path) -> anyhow::Result<()> {
        upgrade_from(dir, old_templates())
    }

    fn upgrade_from(dir: &Path, old: Templates) -> anyhow::Result<()> {
        upgrade(dir, &|version| {
            assert_eq!(version, "0.0.9");
            Ok(old.clone())
        })
    }

    fn read(dir: &Path, path: &str) -> String {
        std::fs::read_to_string(dir.join(path)).unwrap()
    }

    fn recorded_version(dir: &Path) -> String {
        Record::from_manifest(&read(dir, MANIFEST))
            .unwrap()
            .unwrap()
            .version
    }

    #[test]
    fn an_untouched_file_is_replaced_and_a_second_run_changes_nothing() {
        let dir = project(&old_templates());
        let dir = dir.path();
        assert!(read(dir, "Dockerfile").contains("rust:1.95-bookworm"));
        check(dir).unwrap_err();
        run_upgrade(dir).unwrap();
        let dockerfile = read(dir, "Dockerfile");
        assert!(dockerfile.contains("ARG BUILDER_IMAGE=rust:1.96-bookworm\n"));
        assert_eq!(tool::pinned(&dockerfile), Some(tool::VERSION));
        assert_eq!(recorded_version(dir), tool::VERSION);
        let manifest = read(dir, MANIFEST);
        // Only the version moved; the rest of the manifest is as it was.
        assert_eq!(
            manifest,
            MANIFEST_TEXT
                .replace(
                    "version = \"OLD\"",
                    &format!("version = \"{}\"", tool::VERSION)
                )
                .replace("OLD", "0.0.9")
        );
        check(dir).unwrap();
        let before: Vec<String> = OWNED.iter().map(|path| read_opt(dir, path)).collect();
        upgrade(dir, &|_| panic!("the same version needs no old templates")).unwrap();
        let after: Vec<String> = OWNED.iter().map(|path| read_opt(dir, path)).collect();
        assert_eq!(before, after);
        assert_eq!(read(dir, MANIFEST), manifest);
    }

    fn read_opt(dir: &Path, path: &str) -> String {
        std::fs::read_to_string(dir.join(path)).unwrap_or_default()
    }

    #[test]
    fn an_edited_file_is_merged_keeping_the_edit() {
        let dir = project(&old_templates());
        let dir = dir.path();
        let edited = read(dir, "Dockerfile").replace(
            "# <<<\nARG VERSION=",
            "# <<<\nCOPY config /config\nARG VERSION=",
        );
        assert!(edited.contains("COPY config /config\n"));
        std::fs::write(dir.join("Dockerfile"), &edited).unwrap();
        run_upgrade(dir).unwrap();
        let dockerfile = read(dir, "Dockerfile");
        assert!(dockerfile.contains("# <<<\nCOPY config /config\nARG VERSION="));
        assert!(dockerfile.contains("ARG BUILDER_IMAGE=rust:1.96-bookworm\n"));
        assert_eq!(tool::pinned(&dockerfile), Some(tool::VERSION));
        assert!(!has_conflict(&dockerfile));
        // Idempotent: the merged file is left as it is.
        run_upgrade(dir).unwrap();
        assert_eq!(read(dir, "Dockerfile"), dockerfile);
        check(dir).unwrap();
    }

    #[test]
    fn a_conflicting_edit_leaves_markers_and_fails() {
        let dir = project(&old_templates());
        let dir = dir.path();
        let edited = read(dir, "Dockerfile").replace(
            "ARG BUILDER_IMAGE=rust:1.95-bookworm\n",
            "ARG BUILDER_IMAGE=mirror.example.com/rust:1.95-bookworm\n",
        );
        std::fs::write(dir.join("Dockerfile"), &edited).unwrap();
        let error = format!("{:#}", run_upgrade(dir).unwrap_err());
        assert!(error.starts_with("Dockerfile has conflicts"), "{error}");
        assert!(error.contains("run `cargo xtask upgrade` again"), "{error}");
        let dockerfile = read(dir, "Dockerfile");
        assert!(has_conflict(&dockerfile), "{dockerfile}");
        assert!(dockerfile.contains("mirror.example.com/rust:1.95-bookworm"));
        assert!(dockerfile.contains("ARG BUILDER_IMAGE=rust:1.96-bookworm\n"));
        let error = check(dir).unwrap_err().to_string();
        assert!(
            error.contains("Dockerfile still has conflict markers"),
            "{error}"
        );
        let error = run_upgrade(dir).unwrap_err().to_string();
        assert!(
            error.contains("Dockerfile still has conflict markers"),
            "{error}"
        );
        // Resolved: the next run has nothing left to do.
        let resolved: String = dockerfile
            .split_inclusive('\n')
            .scan(0, |side, line| {
                let keep = match line.get(..7) {
                    Some("<<<<<<<") => {
                        *side = 1;
                        false
                    }
                    Some("|||||||") => {
                        *side = 2;
                        false
                    }
                    Some("=======") => {
                        *side = 3;
                        false
                    }
                    Some(">>>>>>>") => {
                        *side = 0;
                        false
                    }
                    _ => *side != 2 && *side != 3,
                };
                Some(if keep { line } else { "" })
            })
            .collect();
        std::fs::write(dir.join("Dockerfile"), &resolved).unwrap();
        run_upgrade(dir).unwrap();
        assert_eq!(read(dir, "Dockerfile"), resolved);
        check(dir).unwrap();
    }

    #[test]
    fn crlf_checkouts_merge_and_stay_crlf() {
        let dir = project(&old_templates());
        let dir = dir.path();
        let edited = read(dir, "Dockerfile")
            .replace(
                "# <<<\nARG VERSION=",
                "# <<<\nCOPY config /config\nARG VERSION=",
            )
            .replace('\n', "\r\n");
        std::fs::write(dir.join("Dockerfile"), &edited).unwrap();
        std::fs::write(
            dir.join(".dockerignore"),
            read(dir, ".dockerignore").replace('\n', "\r\n"),
        )
        .unwrap();
        run_upgrade(dir).unwrap();
        let dockerfile = read(dir, "Dockerfile");
        assert!(dockerfile.contains("# <<<\r\nCOPY config /config\r\nARG VERSION="));
        assert!(dockerfile.contains("ARG BUILDER_IMAGE=rust:1.96-bookworm\r\n"));
        assert!(!dockerfile.replace("\r\n", "").contains('\n'));
        assert_eq!(
            read(dir, ".dockerignore"),
            embedded()[".dockerignore"].replace('\n', "\r\n")
        );
    }

    /// An adopted project keeps its own .dockerignore (`cargo generate --init` did), while its
    /// edited copy of the Dockerfile is merged.
    #[test]
    fn an_adopted_projects_own_files_are_left_alone() {
        let mut old = old_templates();
        let ignore = old.get_mut(".dockerignore").unwrap();
        *ignore = ignore.replace("target/\n", "target/\nold-line/\n");
        let dir = project(&old);
        let dir = dir.path();
        let manifest = read(dir, MANIFEST).replace(
            "init = false\nkind = \"cli\"\ndescription = \"A small app\"\n",
            "init = true\n",
        );
        std::fs::write(dir.join(MANIFEST), &manifest).unwrap();
        let record = Record::from_manifest(&manifest).unwrap().unwrap();
        for (path, text) in render(&old, &record.answers).unwrap() {
            std::fs::write(dir.join(path), text).unwrap();
        }
        std::fs::write(dir.join(".dockerignore"), "target\n*.log\n").unwrap();
        let edited = read(dir, "Dockerfile").replace(
            "# <<<\nARG VERSION=",
            "# <<<\nCOPY config /config\nARG VERSION=",
        );
        std::fs::write(dir.join("Dockerfile"), &edited).unwrap();
        upgrade_from(dir, old.clone()).unwrap();
        assert_eq!(read(dir, ".dockerignore"), "target\n*.log\n");
        let dockerfile = read(dir, "Dockerfile");
        assert!(dockerfile.contains("COPY config /config\n"));
        assert!(dockerfile.contains("rust:1.96-bookworm"));
        assert!(!dockerfile.contains("image.description"));
        assert!(mostly("a\nb\n\nc\n", "a\nB\nc\nd\n"));
        assert!(!mostly("a\nb\nc\n", "a\nx\ny\n"));
    }

    #[test]
    fn deleted_files_stay_deleted_and_new_ones_arrive() {
        let mut old = old_templates();
        old.remove(".dockerignore");
        let dir = project(&old);
        let dir = dir.path();
        std::fs::remove_file(dir.join(".cargo/config.toml")).unwrap();
        assert!(!dir.join(".dockerignore").exists());
        upgrade_from(dir, old).unwrap();
        assert!(!dir.join(".cargo/config.toml").exists());
        assert_eq!(read(dir, ".dockerignore"), embedded()[".dockerignore"]);
    }

    #[test]
    fn a_project_without_a_record_is_told_what_to_add() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("xtask")).unwrap();
        std::fs::write(
            dir.path().join(MANIFEST),
            "[package]\nname = \"xtask\"\nversion = \"0.0.0\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let error = run_upgrade(dir.path()).unwrap_err().to_string();
        assert!(
            error.starts_with("xtask/Cargo.toml has no [package.metadata.rust-alpine]"),
            "{error}"
        );
        assert!(error.contains("runtime = \"scratch\""), "{error}");
        // `cargo xtask docker` does not ask for one.
        check(dir.path()).unwrap();
        assert_eq!(read(dir.path(), "Dockerfile"), "FROM scratch\n");
    }

    /// The old templates come from the crate source `cargo metadata` names (a stand-in cargo
    /// here, which checks the throwaway manifest it is given).
    #[cfg(unix)]
    #[test]
    fn old_templates_are_read_beside_the_manifest_cargo_names() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("registry/rust-alpine-0.0.9");
        std::fs::create_dir_all(source.join("templates/.cargo")).unwrap();
        std::fs::write(source.join("templates/Dockerfile"), "FROM {{runtime}}\n").unwrap();
        std::fs::write(source.join("templates/.cargo/config.toml"), "[alias]\n").unwrap();
        let metadata = format!(
            "{{\"packages\": [{{\"name\": \"rust-alpine-upgrade\", \"version\": \"0.0.0\", \
             \"manifest_path\": \"/x/Cargo.toml\"}}, {{\"name\": \"rust-alpine\", \
             \"version\": \"0.0.9\", \"manifest_path\": \"{}\"}}]}}",
            source.join("Cargo.toml").display()
        );
        std::fs::write(dir.path().join("metadata.json"), metadata).unwrap();
        let cargo = dir.path().join("cargo");
        std::fs::write(
            &cargo,
            format!(
                "#!/bin/sh\n[ \"$1 $2 $3 $4\" = \"metadata --format-version 1 --manifest-path\" ] \
                 || exit 3\ngrep -q '^rust-alpine = \"=0.0.9\"$' \"$5\" || exit 4\n\
                 grep -q '^\\[workspace\\]$' \"$5\" || exit 5\ncat '{}'\n",
                dir.path().join("metadata.json").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cargo = cargo.to_str().unwrap();
        let root = dir.path().join("project");
        let templates = merge::cargo_templates_with(cargo, &root, "0.0.9").unwrap();
        assert_eq!(
            templates.keys().collect::<Vec<_>>(),
            [".cargo/config.toml", "Dockerfile"]
        );
        assert_eq!(templates["Dockerfile"], "FROM {{runtime}}\n");
        assert!(
            root.join("target/xtask/rust-alpine-upgrade/0.0.9/Cargo.toml")
                .is_file()
        );
        std::fs::remove_dir_all(source.join("templates")).unwrap();
        let error = merge::cargo_templates_with(cargo, &root, "0.0.9")
            .unwrap_err()
            .to_string();
        assert!(error.contains("ships no templates"), "{error}");
        assert!(error.contains("--init"), "{error}");
        let error = merge::cargo_templates_with(cargo, &root, "0.0.8")
            .unwrap_err()
            .to_string();
        assert!(error.contains("could not get rust-alpine 0.0.8"), "{error}");
    }

    #[test]
    fn records_are_read_strictly() {
        let record = Record::from_manifest(&MANIFEST_TEXT.replace("OLD", "0.1.0"))
            .unwrap()
            .unwrap();
        assert_eq!(record.version, "0.1.0");
        assert_eq!(
            record.answers,
            answers("scratch", Some("cli"), false, false)
        );
        let init = "[package.metadata.rust-alpine]\nversion = \"0.1.0\"\nname = \"x\"\n\
                    runtime = \"alpine\"\nci = true\ninit = true\n";
        let record = Record::from_manifest(init).unwrap().unwrap();
        assert!(record.answers.init && record.answers.kind.is_none());
        for (from, to, message) in [
            (
                "runtime = \"alpine\"",
                "runtime = \"debian\"",
                "runtime \"debian\"",
            ),
            ("ci = true", "ci = \"yes\"", "`ci` is not true or false"),
            ("init = true", "init = false", "`kind` is missing"),
            ("name = \"x\"\n", "", "`name` is missing"),
        ] {
            let error = Record::from_manifest(&init.replace(from, to))
                .unwrap_err()
                .to_string();
            assert!(error.contains(message), "{to}: {error}");
        }
        let service = format!("{init}kind = \"service\"\n").replace("init = true", "init = false");
        let error = Record::from_manifest(&service).unwrap_err().to_string();
        assert!(error.contains("`port` is missing"), "{error}");
        let record = Record::from_manifest(&format!("{service}port = 8080\n"))
            .unwrap()
            .unwrap();
        assert_eq!(record.answers.port.as_deref(), Some("8080"));
        assert_eq!(
            Record::from_manifest("[package]\nname = \"x\"\n").unwrap(),
            None
        );
    }

    #[test]
    fn the_pin_moves_and_versions_are_checked() {
        let manifest = "[dependencies]\n# pinned\nrust-alpine = \"=0.1.0\"\n";
        assert_eq!(
            set_pin(manifest, "0.2.0").unwrap(),
            "[dependencies]\n# pinned\nrust-alpine = \"=0.2.0\"\n"
        );
        let table =
            "[dependencies]\nrust-alpine = { version = \"=0.1.0\", default-features = false }\n";
        assert!(
            set_pin(table, "0.2.0")
                .unwrap()
                .contains("version = \"=0.2.0\"")
        );
        let path = "[dependencies]\nrust-alpine = { path = \"../x\" }\n";
        assert!(
            set_pin(path, "0.2.0")
                .unwrap_err()
                .to_string()
                .contains("by hand")
        );
        check_version("0.2.0").unwrap();
        check_version("1.0.0-rc.1").unwrap();
        for bad in ["0.2", "latest", "=0.2.0", "0.2.x", "0.2.0; rm"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}
