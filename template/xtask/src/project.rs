//! What `cargo metadata` says about this project: its name, version, members and
//! `[workspace.metadata.docker]`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    /// The package whose binary the image ships.
    pub name: String,
    pub version: String,
    pub repository: Option<String>,
    /// The binary the image ships: `bin` in `[workspace.metadata.docker]`, else `name`.
    pub bin: String,
    /// The source file of that binary's `main`, relative to `root`.
    pub bin_source: PathBuf,
    /// Every package of the workspace: what a source change may recompile.
    pub members: Vec<Member>,
    /// `[workspace.metadata.docker]`: the final stage the Dockerfile was generated for, and
    /// the image's size budget ("8 MB").
    pub runtime: String,
    pub size_budget: String,
}

/// The final stages the Dockerfile can be generated for.
pub const RUNTIMES: [&str; 3] = ["scratch", "alpine", "distroless"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub version: String,
    pub manifest: PathBuf,
}

impl Project {
    pub fn member_names(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|member| member.name.clone())
            .collect()
    }
}

pub fn load(sh: &Shell) -> anyhow::Result<Project> {
    parse(&metadata_json(sh)?)
}

/// `cargo metadata --no-deps` of the workspace `sh` is in: no network, no build.
pub fn metadata_json(sh: &Shell) -> anyhow::Result<String> {
    let cargo = cargo();
    cmd!(sh, "{cargo} metadata --format-version 1 --no-deps")
        .quiet()
        .read()
        .context("running `cargo metadata`")
}

/// `cargo metadata` with the resolved dependency graph (it may download crate manifests).
pub fn resolved_metadata_json(sh: &Shell) -> anyhow::Result<String> {
    let cargo = cargo();
    cmd!(sh, "{cargo} metadata --format-version 1 --locked")
        .quiet()
        .ignore_stderr()
        .read()
        .context("running `cargo metadata`")
}

/// The cargo that runs this xtask, else the one on PATH.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

fn packages(metadata: &Value) -> impl Iterator<Item = &Value> {
    metadata["packages"].as_array().into_iter().flatten()
}

/// The `bin` targets of a package: (name, source file).
fn bins(package: &Value) -> impl Iterator<Item = (&str, &str)> {
    let targets = package["targets"].as_array().into_iter().flatten();
    targets
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.contains(&"bin".into()))
        })
        .map(|target| (text(target, "name"), text(target, "src_path")))
}

fn member(package: &Value) -> Member {
    Member {
        name: text(package, "name").to_owned(),
        version: text(package, "version").to_owned(),
        manifest: PathBuf::from(text(package, "manifest_path")),
    }
}

/// Every member's name, version and manifest, from `cargo metadata --no-deps` output.
pub fn members(json: &str) -> anyhow::Result<Vec<Member>> {
    let metadata: Value = serde_json::from_str(json).context("reading `cargo metadata`")?;
    Ok(packages(&metadata).map(member).collect())
}

