//! `--check-cache`: proves, on a copy of the build context, that the image's layer cache does
//! its job. The user's tree is never touched.

use std::{fs, path::Path, time::Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use xshell::Shell;

use crate::{docker::Builder, project::Project, smoke};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Every file copied (new mtimes), no content changed: nothing may compile.
    Touch,
    /// A comment appended to src/main.rs: only this crate may compile.
    Source,
    /// The package version bumped in Cargo.toml and Cargo.lock: only this crate may compile.
    VersionBump,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Touch => "touch",
            Change::Source => "source",
            Change::VersionBump => "version bump",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CacheCheck {
    pub change: String,
    pub ok: bool,
    pub seconds: f64,
    /// The crates cargo compiled in the rebuild, from the engine's plain progress log.
    pub compiled: Vec<String>,
    pub detail: String,
}

pub fn check(
    builder: &Builder,
    sh: &Shell,
    project: &Project,
    changes: &[Change],
) -> Vec<CacheCheck> {
    changes
        .iter()
        .map(|&change| {
            let started = Instant::now();
            let mut compiled = Vec::new();
            let result = rebuild(builder, sh, project, change, &mut compiled);
            CacheCheck {
                change: change.name().to_owned(),
                ok: result.is_ok(),
                seconds: started.elapsed().as_secs_f64(),
                compiled,
                detail: match result {
                    Ok(detail) => detail,
                    Err(error) => format!("{error:#}"),
                },
            }
        })
        .collect()
}

fn rebuild(
    builder: &Builder,
    sh: &Shell,
    project: &Project,
    change: Change,
    compiled: &mut Vec<String>,
) -> anyhow::Result<String> {
    let dir = sh.create_temp_dir()?;
    copy_tree(&project.root, dir.path()).context("copying the build context")?;
    let mut version = project.version.clone();
    match change {
        Change::Touch => {}
        Change::Source => {
            let main = dir.path().join("src/main.rs");
            let mut source = fs::read_to_string(&main).context("reading src/main.rs")?;
            source.push_str(&format!(
                "\n// cargo xtask docker --check-cache: a source-only change ({})\n",
                nonce()
            ));
            fs::write(&main, source)?;
        }
        Change::VersionBump => {
            version = format!("{}-check.{}", bump_patch(&project.version)?, nonce());
            let manifest = dir.path().join("Cargo.toml");
            let text = fs::read_to_string(&manifest)?;
            fs::write(&manifest, set_package_version(&text, &version)?)?;
            let lock = dir.path().join("Cargo.lock");
            let text = fs::read_to_string(&lock)?;
            fs::write(&lock, set_locked_version(&text, &project.name, &version)?)?;
        }
    }
    let tag = format!("{}:check-cache", project.name);
    let result = (|| {
        let log = builder.build(dir.path(), &tag)?;
        *compiled = compiled_crates(&log);
        let verdict = judge(change, compiled, &project.name, &project.members)?;
        if change != Change::Touch {
            // The rebuilt image must run the changed build, not a cached one.
            let printed = smoke::run_once(builder.engine, sh, &tag, &["--version"])
                .context("running the rebuilt image")?;
            let expected = format!("{} {version}", project.name);
            if printed.trim() != expected {
                bail!(
                    "the rebuilt image printed {:?}, expected {expected:?}",
                    printed.trim()
                );
            }
        }
        Ok(verdict)
    })();
    builder.remove_image(&tag);
    result
}

/// Unique per run: a change that was built before would come from the engine's cache and prove
/// nothing (and look like a stale binary).
fn nonce() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos())
}

/// Crate names from cargo's `Compiling <name> v<version>` lines in the engine's log.
pub fn compiled_crates(log: &[String]) -> Vec<String> {
    log.iter()
        .filter_map(|line| {
            let rest = line.split_once("Compiling ")?.1;
            let mut words = rest.split_whitespace();
            let (name, version) = (words.next()?, words.next()?);
            version.starts_with('v').then(|| name.to_owned())
        })
        .collect()
}

/// `package` is the binary's crate; `members` every crate of the workspace, which a change to
/// the sources may recompile (a library the binary uses, say). Registry crates never may.
pub fn judge(
    change: Change,
    compiled: &[String],
    package: &str,
    members: &[String],
) -> anyhow::Result<String> {
    let name = change.name();
    let dependencies: Vec<&str> = compiled
        .iter()
        .map(String::as_str)
        .filter(|crate_name| !members.iter().any(|member| member == crate_name))
        .collect();
    match change {
        Change::Touch if compiled.is_empty() => Ok("nothing compiled".to_owned()),
        Change::Touch => bail!(
            "touching files without changing them recompiled {}: the build is not cached by \
             content (does a COPY take a file that changes on every build?)",
            compiled.join(", ")
        ),
        _ if !dependencies.is_empty() => bail!(
            "a {name} recompiled {} dependencies ({}): the dependency layer was not reused; \
             keep the Dockerfile's recipe stage and copy sources only after the dependency build",
            dependencies.len(),
            dependencies.join(", ")
        ),
        _ if !compiled.iter().any(|crate_name| crate_name == package) => {
            bail!("a {name} did not recompile {package}: the image would ship a stale binary")
        }
        _ if compiled.len() == 1 => Ok(format!("1 crate compiled ({package})")),
        _ => Ok(format!(
            "{} workspace crates compiled ({})",
            compiled.len(),
            compiled.join(", ")
        )),
    }
}

