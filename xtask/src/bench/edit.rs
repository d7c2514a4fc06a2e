//! The changes a rebuild is timed after, applied to a copy of the rendered project: a comment
//! appended to src/main.rs, the package's patch version bumped in Cargo.toml and Cargo.lock, or
//! one small crate the app did not depend on added to [dependencies] and called from main.

use std::{fs, path::Path};

use anyhow::{Context, bail};
// The tool's own edits (its `cargo xtask docker --check-cache` makes the same changes).
use rust_alpine::edit as shared;
pub(crate) use rust_alpine::edit::{bump_patch, copy_tree};

/// `source` with one more comment line: a source-only change that compiles to the same code.
pub(crate) fn append_comment(source: &str, rebuild: usize) -> String {
    let mut source = source.to_owned();
    if !source.ends_with('\n') {
        source.push('\n');
    }
    source.push_str(&format!(
        "// cargo xtask bench: source-only change {rebuild}\n"
    ));
    source
}

/// The `version` of the `[package]` table of a Cargo.toml.
pub(crate) fn package_version(manifest: &str) -> anyhow::Result<String> {
    let mut doc = shared::parse(manifest, "Cargo.toml")?;
    shared::table(&mut doc, &["package"])
        .and_then(|package| package.get("version")?.as_str().map(str::to_owned))
        .context("no version in the [package] table of Cargo.toml")
}

/// Sets the version of `package`'s own entry in a Cargo.lock.
fn set_locked_version(lock: &str, package: &str, version: &str) -> anyhow::Result<String> {
    let (lock, moved) = shared::relock(lock, |name, _| {
        (name == package).then(|| version.to_owned())
    })?;
    if moved.is_empty() {
        bail!("no entry for {package} in Cargo.lock");
    }
    Ok(lock)
}

/// Appends a comment to `project`/src/main.rs.
pub(crate) fn change_source(project: &Path, rebuild: usize) -> anyhow::Result<()> {
    let path = project.join("src/main.rs");
    let source =
        fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    fs::write(&path, append_comment(&source, rebuild))
        .with_context(|| format!("writing {}", path.display()))
}

/// Bumps the patch version of `package` in `project`'s Cargo.toml and Cargo.lock and returns
/// the new version.
pub(crate) fn bump_version(project: &Path, package: &str) -> anyhow::Result<String> {
    let manifest_path = project.join("Cargo.toml");
    let lock_path = project.join("Cargo.lock");
    let manifest = fs::read_to_string(&manifest_path).context("reading Cargo.toml")?;
    let lock = fs::read_to_string(&lock_path).context("reading Cargo.lock")?;
    let version = bump_patch(&package_version(&manifest)?)?;
    let bumped = shared::set_version(&manifest, &["package"], &version)?
        .context("no literal version in the [package] table of Cargo.toml")?;
    fs::write(&manifest_path, bumped).context("writing Cargo.toml")?;
    fs::write(&lock_path, set_locked_version(&lock, package, &version)?)
        .context("writing Cargo.lock")?;
    Ok(version)
}

/// A small crate with no dependencies of its own, and an expression that calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NewDependency {
    pub(crate) name: &'static str,
    pub(crate) requirement: &'static str,
    pub(crate) call: &'static str,
}

/// What "add one small dependency" adds, in order: the first that is not in the lock yet.
pub(crate) const NEW_DEPENDENCIES: &[NewDependency] = &[
    NewDependency {
        name: "fastrand",
        requirement: "2",
        call: "fastrand::u64(..)",
    },
    NewDependency {
        name: "unicode-width",
        requirement: "0.2",
        call: "unicode_width::UnicodeWidthStr::width(\"bench\")",
    },
    NewDependency {
        name: "hex",
        requirement: "0.4",
        call: "hex::encode([0xbe, 0x4c])",
    },
    NewDependency {
        name: "oorandom",
        requirement: "11",
        call: "oorandom::Rand32::new(1).rand_u32()",
    },
    NewDependency {
        name: "adler2",
        requirement: "2",
        call: "adler2::adler32_slice(b\"bench\")",
    },
];

/// The first of `NEW_DEPENDENCIES` that `lock` (a Cargo.lock) has no package of.
pub(crate) fn new_dependency(lock: &str) -> anyhow::Result<NewDependency> {
    NEW_DEPENDENCIES
        .iter()
        .find(|dependency| {
            let name_line = format!("name = \"{}\"", dependency.name);
            !lock.lines().any(|line| line == name_line)
        })
        .copied()
        .with_context(|| {
            let names: Vec<&str> = NEW_DEPENDENCIES.iter().map(|d| d.name).collect();
            format!(
                "every crate the bench can add ({}) is in Cargo.lock already: add more to NEW_DEPENDENCIES in xtask/src/bench/edit.rs, or lower --reps",
                names.join(", ")
            )
        })
}

