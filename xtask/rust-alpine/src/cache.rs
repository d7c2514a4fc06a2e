//! `--check-cache`: proves, on a copy of the build context, that the image's layer cache does
//! its job. The user's tree is never touched.

use std::{fs, path::Path};

use anyhow::Context;
use xshell::Shell;

use crate::{
    buildlog,
    edit::{bump_patch, copy_tree, relock, set_version},
    engine::Builder,
    project::{self, Project},
    report::Check,
    smoke,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Every file copied (new mtimes), no content changed: nothing may compile.
    Touch,
    /// A comment appended to the shipped binary's main source file: only workspace crates
    /// may compile.
    Source,
    /// A comment and a blank line put at the top of the shipped package's manifest: what cargo
    /// reads is the same, so only workspace crates may compile (the planner's skeleton is
    /// written from what cargo reads, not from how the file is written).
    ManifestComment,
    /// The shipped package's version bumped in its manifest (or `[workspace.package]` when it
    /// inherits it) and in Cargo.lock: only workspace crates may compile.
    VersionBump,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Touch => "touch",
            Change::Source => "source",
            Change::ManifestComment => "comment edit",
            Change::VersionBump => "version bump",
        }
    }
}

pub fn check(builder: &Builder, sh: &Shell, project: &Project, changes: &[Change]) -> Vec<Check> {
    changes
        .iter()
        .map(|&change| {
            let mut compiled = Vec::new();
            let mut check = Check::timed(change.name(), || {
                rebuild(builder, sh, project, change, &mut compiled)
            });
            check.compiled = Some(compiled);
            check
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
    // A path of its own for every copy: BuildKit keeps one synced copy of a build context per
    // client path and updates it in place, and a path an earlier build used (xshell numbers
    // its temporary directories from 0 in every process) made identical content miss the
    // layer cache.
    let temp = sh.create_temp_dir()?;
    let dir = temp.path().join(format!("context-{}", nonce()));
    copy_tree(&project.root, &dir).context("copying the build context")?;
    let package = project.package();
    let mut version = package.version.clone();
    match change {
        Change::Touch => {}
        Change::Source => {
            let main = dir.join(&project.bin_source);
            let mut source = fs::read_to_string(&main)
                .with_context(|| format!("reading {}", project.bin_source.display()))?;
            source.push_str(&format!(
                "\n// cargo xtask docker --check-cache: a source-only change ({})\n",
                nonce()
            ));
            fs::write(&main, source)?;
        }
        Change::ManifestComment => {
            let manifest = dir.join(project.relative(&package.manifest));
            let text = fs::read_to_string(&manifest)?;
            fs::write(
                &manifest,
                format!(
                    "# cargo xtask docker --check-cache: a comment-only edit ({})\n\n{text}",
                    nonce()
                ),
            )?;
        }
        Change::VersionBump => {
            // Build metadata, not a pre-release: `^0.3` of a path dependency still matches.
            version = format!("{}+check.{}", bump_patch(&package.version)?, nonce());
            bump_version(sh, project, &dir, &version)?;
        }
    }
    let tag = format!("{}:check-cache", package.name);
    let result = (|| {
        let log = builder.build(&dir, &tag)?;
        *compiled = buildlog::compiled_crates(log.iter().map(String::as_str));
        let members = project.local_names();
        let verdict = judge(change, compiled, &package.name, &members).map_err(|message| {
            let dependencies = compiled.iter().any(|name| !members.contains(name));
            match change != Change::Touch && dependencies && !cache_emptied(compiled) {
                true => anyhow::anyhow!("{message}{ADVICE}"),
                false => anyhow::anyhow!(message),
            }
        })?;
        if change != Change::Touch {
            // The rebuilt image must run the changed build, not a cached one.
            let printed = builder
                .engine
                .run_once(&[], &tag, &["--version"])
                .context("running the rebuilt image")?;
            smoke::check_version(&printed, &version).context("the rebuilt image")?;
        }
        Ok(verdict)
    })();
    builder.engine.remove_image(&tag);
    result
}

/// Bumps the shipped package's version in the copy at `dir`: in its own `[package]` table, or
/// in `[workspace.package]` when it inherits the version (then every member that inherits it
/// moves too). Cargo.lock follows for every member whose version changed, as cargo would write it.
fn bump_version(sh: &Shell, project: &Project, dir: &Path, version: &str) -> anyhow::Result<()> {
    let manifest = dir.join(project.relative(&project.package().manifest));
    let text = fs::read_to_string(&manifest)?;
    match set_version(&text, &["package"], version)? {
        Some(bumped) => fs::write(&manifest, bumped)?,
        None => {
            let root = dir.join("Cargo.toml");
            let text = fs::read_to_string(&root)?;
            let bumped = set_version(&text, &["workspace", "package"], version)?.context(
                "the package inherits its version, but [workspace.package] has none to bump",
            )?;
            fs::write(&root, bumped)?;
        }
    }
    let _in_copy = sh.push_dir(dir);
    let bumped = project::parse(&project::metadata_json(sh)?)?;
    let lock = dir.join("Cargo.lock");
    let (text, _) = relock(&fs::read_to_string(&lock)?, |name, old| {
        let member = project
            .members
            .iter()
            .find(|m| m.name == name && m.version == old)?;
        let after = bumped
            .members
            .iter()
            .find(|after| after.name == member.name)?;
        (after.version != old).then(|| after.version.clone())
    })?;
    fs::write(&lock, text)?;
    Ok(())
}

/// Unique per run: a change that was built before would come from the engine's cache and prove
/// nothing (and look like a stale binary).
fn nonce() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos())
}

