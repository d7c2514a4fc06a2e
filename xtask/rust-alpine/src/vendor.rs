//! Vendored projects: `cargo vendor` copies every crate of Cargo.lock into a directory and
//! prints the `[source]` tables that make cargo take crates.io's (and git's) crates from it
//! instead (`[source.crates-io] replace-with = "vendored-sources"`, `[source.vendored-sources]
//! directory = "vendor"`), which the project keeps in `.cargo/config.toml`. The image build
//! then compiles the project's dependencies from that directory alone, with `--offline`.
//!
//! Cargo resolves against the directory before anything else runs, and its error for a crate
//! that is not there (`no matching package found ... searched package name: ...`) says nothing
//! about what to do: [`check`] finds such crates first and names the command. The same
//! `[source]` tables apply to `cargo xtask` (a workspace of its own in xtask/, run from the
//! project's root), so the tooling's crates belong in the directory too:
//! `cargo vendor --sync xtask/Cargo.toml` ([`COMMAND`]).

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use anyhow::Context;
use toml_edit::{DocumentMut, Item};

use crate::edit;

/// How a project vendors its crates and the tooling's, from its root.
pub const COMMAND: &str = "cargo vendor --sync xtask/Cargo.toml";

/// The source ids cargo writes in Cargo.lock for crates.io's crates.
const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

/// A directory source (`cargo vendor`'s) and what the config replaces with it.
#[derive(Debug, PartialEq, Eq)]
pub struct Vendored {
    /// The directory, as the config names it relative to the directory holding `.cargo/`.
    pub dir: PathBuf,
    /// The config file (relative to the root) whose `[source]` tables point at it.
    pub config: PathBuf,
    /// Whether crates.io is replaced with it (else only git sources are).
    crates_io: bool,
    /// The git sources replaced with it, as the config names them (`git+URL?rev=...`).
    git: Vec<String>,
}

/// The directory source the cargo configs of the project (`.cargo/config.toml`,
/// `.cargo/config`, `configs` as `(path relative to the root, parsed)`) replace crates.io or a
/// git source with; `None` when they replace nothing with a directory.
pub fn vendored(configs: &[(PathBuf, DocumentMut)]) -> Option<Vendored> {
    for (path, config) in configs {
        let Some(sources) = config.get("source").and_then(Item::as_table_like) else {
            continue;
        };
        // A replacement names another source, which may be replaced in turn.
        let directory_of = |name: &str| -> Option<PathBuf> {
            let mut name = name.to_owned();
            for _ in 0..8 {
                let source = sources.get(&name)?;
                if let Some(dir) = source.get("directory").and_then(Item::as_str) {
                    return Some(PathBuf::from(dir));
                }
                name = source.get("replace-with")?.as_str()?.to_owned();
            }
            None
        };
        let mut found: Option<Vendored> = None;
        for (name, source) in sources.iter() {
            let Some(dir) = source
                .get("replace-with")
                .and_then(Item::as_str)
                .and_then(directory_of)
            else {
                continue;
            };
            let vendored = found.get_or_insert_with(|| Vendored {
                dir: dir.clone(),
                config: path.clone(),
                crates_io: false,
                git: Vec::new(),
            });
            if vendored.dir != dir {
                continue;
            }
            match name {
                "crates-io" => vendored.crates_io = true,
                git => vendored.git.push(git.to_owned()),
            }
        }
        if found.is_some() {
            return found;
        }
    }
    None
}

impl Vendored {
    /// Whether a Cargo.lock `source` is one the config replaces with the directory.
    fn replaces(&self, source: &str) -> bool {
        (self.crates_io && CRATES_IO.contains(&source))
            || self
                .git
                .iter()
                .any(|git| source.split('#').next() == Some(git.as_str()))
    }

