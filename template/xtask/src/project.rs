//! What `cargo metadata` says about this project: its name, version and
//! `[workspace.metadata.docker]`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;
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
    pub docker: DockerMetadata,
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DockerMetadata {
    pub runtime: String,
    pub size_budget: String,
    /// The binary the image ships, when it is not the root package's own.
    #[serde(default)]
    pub bin: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    packages: Vec<Package>,
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    manifest_path: PathBuf,
    repository: Option<String>,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    kind: Vec<String>,
    name: String,
    src_path: PathBuf,
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

/// Every member's name, version and manifest, from `cargo metadata --no-deps` output.
pub fn members(json: &str) -> anyhow::Result<Vec<Member>> {
    let metadata: Metadata = serde_json::from_str(json).context("reading `cargo metadata`")?;
    Ok(metadata.packages.iter().map(Package::member).collect())
}

impl Package {
    fn member(&self) -> Member {
        Member {
            name: self.name.clone(),
            version: self.version.clone(),
            manifest: self.manifest_path.clone(),
        }
    }
}

fn parse(json: &str) -> anyhow::Result<Project> {
    let metadata: Metadata = serde_json::from_str(json).context("reading `cargo metadata`")?;
    let Some(docker) = metadata
        .metadata
        .and_then(|table| table.get("docker").cloned())
    else {
        bail!(
            "Cargo.toml has no [workspace.metadata.docker] table: add one with \
             runtime = \"scratch\" and size-budget = \"8 MB\""
        );
    };
    let docker: DockerMetadata = serde_json::from_value(docker)
        .context("[workspace.metadata.docker] in Cargo.toml needs runtime and size-budget")?;
    if !RUNTIMES.contains(&docker.runtime.as_str()) {
        bail!(
            "[workspace.metadata.docker] runtime = {:?} in Cargo.toml is not one of {}: set the \
             one the Dockerfile's final stage was generated for",
            docker.runtime,
            RUNTIMES.join(", ")
        );
    }
    let root_manifest = metadata.workspace_root.join("Cargo.toml");
    let root_package = metadata
        .packages
        .iter()
        .find(|package| package.manifest_path == root_manifest);
    let bin = match (&docker.bin, root_package) {
        (Some(bin), _) => bin.clone(),
        (None, Some(package)) => package.name.clone(),
        (None, None) => bail!(
            "the workspace root has no package: say which binary the image ships with \
             bin = \"NAME\" in [workspace.metadata.docker]"
        ),
    };
    let is_bin = |target: &&Target| target.name == bin && target.kind.iter().any(|k| k == "bin");
    let Some((package, target)) = metadata.packages.iter().find_map(|package| {
        let target = package.targets.iter().find(is_bin)?;
        Some((package, target))
    }) else {
        let bins: Vec<&str> = metadata
            .packages
            .iter()
            .flat_map(|package| &package.targets)
            .filter(|target| target.kind.iter().any(|k| k == "bin"))
            .map(|target| target.name.as_str())
            .collect();
        bail!(
            "the image ships the binary {bin:?}, but the workspace has no such [[bin]] \
             (it has: {}); set bin = \"NAME\" in [workspace.metadata.docker] of Cargo.toml",
            bins.join(", ")
        );
    };
    let bin_source = target
        .src_path
        .strip_prefix(&metadata.workspace_root)
        .unwrap_or(&target.src_path)
        .to_owned();
    Ok(Project {
        name: package.name.clone(),
        version: package.version.clone(),
        repository: package.repository.clone(),
        bin,
        bin_source,
        members: metadata.packages.iter().map(Package::member).collect(),
        root: metadata.workspace_root,
        docker,
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
        assert_eq!(project.docker.size_budget, "8 MB");
        assert_eq!(project.docker.runtime, "scratch");
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