fn parse(json: &str) -> anyhow::Result<Project> {
    let metadata: Value = serde_json::from_str(json).context("reading `cargo metadata`")?;
    let docker = &metadata["metadata"]["docker"];
    if !docker.is_object() {
        bail!(
            "Cargo.toml has no [workspace.metadata.docker] table: add one with \
             runtime = \"scratch\" and size-budget = \"8 MB\""
        );
    }
    let (Some(runtime), Some(size_budget)) =
        (docker["runtime"].as_str(), docker["size-budget"].as_str())
    else {
        bail!("[workspace.metadata.docker] in Cargo.toml needs runtime and size-budget (strings)");
    };
    if !RUNTIMES.contains(&runtime) {
        bail!(
            "[workspace.metadata.docker] runtime = {runtime:?} in Cargo.toml is not one of {}: \
             set the one the Dockerfile's final stage was generated for",
            RUNTIMES.join(", ")
        );
    }
    let root = PathBuf::from(text(&metadata, "workspace_root"));
    let root_manifest = root.join("Cargo.toml");
    let root_package = packages(&metadata)
        .find(|package| Path::new(text(package, "manifest_path")) == root_manifest);
    let bin = match (docker["bin"].as_str(), root_package) {
        (Some(bin), _) => bin.to_owned(),
        (None, Some(package)) => text(package, "name").to_owned(),
        (None, None) => bail!(
            "the workspace root has no package: say which binary the image ships with \
             bin = \"NAME\" in [workspace.metadata.docker]"
        ),
    };
    let found = packages(&metadata).find_map(|package| {
        let (_, source) = bins(package).find(|(name, _)| *name == bin)?;
        Some((package, source))
    });
    let Some((package, source)) = found else {
        let all: Vec<&str> = packages(&metadata)
            .flat_map(bins)
            .map(|(name, _)| name)
            .collect();
        bail!(
            "the image ships the binary {bin:?}, but the workspace has no such [[bin]] \
             (it has: {}); set bin = \"NAME\" in [workspace.metadata.docker] of Cargo.toml",
            all.join(", ")
        );
    };
    let bin_source = Path::new(source)
        .strip_prefix(&root)
        .unwrap_or(Path::new(source))
        .to_owned();
    Ok(Project {
        name: text(package, "name").to_owned(),
        version: text(package, "version").to_owned(),
        repository: package["repository"].as_str().map(str::to_owned),
        bin,
        bin_source,
        members: packages(&metadata).map(member).collect(),
        root,
        runtime: runtime.to_owned(),
        size_budget: size_budget.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn package(name: &str, manifest: &str, bins: &[(&str, &str)]) -> serde_json::Value {
        let mut targets = vec![serde_json::json!({
            "kind": ["lib"], "name": name, "src_path": manifest.replace("Cargo.toml", "src/lib.rs"),
        })];
        for (bin, path) in bins {
            targets.push(serde_json::json!({"kind": ["bin"], "name": bin, "src_path": path}));
        }
        serde_json::json!({
            "name": name, "version": "1.2.3", "manifest_path": manifest,
            "repository": (name == "demo").then_some("https://example.com/demo"),
            "targets": targets,
        })
    }

    fn metadata(docker: serde_json::Value) -> String {
        serde_json::json!({
            "workspace_root": "/p",
            "metadata": docker,
            "packages": [
                package("xtask", "/p/xtask/Cargo.toml", &[("xtask", "/p/xtask/src/main.rs")]),
                package("demo", "/p/Cargo.toml", &[
                    ("demo", "/p/src/main.rs"),
                    ("server", "/p/src/bin/server/main.rs"),
                ]),
                package("tool", "/p/crates/tool/Cargo.toml", &[("tool-cli", "/p/crates/tool/cli.rs")]),
            ],
        })
        .to_string()
    }

    fn docker(bin: Option<&str>) -> serde_json::Value {
        let mut table = serde_json::json!({"runtime": "scratch", "size-budget": "8 MB"});
        if let Some(bin) = bin {
            table["bin"] = bin.into();
        }
        serde_json::json!({ "docker": table })
    }

    #[test]
    fn finds_the_root_package_and_the_docker_table() {
        let project = parse(&metadata(docker(None))).unwrap();
        assert_eq!(
            (project.name.as_str(), project.version.as_str()),
            ("demo", "1.2.3")
        );
        assert_eq!(
            (project.bin.as_str(), project.bin_source.to_str()),
            ("demo", Some("src/main.rs"))
        );
        assert_eq!(project.size_budget, "8 MB");
        assert_eq!(project.runtime, "scratch");
        assert_eq!(project.member_names(), ["xtask", "demo", "tool"]);
        assert_eq!(
            project.repository.as_deref(),
            Some("https://example.com/demo")
        );
    }

    #[test]
    fn the_shipped_binary_is_found_by_name_in_any_member() {
        for (bin, package, source) in [
            ("server", "demo", "src/bin/server/main.rs"),
            ("tool-cli", "tool", "crates/tool/cli.rs"),
        ] {
            let project = parse(&metadata(docker(Some(bin)))).unwrap();
            assert_eq!(project.bin, bin);
            assert_eq!(project.name, package, "{bin}");
            assert_eq!(project.bin_source, Path::new(source), "{bin}");
        }
        let error = parse(&metadata(docker(Some("nope"))))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no such [[bin]] (it has: xtask, demo, server, tool-cli)"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_table_says_what_to_add() {
        let error = parse(&metadata(serde_json::Value::Null))
            .unwrap_err()
            .to_string();
        assert!(error.contains("add one with runtime"), "{error}");
        let empty = serde_json::json!({"docker": {}});
        let error = format!("{:#}", parse(&metadata(empty)).unwrap_err());
        assert!(error.contains("needs runtime and size-budget"), "{error}");
    }

    #[test]
    fn an_unknown_runtime_is_refused_with_the_allowed_ones() {
        let docker = serde_json::json!({"docker": {"runtime": "ubuntu", "size-budget": "8 MB"}});
        let error = parse(&metadata(docker)).unwrap_err().to_string();
        assert!(
            error.contains(
                r#"runtime = "ubuntu" in Cargo.toml is not one of scratch, alpine, distroless"#
            ),
            "{error}"
        );
    }
}