    /// The `(name, version)` of every crate the directory `dir` (this source's, resolved)
    /// holds, from each crate's Cargo.toml.
    pub fn crates(dir: &Path) -> anyhow::Result<BTreeSet<(String, String)>> {
        let mut crates = BTreeSet::new();
        let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            crates.extend(crate_in(&entry?.path())?);
        }
        Ok(crates)
    }

    /// The crates of `lock` (Cargo.lock's text) that this source must hold: `"name version"`.
    pub fn needed(&self, lock: &str) -> anyhow::Result<Vec<(String, String)>> {
        let lock = edit::parse(lock, "Cargo.lock")?;
        Ok(lock
            .get("package")
            .and_then(Item::as_array_of_tables)
            .into_iter()
            .flat_map(|packages| packages.iter())
            .filter(|package| {
                package
                    .get("source")
                    .and_then(Item::as_str)
                    .is_some_and(|source| self.replaces(source))
            })
            .filter_map(|package| {
                let field = |key| package.get(key)?.as_str().map(str::to_owned);
                Some((field("name")?, field("version")?))
            })
            .collect())
    }
}

/// The `(name, version)` of the crate a directory source holds in `dir` (its Cargo.toml's),
/// `None` when `dir` holds no crate.
pub fn crate_in(dir: &Path) -> anyhow::Result<Option<(String, String)>> {
    let manifest = dir.join("Cargo.toml");
    let Ok(text) = fs::read_to_string(&manifest) else {
        return Ok(None);
    };
    let doc = edit::parse(&text, &manifest.display().to_string())?;
    let field = |key| doc.get("package")?.get(key)?.as_str().map(str::to_owned);
    Ok(field("name").zip(field("version")))
}

/// Refuses a vendored project whose directory lacks crates its Cargo.lock needs (vendored
/// before the last change to the lock), naming them and the command. `root` is the project's
/// root (the build context); `Ok(None)` when it vendors nothing.
pub fn check(root: &Path, configs: &[(PathBuf, DocumentMut)]) -> anyhow::Result<Option<Vendored>> {
    let Some(vendored) = vendored(configs) else {
        return Ok(None);
    };
    let dir = root.join(&vendored.dir);
    let shown = vendored.dir.display();
    let config = vendored.config.display();
    if !dir.is_dir() {
        anyhow::bail!(
            "{config} takes the crates from {shown}/ (`cargo vendor`), which does not exist \
             (left out of the build context by .dockerignore?): run `{COMMAND} {shown}` in the \
             project's root and keep the [source] tables it prints in {config}"
        );
    }
    let lock = root.join("Cargo.lock");
    let lock = fs::read_to_string(&lock).with_context(|| format!("reading {}", lock.display()))?;
    let have = Vendored::crates(&dir)?;
    let missing: Vec<String> = vendored
        .needed(&lock)?
        .into_iter()
        .filter(|package| !have.contains(package))
        .map(|(name, version)| format!("{name} {version}"))
        .collect();
    if missing.is_empty() {
        return Ok(Some(vendored));
    }
    let shown_missing = match missing.len() {
        count if count > 5 => format!("{} and {} more", missing[..5].join(", "), count - 5),
        _ => missing.join(", "),
    };
    anyhow::bail!(
        "Cargo.lock needs {} crate(s) that are not in {shown}/, where {config} makes cargo take \
         them from (`cargo vendor`): {shown_missing}; vendor again after every change to \
         Cargo.lock: run `{COMMAND} {shown}` in the project's root (xtask/Cargo.toml too, so \
         that `cargo xtask` keeps working) and keep the [source] tables it prints in {config}",
        missing.len()
    )
}