fn bump_patch(version: &str) -> anyhow::Result<String> {
    let core = version.split(['-', '+']).next().unwrap_or(version);
    let parts: Vec<u64> = core
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("version {version:?} is not MAJOR.MINOR.PATCH"))?;
    let [major, minor, patch] = parts[..] else {
        bail!("version {version:?} is not MAJOR.MINOR.PATCH");
    };
    Ok(format!("{major}.{minor}.{}", patch + 1))
}

/// Sets `version` in the `[package]` table of a Cargo.toml.
fn set_package_version(manifest: &str, version: &str) -> anyhow::Result<String> {
    let mut section = "";
    let mut done = false;
    let lines: Vec<String> = manifest
        .lines()
        .map(|line| {
            if line.starts_with('[') {
                section = line.trim();
            } else if section == "[package]" && line.starts_with("version") && !done {
                done = true;
                return format!("version = \"{version}\"");
            }
            line.to_owned()
        })
        .collect();
    if !done {
        bail!("no version in the [package] table of Cargo.toml");
    }
    Ok(lines.join("\n") + "\n")
}

/// Sets the version of `package`'s own entry in a Cargo.lock.
fn set_locked_version(lock: &str, package: &str, version: &str) -> anyhow::Result<String> {
    let name_line = format!("name = \"{package}\"");
    let mut after_name = false;
    let mut done = false;
    let lines: Vec<String> = lock
        .lines()
        .map(|line| {
            let replaced = if after_name && line.starts_with("version = ") {
                done = true;
                format!("version = \"{version}\"")
            } else {
                line.to_owned()
            };
            after_name = line == name_line;
            replaced
        })
        .collect();
    if !done {
        bail!("no entry for {package} in Cargo.lock");
    }
    Ok(lines.join("\n") + "\n")
}

/// Copies the project, leaving out build output and version control.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let (source, destination) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            fs::create_dir_all(&destination)?;
            copy_tree(&source, &destination)?;
        } else {
            fs::copy(&source, &destination)
                .with_context(|| format!("copying {}", source.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_crates_come_from_buildkit_and_plain_logs() {
        let log: Vec<String> = [
            "#17 0.372    Compiling demo v0.1.0 (/build)",
            "#14 40.56    Compiling reqwest v0.12.28",
            "   Compiling tokio v1.54.1",
            "#17 21.81     Finished `release` profile [optimized] target(s) in 21.51s",
            "echo Compiling everything",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(compiled_crates(&log), ["demo", "reqwest", "tokio"]);
    }

    #[test]
    fn judges_every_change() {
        let crates =
            |names: &[&str]| -> Vec<String> { names.iter().map(|name| name.to_string()).collect() };
        let members = crates(&["demo", "core", "xtask"]);
        let judged = |change, compiled: &[&str]| judge(change, &crates(compiled), "demo", &members);
        assert_eq!(judged(Change::Touch, &[]).unwrap(), "nothing compiled");
        assert!(judged(Change::Touch, &["demo"]).is_err());
        assert_eq!(
            judged(Change::Source, &["demo"]).unwrap(),
            "1 crate compiled (demo)"
        );
        assert_eq!(
            judged(Change::Source, &["core", "demo"]).unwrap(),
            "2 workspace crates compiled (core, demo)"
        );
        let error = judged(Change::VersionBump, &["serde", "demo"])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("a version bump recompiled 1 dependencies (serde)"),
            "{error}"
        );
        let error = judged(Change::Source, &[]).unwrap_err().to_string();
        assert!(error.contains("stale binary"), "{error}");
        let error = judged(Change::Source, &["core"]).unwrap_err().to_string();
        assert!(error.contains("did not recompile demo"), "{error}");
    }

    #[test]
    fn bumps_the_version_in_manifest_and_lock() {
        assert_eq!(bump_patch("0.1.9").unwrap(), "0.1.10");
        assert_eq!(bump_patch("1.0.0-rc.1").unwrap(), "1.0.1");
        assert!(bump_patch("1.0").is_err());

        let manifest =
            "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n\n[dependencies]\nversion = \"1\"\n";
        let bumped = set_package_version(manifest, "0.1.1").unwrap();
        assert_eq!(bumped, manifest.replacen("0.1.0", "0.1.1", 1));

        let lock = "[[package]]\nname = \"demo\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"other\"\nversion = \"0.1.0\"\n";
        let bumped = set_locked_version(lock, "demo", "0.1.1").unwrap();
        assert_eq!(bumped, lock.replacen("0.1.0", "0.1.1", 1));
        assert!(set_locked_version(lock, "missing", "1.0.0").is_err());
    }
}
