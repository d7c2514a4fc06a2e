//! What `cargo metadata` says about this project: its name, version and
//! `[workspace.metadata.docker]`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;
use xshell::{Shell, cmd};

#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub name: String,
    pub version: String,
    pub repository: Option<String>,
    /// Every package of the workspace: what a source change may recompile.
    pub members: Vec<String>,
    pub docker: DockerMetadata,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DockerMetadata {
    pub runtime: String,
    pub size_budget: String,
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
}

pub fn load(sh: &Shell) -> anyhow::Result<Project> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let json = cmd!(sh, "{cargo} metadata --format-version 1 --no-deps")
        .quiet()
        .read()
        .context("running `cargo metadata`")?;
    parse(&json)
}

fn parse(json: &str) -> anyhow::Result<Project> {
    let metadata: Metadata = serde_json::from_str(json).context("reading `cargo metadata`")?;
    let root_manifest = metadata.workspace_root.join("Cargo.toml");
    let members = metadata
        .packages
        .iter()
        .map(|package| package.name.clone())
        .collect();
    let Some(package) = metadata
        .packages
        .into_iter()
        .find(|package| package.manifest_path == root_manifest)
    else {
        bail!(
            "no package at the workspace root {}",
            root_manifest.display()
        );
    };
    let Some(docker) = metadata
        .metadata
        .and_then(|table| table.get("docker").cloned())
    else {
        bail!(
            "Cargo.toml has no [workspace.metadata.docker] table: add one with \
             runtime = \"scratch\" and size-budget = \"8 MB\""
        );
    };
    let docker = serde_json::from_value(docker)
        .context("[workspace.metadata.docker] in Cargo.toml needs runtime and size-budget")?;
    Ok(Project {
        root: metadata.workspace_root,
        name: package.name,
        version: package.version,
        repository: package.repository,
        members,
        docker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(docker: serde_json::Value) -> String {
        let package = |name: &str, version: &str, manifest: &str, repository: Option<&str>| {
            serde_json::json!({
                "name": name, "version": version, "manifest_path": manifest,
                "repository": repository,
            })
        };
        serde_json::json!({
            "workspace_root": "/p",
            "metadata": docker,
            "packages": [
                package("xtask", "0.0.0", "/p/xtask/Cargo.toml", None),
                package("demo", "1.2.3", "/p/Cargo.toml", Some("https://example.com/demo")),
            ],
        })
        .to_string()
    }

    #[test]
    fn finds_the_root_package_and_the_docker_table() {
        let docker = serde_json::json!({"docker": {"runtime": "scratch", "size-budget": "8 MB"}});
        let project = parse(&metadata(docker)).unwrap();
        assert_eq!(
            (project.name.as_str(), project.version.as_str()),
            ("demo", "1.2.3")
        );
        assert_eq!(project.docker.size_budget, "8 MB");
        assert_eq!(project.docker.runtime, "scratch");
        assert_eq!(project.members, ["xtask", "demo"]);
        assert_eq!(
            project.repository.as_deref(),
            Some("https://example.com/demo")
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
}