/// The cargo configs of the project at `root` that exist, parsed: `(relative path, document)`.
pub fn configs(root: &Path) -> anyhow::Result<Vec<(PathBuf, DocumentMut)>> {
    [".cargo/config.toml", ".cargo/config"]
        .iter()
        .filter(|config| root.join(config).is_file())
        .map(|config| {
            let path = root.join(config);
            let text =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            Ok((PathBuf::from(config), edit::parse(&text, config)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `cargo vendor` prints for a project with a git dependency.
    const PRINTED: &str = "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n\
        [source.\"git+https://github.com/o/r?rev=abc\"]\ngit = \"https://github.com/o/r\"\n\
        rev = \"abc\"\nreplace-with = \"vendored-sources\"\n\n\
        [source.vendored-sources]\ndirectory = \"third_party\"\n";

    fn config(text: &str) -> Vec<(PathBuf, DocumentMut)> {
        vec![(
            PathBuf::from(".cargo/config.toml"),
            edit::parse(text, "config").unwrap(),
        )]
    }

    fn lock(packages: &[(&str, &str, &str)]) -> String {
        let mut lock = "version = 4\n".to_owned();
        for (name, version, source) in packages {
            lock.push_str(&format!(
                "\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\n"
            ));
            if !source.is_empty() {
                lock.push_str(&format!("source = \"{source}\"\n"));
            }
        }
        lock
    }

    #[test]
    fn the_directory_and_what_it_replaces() {
        assert_eq!(vendored(&config("[alias]\nxtask = \"run\"\n")), None);
        let replaced = vendored(&config(PRINTED)).unwrap();
        assert_eq!(replaced.dir, Path::new("third_party"));
        let lock = lock(&[
            ("app", "0.1.0", ""),
            ("itoa", "1.0.15", CRATES_IO[0]),
            ("memchr", "2.7.4", CRATES_IO[1]),
            (
                "dep",
                "0.2.0",
                "git+https://github.com/o/r?rev=abc#abcdef0123",
            ),
            ("other", "0.3.0", "git+https://github.com/o/other#0123"),
            ("private", "1.0.0", "sparse+https://registry.example.com/"),
        ]);
        let needed = replaced.needed(&lock).unwrap();
        let names: Vec<&str> = needed.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["itoa", "memchr", "dep"]);
        // A registry that stands in for crates.io (the tests' own), replaced in turn.
        let chained = vendored(&config(
            "[source.crates-io]\nreplace-with = \"mirror\"\n[source.mirror]\n\
             replace-with = \"vendored\"\n[source.vendored]\ndirectory = \"vendor\"\n",
        ))
        .unwrap();
        assert_eq!(chained.dir, Path::new("vendor"));
        assert!(chained.replaces(CRATES_IO[0]));
        // A registry replacement that is no directory vendors nothing.
        assert_eq!(
            vendored(&config(
                "[source.crates-io]\nreplace-with = \"mirror\"\n[source.mirror]\n\
                 registry = \"sparse+https://mirror.example.com/\"\n"
            )),
            None
        );
    }

    #[test]
    fn missing_crates_are_named_with_the_command() {
        let root = std::env::temp_dir().join(format!("rust-alpine-vendor-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("third_party/itoa")).unwrap();
        fs::write(
            root.join("third_party/itoa/Cargo.toml"),
            "[package]\nname = \"itoa\"\nversion = \"1.0.15\"\n",
        )
        .unwrap();
        let configs = config(PRINTED);
        fs::write(
            root.join("Cargo.lock"),
            lock(&[("app", "0.1.0", ""), ("itoa", "1.0.15", CRATES_IO[0])]),
        )
        .unwrap();
        assert!(check(&root, &configs).unwrap().is_some());
        fs::write(
            root.join("Cargo.lock"),
            lock(&[
                ("itoa", "1.0.15", CRATES_IO[0]),
                ("memchr", "2.7.4", CRATES_IO[0]),
            ]),
        )
        .unwrap();
        let error = check(&root, &configs).unwrap_err().to_string();
        assert!(
            error.contains("1 crate(s) that are not in third_party/"),
            "{error}"
        );
        assert!(error.contains(": memchr 2.7.4;"), "{error}");
        assert!(
            error.contains("run `cargo vendor --sync xtask/Cargo.toml third_party`"),
            "{error}"
        );
        fs::remove_dir_all(root.join("third_party")).unwrap();
        let error = check(&root, &configs).unwrap_err().to_string();
        assert!(
            error.contains("third_party/ (`cargo vendor`), which does not exist"),
            "{error}"
        );
        fs::remove_dir_all(&root).unwrap();
        assert!(check(&root, &config("")).unwrap().is_none());
    }
}