/// `manifest` with `dependency` as the first entry of its `[dependencies]` table.
pub(crate) fn add_to_manifest(manifest: &str, dependency: NewDependency) -> anyhow::Result<String> {
    let mut out = String::with_capacity(manifest.len() + 40);
    let mut done = false;
    for line in manifest.split_inclusive('\n') {
        out.push_str(line);
        if !done && line.trim() == "[dependencies]" {
            done = true;
            if !line.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!(
                "{} = \"{}\"\n",
                dependency.name, dependency.requirement
            ));
        }
    }
    if !done {
        bail!("no [dependencies] table in Cargo.toml");
    }
    Ok(out)
}

/// `source` with `dependency` called on the first line of `fn main`, so that it is linked.
pub(crate) fn call_from_main(source: &str, dependency: NewDependency) -> anyhow::Result<String> {
    let mut out = String::with_capacity(source.len() + 60);
    let mut done = false;
    for line in source.split_inclusive('\n') {
        out.push_str(line);
        if !done && line.contains("fn main(") && line.trim_end().ends_with('{') {
            done = true;
            out.push_str(&format!(
                "    let _ = std::hint::black_box({});\n",
                dependency.call
            ));
        }
    }
    if !done {
        bail!("no `fn main(...) {{` line in src/main.rs to call the new dependency from");
    }
    Ok(out)
}

/// Adds the first crate of `NEW_DEPENDENCIES` that `project` does not depend on yet to its
/// Cargo.toml and calls it from src/main.rs; the caller updates Cargo.lock.
pub(crate) fn add_dependency(project: &Path) -> anyhow::Result<NewDependency> {
    let manifest_path = project.join("Cargo.toml");
    let main_path = project.join("src/main.rs");
    let lock = fs::read_to_string(project.join("Cargo.lock")).context("reading Cargo.lock")?;
    let dependency = new_dependency(&lock)?;
    let manifest = fs::read_to_string(&manifest_path).context("reading Cargo.toml")?;
    let main = fs::read_to_string(&main_path).context("reading src/main.rs")?;
    fs::write(&manifest_path, add_to_manifest(&manifest, dependency)?)
        .context("writing Cargo.toml")?;
    fs::write(&main_path, call_from_main(&main, dependency)?).context("writing src/main.rs")?;
    Ok(dependency)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "\
[package]
name = \"bench-app\"
version = \"0.1.9\"

[dependencies]
anyhow = { version = \"1\" }

[workspace.package]
version = \"7.0.0\"
";

    const LOCK: &str = "\
[[package]]
name = \"anyhow\"
version = \"1.0.100\"

[[package]]
name = \"bench-app\"
version = \"0.1.9\"
dependencies = [
 \"anyhow\",
]
";

    #[test]
    fn bumps_the_package_version_and_nothing_else() {
        assert_eq!(package_version(MANIFEST).unwrap(), "0.1.9");
        let version = bump_patch("0.1.9").unwrap();
        assert_eq!(version, "0.1.10");
        let manifest = shared::set_version(MANIFEST, &["package"], &version)
            .unwrap()
            .unwrap();
        assert_eq!(manifest, MANIFEST.replace("0.1.9", "0.1.10"));
        let lock = set_locked_version(LOCK, "bench-app", &version).unwrap();
        assert_eq!(lock, LOCK.replace("0.1.9", "0.1.10"));
    }

    #[test]
    fn refuses_what_it_cannot_bump() {
        assert!(bump_patch("1.2").is_err());
        assert!(bump_patch("1.2.x").is_err());
        assert!(package_version("[dependencies]\nversion = \"1\"\n").is_err());
        assert!(set_locked_version(LOCK, "other", "1.0.0").is_err());
    }

    #[test]
    fn adds_the_first_crate_the_lock_lacks_and_calls_it() {
        let first = new_dependency(LOCK).unwrap();
        assert_eq!(first.name, "fastrand");
        let lock = format!("{LOCK}\n[[package]]\nname = \"fastrand\"\nversion = \"2.3.0\"\n");
        assert_eq!(new_dependency(&lock).unwrap().name, "unicode-width");
        let every: String = NEW_DEPENDENCIES
            .iter()
            .map(|d| format!("[[package]]\nname = \"{}\"\n", d.name))
            .collect();
        assert!(new_dependency(&every).is_err());

        let manifest = add_to_manifest(MANIFEST, first).unwrap();
        assert_eq!(
            manifest,
            MANIFEST.replace("[dependencies]\n", "[dependencies]\nfastrand = \"2\"\n")
        );
        assert!(add_to_manifest("[package]\nname = \"x\"\n", first).is_err());

        let main = "use std::process::ExitCode;\n\n#[tokio::main]\nasync fn main() -> anyhow::Result<ExitCode> {\n    Ok(ExitCode::SUCCESS)\n}\n";
        assert_eq!(
            call_from_main(main, first).unwrap(),
            main.replace(
                "ExitCode> {\n",
                "ExitCode> {\n    let _ = std::hint::black_box(fastrand::u64(..));\n"
            )
        );
        assert!(call_from_main("pub fn run() {}\n", first).is_err());
    }

    #[test]
    fn a_source_change_is_one_more_comment_line() {
        assert_eq!(
            append_comment("fn main() {}", 2),
            "fn main() {}\n// cargo xtask bench: source-only change 2\n"
        );
    }
}