/// cargo-auditable is installed in the Dockerfile's `tools` stage, which no file of the project
/// changes: when it compiles again, the engine lost its cache during the check, whatever the
/// project does (another process's `docker builder prune` on a shared engine, say).
fn cache_emptied(compiled: &[String]) -> bool {
    compiled
        .iter()
        .any(|crate_name| crate_name == "cargo-auditable")
}

/// `package` is the binary's crate; `members` every path package (the workspace's, `[patch]`
/// and excluded ones), which a change to the sources may recompile (a library the binary
/// uses, say). Registry crates never may.
pub fn judge(
    change: Change,
    compiled: &[String],
    package: &str,
    members: &[String],
) -> Result<String, String> {
    let name = change.name();
    let dependencies: Vec<&str> = compiled
        .iter()
        .map(String::as_str)
        .filter(|crate_name| !members.iter().any(|member| member == crate_name))
        .collect();
    if cache_emptied(compiled) {
        return Err(format!(
            "the {name} rebuild found the engine's build cache empty (even cargo-auditable, \
             which no file of the project changes, compiled again): something emptied it \
             during the check (`docker builder prune`, the engine's cache size limit); run the \
             check again"
        ));
    }
    match change {
        Change::Touch if compiled.is_empty() => Ok("nothing compiled".to_owned()),
        Change::Touch => Err(format!(
            "touching files without changing them recompiled {}: the build is not cached by \
             content (does a COPY take a file that changes on every build?)",
            compiled.join(", ")
        )),
        _ if !dependencies.is_empty() => Err(format!(
            "a {name} recompiled {} dependencies ({}): the dependency layer was not reused",
            dependencies.len(),
            dependencies.join(", ")
        )),
        _ if !compiled.iter().any(|crate_name| crate_name == package) => Err(format!(
            "a {name} did not recompile {package}: the image would ship a stale binary"
        )),
        _ if compiled.len() == 1 => Ok(format!("1 crate compiled ({package})")),
        _ => Ok(format!(
            "{} workspace crates compiled ({})",
            compiled.len(),
            compiled.join(", ")
        )),
    }
}

/// What to do when registry crates compiled after a change to the sources or the version.
pub const ADVICE: &str = "; something the dependency build reads changed with the sources: keep \
    the Dockerfile's recipe stage (`cargo xtask plan`) in front of the dependency build, copy the \
    sources only after it, and build the same --bin with the same --profile, --target and \
    features in both (`cargo xtask plan . /tmp/plan` shows what the dependency build reads)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_every_change() {
        let crates =
            |names: &[&str]| -> Vec<String> { names.iter().map(|name| name.to_string()).collect() };
        let members = crates(&["demo", "core", "xtask"]);
        let judged = |change, compiled: &[&str]| judge(change, &crates(compiled), "demo", &members);
        let message = |verdict: Result<String, String>| verdict.unwrap_err();
        assert_eq!(judged(Change::Touch, &[]).unwrap(), "nothing compiled");
        assert!(message(judged(Change::Touch, &["demo"])).contains("not cached by content"));
        assert_eq!(
            judged(Change::Source, &["demo"]).unwrap(),
            "1 crate compiled (demo)"
        );
        assert_eq!(
            judged(Change::Source, &["core", "demo"]).unwrap(),
            "2 workspace crates compiled (core, demo)"
        );
        let error = message(judged(Change::VersionBump, &["serde", "demo"]));
        assert!(
            error.starts_with("a version bump recompiled 1 dependencies (serde)"),
            "{error}"
        );
        let error = message(judged(
            Change::Source,
            &["cargo-auditable", "serde", "demo"],
        ));
        assert!(error.contains("build cache empty"), "{error}");
        let error = message(judged(Change::Source, &[]));
        assert!(error.contains("stale binary"), "{error}");
        let error = message(judged(Change::Source, &["core"]));
        assert!(error.contains("did not recompile demo"), "{error}");
    }
}
