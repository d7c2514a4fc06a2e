//! The project as cargo reads it: `cargo metadata --no-deps` (members, targets, path
//! dependencies, the metadata tables, whatever the manifests' syntax) and the docker settings,
//! validated. `cargo xtask docker` and the Dockerfile's planner (`cargo xtask plan`) read the
//! project through this module alone.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::edit;

/// Where an image's time zone database is (`zoneinfo = true`), where glibc, musl, chrono-tz
/// and jiff look for it.
pub const ZONEINFO: &str = "usr/share/zoneinfo";

/// The final stages the Dockerfile can be generated for.
pub const RUNTIMES: [&str; 3] = ["scratch", "alpine", "distroless"];

/// Every key of the docker settings, and what it takes. All are optional (an existing project
/// adopted with `cargo generate --init` has none): see [`Settings`] for the defaults.
const SETTINGS: [(&str, &str); 12] = [
    (
        "runtime",
        "the final stage the Dockerfile was generated for: scratch, alpine or distroless",
    ),
    (
        "size-budget",
        "the image's size limit, a string such as \"8 MB\"",
    ),
    (
        "bin",
        "the binary the image ships, a string naming a [[bin]] of any member",
    ),
    (
        "self-check",
        "true when the binary answers `self-check` with its libc, allocator and CA roots",
    ),
    (
        "port",
        "the TCP port the service listens on, a number from 1 to 65535",
    ),
    (
        "health",
        "the path the service answers 200 on, a string starting with /",
    ),
    (
        "bins",
        "the binaries the image ships, a list of [[bin]] names of any member (the first, or \
         `bin`, is the entrypoint)",
    ),
    (
        "features",
        "the features the image is built with, a list of names (`member/name` for another \
         member's)",
    ),
    (
        "default-features",
        "false to build the image without the default features",
    ),
    ("all-features", "true to build the image with every feature"),
    (
        "include",
        "files and directories of the project the image ships, a list of relative paths",
    ),
    (
        "zoneinfo",
        "true to ship the time zone database (/usr/share/zoneinfo)",
    ),
];

#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    /// Every package of the workspace, in `cargo metadata` order.
    pub members: Vec<Package>,
    /// The package whose binary the image ships (an index into `members`).
    shipped: usize,
    /// The binary the image runs (its entrypoint).
    pub bin: String,
    /// Every binary the image ships, the entrypoint's first: (index into `members`, name).
    pub bins: Vec<(usize, String)>,
    /// The settings' feature selection, as written (`selection` checks and applies it).
    pub features: Vec<String>,
    pub default_features: bool,
    pub all_features: bool,
    /// Files and directories of the project the image ships, relative to `root`.
    pub include: Vec<String>,
    /// Whether the image ships the time zone database.
    pub zoneinfo: bool,
    /// The source file of that binary's `main`, relative to `root`.
    pub bin_source: PathBuf,
    /// `None`: not set; `cargo xtask docker` reads the Dockerfile's final stage.
    pub runtime: Option<String>,
    /// `None`: not set; the budget is the binary without debug info plus the runtime's files.
    pub size_budget: Option<String>,
    /// Whether the binary implements `self-check` (the template's apps do).
    pub self_check: bool,
    /// The service to check without a HEALTHCHECK in the image: its port and health path.
    pub service: Option<(u16, String)>,
    /// Where the settings are: `[workspace.metadata.docker]` or `[package.metadata.docker]`.
    pub settings_table: &'static str,
    /// Every path package in Cargo.lock (members, `[patch]` and excluded path crates): the
    /// image's final build compiles them all.
    pub path_packages: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub manifest: PathBuf,
    pub repository: Option<String>,
    pub targets: Vec<Target>,
    /// The directories of its path dependencies, of every kind and platform.
    pub path_dependencies: Vec<PathBuf>,
    /// Its features (`[features]` and the implicit ones of optional dependencies).
    pub features: Vec<String>,
    /// The names it gives its dependencies (renamed ones by their new name).
    pub dependencies: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub kinds: Vec<String>,
    pub src_path: PathBuf,
    /// `required-features` of a `[[bin]]`: the image build enables them.
    pub required_features: Vec<String>,
}

impl Target {
    fn is_bin(&self) -> bool {
        self.kinds.iter().any(|kind| kind == "bin")
    }
}

impl Package {
    pub fn bins(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|target| target.is_bin())
    }
}

impl Project {
    /// The package whose binary the image ships.
    pub fn package(&self) -> &Package {
        &self.members[self.shipped]
    }

    pub fn member_names(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|member| member.name.clone())
            .collect()
    }

    /// The members and every other path package: what a source change may recompile.
    pub fn local_names(&self) -> Vec<String> {
        let mut names = self.member_names();
        names.extend(self.path_packages.iter().cloned());
        names.sort();
        names.dedup();
        names
    }

    /// `path` relative to the workspace root.
    pub fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}

/// The project of the workspace `sh` is in.
pub fn load(sh: &Shell) -> anyhow::Result<Project> {
    let mut project = parse(&metadata_json(sh)?)?;
    check_include(&project.root, &project.include, project.settings_table)?;
    if let Ok(lock) = std::fs::read_to_string(project.root.join("Cargo.lock")) {
        let local = edit::path_packages(&lock)?.into_iter();
        project.path_packages = local.map(|(name, _)| name).collect();
    }
    Ok(project)
}

/// `cargo metadata --no-deps` of the workspace `sh` is in: no network, no build.
pub fn metadata_json(sh: &Shell) -> anyhow::Result<String> {
    let cargo = cargo();
    cmd!(sh, "{cargo} metadata --format-version 1 --no-deps")
        .quiet()
        .read()
        .context("running `cargo metadata` (is this a Cargo project? run it to see cargo's error)")
}

/// The cargo that runs this xtask, else the one on PATH.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("")
}

fn list(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

fn package(json: &Value) -> Package {
    Package {
        name: text(json, "name").to_owned(),
        version: text(json, "version").to_owned(),
        manifest: PathBuf::from(text(json, "manifest_path")),
        repository: json["repository"].as_str().map(str::to_owned),
        targets: list(&json["targets"])
            .map(|target| Target {
                name: text(target, "name").to_owned(),
                kinds: list(&target["kind"])
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                src_path: PathBuf::from(text(target, "src_path")),
                required_features: list(&target["required-features"])
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            })
            .collect(),
        path_dependencies: list(&json["dependencies"])
            .filter_map(|dependency| dependency["path"].as_str().map(PathBuf::from))
            .collect(),
        features: json["features"]
            .as_object()
            .map(|features| features.keys().cloned().collect())
            .unwrap_or_default(),
        dependencies: list(&json["dependencies"])
            .map(|dependency| {
                dependency["rename"]
                    .as_str()
                    .unwrap_or_else(|| text(dependency, "name"))
                    .replace('-', "_")
            })
            .collect(),
    }
}

/// The project, from `cargo metadata --no-deps` output.
pub fn parse(json: &str) -> anyhow::Result<Project> {
    let metadata: Value = serde_json::from_str(json).context("reading `cargo metadata`")?;
    let root = PathBuf::from(text(&metadata, "workspace_root"));
    let members: Vec<Package> = list(&metadata["packages"]).map(package).collect();
    let root_manifest = root.join("Cargo.toml");
    let root_json = list(&metadata["packages"])
        .find(|json| Path::new(text(json, "manifest_path")) == root_manifest);
    let root_package = members
        .iter()
        .position(|member| member.manifest == root_manifest);

    let workspace_settings = &metadata["metadata"]["docker"];
    let package_settings = root_json.map_or(&Value::Null, |json| &json["metadata"]["docker"]);
    let (settings, settings_table) =
        match (workspace_settings.is_null(), package_settings.is_null()) {
            (false, false) => bail!(
                "Cargo.toml has both [workspace.metadata.docker] and [package.metadata.docker]: \
             keep one of them"
            ),
            (true, false) => (package_settings, "[package.metadata.docker]"),
            _ => (workspace_settings, "[workspace.metadata.docker]"),
        };
    let settings = Settings::parse(settings, settings_table)?;

    let listed = settings
        .bins
        .iter()
        .map(|name| find_bin(&members, name, "bins", settings_table))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (shipped, bin) = match (settings.bin.as_deref(), listed.first()) {
        (None, Some(first)) => first.clone(),
        (named, _) => choose_bin(&members, root_package, named, settings_table)?,
    };
    let mut bins = vec![(shipped, bin.clone())];
    for listed in listed {
        if !bins.contains(&listed) {
            bins.push(listed);
        }
    }
    let source = &members[shipped]
        .bins()
        .find(|target| target.name == bin)
        .expect("chosen among the bins")
        .src_path;
    let bin_source = source.strip_prefix(&root).unwrap_or(source).to_owned();
    Ok(Project {
        root,
        features: settings.features,
        default_features: settings.default_features,
        all_features: settings.all_features,
        members,
        shipped,
        bin,
        bins,
        bin_source,
        include: settings.include,
        zoneinfo: settings.zoneinfo,
        runtime: settings.runtime,
        size_budget: settings.size_budget,
        self_check: settings.self_check,
        service: settings.service,
        settings_table,
        path_packages: Vec::new(),
    })
}

/// The docker settings, validated: every key known, every value of the right type. Without a
/// table (a project adopted in place) every key takes its default.
struct Settings {
    runtime: Option<String>,
    size_budget: Option<String>,
    bin: Option<String>,
    self_check: bool,
    service: Option<(u16, String)>,
    bins: Vec<String>,
    features: Vec<String>,
    default_features: bool,
    all_features: bool,
    include: Vec<String>,
    zoneinfo: bool,
}

impl Settings {
    fn parse(table: &Value, name: &str) -> anyhow::Result<Settings> {
        let keys = SETTINGS.map(|(key, _)| key).join(", ");
        let empty = serde_json::Map::new();
        let table = match table {
            Value::Null => &empty,
            Value::Object(table) => table,
            other => bail!("{name} in Cargo.toml must be a table, not {other}"),
        };
        for (key, value) in table {
            let Some((_, takes)) = SETTINGS.iter().find(|(known, _)| known == key) else {
                bail!("{name} in Cargo.toml has an unknown key `{key}`: the keys are {keys}");
            };
            let valid = match key.as_str() {
                "self-check" | "default-features" | "all-features" | "zoneinfo" => {
                    value.is_boolean()
                }
                "bins" | "features" | "include" => value
                    .as_array()
                    .is_some_and(|items| items.iter().all(Value::is_string)),
                "port" => value
                    .as_u64()
                    .is_some_and(|port| (1..=65535).contains(&port)),
                "health" => value.as_str().is_some_and(|path| path.starts_with('/')),
                _ => value.is_string(),
            };
            if !valid {
                bail!("{key} = {value} in {name} of Cargo.toml must be {takes}");
            }
        }
        let string = |key: &str| table.get(key).and_then(Value::as_str).map(str::to_owned);
        let strings = |key: &str| -> Vec<String> {
            list(table.get(key).unwrap_or(&Value::Null))
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        let runtime = string("runtime");
        if let Some(runtime) = runtime
            .as_deref()
            .filter(|runtime| !RUNTIMES.contains(runtime))
        {
            bail!(
                "runtime = {runtime:?} in {name} of Cargo.toml is not one of {}: set the one the \
                 Dockerfile's final stage was generated for",
                RUNTIMES.join(", ")
            );
        }
        let port = table.get("port").and_then(Value::as_u64);
        let service = match (port, string("health")) {
            (Some(port), Some(health)) => Some((port as u16, health)),
            (None, None) => None,
            _ => bail!(
                "{name} in Cargo.toml has one of port and health: a service check needs both \
                 (port = 8080, health = \"/health\")"
            ),
        };
        Ok(Settings {
            runtime,
            size_budget: string("size-budget"),
            bin: string("bin"),
            self_check: table.get("self-check") == Some(&Value::Bool(true)),
            service,
            bins: strings("bins"),
            features: strings("features"),
            default_features: table.get("default-features") != Some(&Value::Bool(false)),
            all_features: table.get("all-features") == Some(&Value::Bool(true)),
            include: strings("include"),
            zoneinfo: table.get("zoneinfo") == Some(&Value::Bool(true)),
        })
    }
}

/// The runtime a Dockerfile's final stage was generated for, read from its last `FROM` (and
/// the `ARG` default it names), for projects whose settings leave `runtime` out.
pub fn runtime_of_dockerfile(dockerfile: &str) -> Option<&'static str> {
    let last = dockerfile
        .lines()
        .map(str::trim)
        .rfind(|line| line.starts_with("FROM "))?;
    let image = last
        .split_whitespace()
        .skip(1)
        .find(|word| !word.starts_with("--"))?;
    let image = match image
        .strip_prefix("${")
        .and_then(|arg| arg.strip_suffix('}'))
    {
        Some(arg) => dockerfile.lines().find_map(|line| {
            line.trim()
                .strip_prefix("ARG ")?
                .strip_prefix(arg)?
                .strip_prefix('=')
        })?,
        None => image,
    };
    match image {
        "scratch" => Some("scratch"),
        image if image.contains("distroless") => Some("distroless"),
        image if image.contains("alpine") => Some("alpine"),
        _ => None,
    }
}

/// The package and name of the binary `name`, of any member; `key` is the setting naming it.
fn find_bin(
    members: &[Package],
    name: &str,
    key: &str,
    table: &str,
) -> anyhow::Result<(usize, String)> {
    let mut found = members
        .iter()
        .enumerate()
        .filter(|(_, member)| member.bins().any(|bin| bin.name == name))
        .map(|(index, _)| (index, name.to_owned()));
    match (found.next(), found.next()) {
        (Some(only), None) => Ok(only),
        (Some(_), Some(_)) => bail!(
            "{key} in {table} of Cargo.toml names {name:?}, a binary of several members: \
             rename one of them ([[bin]] name = ...)"
        ),
        (None, _) => {
            let all: Vec<&str> = members
                .iter()
                .flat_map(|member| member.bins().map(|bin| bin.name.as_str()))
                .collect();
            bail!(
                "{key} in {table} of Cargo.toml names {name:?}, no binary of the workspace (it \
                 has: {}): list only those",
                all.join(", ")
            )
        }
    }
}

/// Refuses an `include` path that is absolute, leaves the project or does not exist.
pub fn check_include(root: &Path, include: &[String], table: &str) -> anyhow::Result<()> {
    for path in include {
        let relative = Path::new(path);
        let escapes = relative.is_absolute()
            || relative.components().any(|part| {
                !matches!(part, std::path::Component::Normal(_))
                    && part != std::path::Component::CurDir
            });
        if escapes || path.is_empty() {
            bail!(
                "include = [.., {path:?}, ..] in {table} of Cargo.toml must be a path inside the \
                 project, relative to its root (such as \"migrations\" or \"config/app.toml\")"
            );
        }
        if !root.join(relative).exists() {
            bail!(
                "include = [.., {path:?}, ..] in {table} of Cargo.toml: there is no {} in the \
                 build context: create it, or remove it from the list (a file the \
                 .dockerignore leaves out cannot be shipped either)",
                root.join(relative).display()
            );
        }
    }
    Ok(())
}

/// The binary to ship: the one named in the settings (in any member), else the root package's
/// only binary or the one named like it, else the workspace's only binary.
fn choose_bin(
    members: &[Package],
    root_package: Option<usize>,
    named: Option<&str>,
    table: &str,
) -> anyhow::Result<(usize, String)> {
    let all: Vec<(usize, &str)> = members
        .iter()
        .enumerate()
        .flat_map(|(index, member)| member.bins().map(move |bin| (index, bin.name.as_str())))
        .collect();
    let names = || {
        all.iter()
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found = match named {
        Some(bin) => all
            .iter()
            .find(|(_, name)| *name == bin)
            .copied()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "bin = {bin:?} in {table} of Cargo.toml names no binary of the workspace (it \
                 has: {}): set it to one of them",
                    names()
                )
            })?,
        None => {
            // The root package's binary named like it, else its only one, else the
            // workspace's only one.
            let own: Vec<(usize, &str)> = all
                .iter()
                .copied()
                .filter(|(index, _)| Some(*index) == root_package)
                .collect();
            let same = own
                .iter()
                .copied()
                .find(|(index, name)| *name == members[*index].name);
            let candidates = match (same, own.is_empty()) {
                (Some(same), _) => vec![same],
                (None, false) => own,
                (None, true) => all.clone(),
            };
            match candidates[..] {
                [only] => only,
                [] if all.is_empty() => {
                    bail!("the workspace has no binary to ship: add a [[bin]] target")
                }
                _ => bail!(
                    "which binary does the image ship? The workspace has {}: set bin = \"NAME\" in \
                     {table} of Cargo.toml",
                    names()
                ),
            }
        }
    };
    Ok((found.0, found.1.to_owned()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn package(name: &str, manifest: &str, bins: &[(&str, &str)]) -> serde_json::Value {
        let mut targets = vec![serde_json::json!({
            "kind": ["lib"], "name": name, "src_path": manifest.replace("Cargo.toml", "src/lib.rs"),
        })];
        for (bin, path) in bins {
            let required: &[&str] = match *bin {
                "server" => &["net"],
                _ => &[],
            };
            targets.push(serde_json::json!({
                "kind": ["bin"], "name": bin, "src_path": path, "required-features": required,
            }));
        }
        serde_json::json!({
            "name": name, "version": "1.2.3", "manifest_path": manifest,
            "repository": (name == "demo").then_some("https://example.com/demo"),
            "targets": targets,
            "features": match name {
                "demo" => serde_json::json!({"default": ["net"], "net": [], "metrics": []}),
                _ => serde_json::json!({"fast": []}),
            },
            "dependencies": [
                {"name": "tool", "path": "/p/crates/tool"}, {"name": "anyhow"},
                {"name": "serde-json", "rename": "json"},
            ],
        })
    }

    pub(crate) fn metadata(docker: serde_json::Value) -> String {
        serde_json::json!({
            "workspace_root": "/p",
            "metadata": docker,
            "packages": [
                package("demo", "/p/Cargo.toml", &[
                    ("demo", "/p/src/main.rs"),
                    ("server", "/p/src/bin/server/main.rs"),
                ]),
                package("tool", "/p/crates/tool/Cargo.toml", &[("tool-cli", "/p/crates/tool/cli.rs")]),
            ],
        })
        .to_string()
    }

    fn docker(bin: serde_json::Value) -> serde_json::Value {
        let mut table = serde_json::json!({"runtime": "scratch", "size-budget": "8 MB"});
        if !bin.is_null() {
            table["bin"] = bin;
        }
        serde_json::json!({ "docker": table })
    }

    fn error(json: &str) -> String {
        format!("{:#}", parse(json).unwrap_err())
    }

    #[test]
    fn finds_the_root_package_and_the_docker_table() {
        let project = parse(&metadata(docker(serde_json::Value::Null))).unwrap();
        let package = project.package();
        assert_eq!(
            (package.name.as_str(), package.version.as_str()),
            ("demo", "1.2.3")
        );
        assert_eq!(
            (project.bin.as_str(), project.bin_source.to_str()),
            ("demo", Some("src/main.rs"))
        );
        assert_eq!(
            (project.runtime.as_deref(), project.size_budget.as_deref()),
            (Some("scratch"), Some("8 MB"))
        );
        assert!(!project.self_check);
        assert_eq!(project.service, None);
        assert_eq!(project.member_names(), ["demo", "tool"]);
        assert_eq!(
            package.repository.as_deref(),
            Some("https://example.com/demo")
        );
        assert_eq!(package.path_dependencies, [PathBuf::from("/p/crates/tool")]);
    }

    #[test]
    fn the_shipped_binary_is_found_by_name_in_any_member() {
        for (bin, package, source) in [
            ("server", "demo", "src/bin/server/main.rs"),
            ("tool-cli", "tool", "crates/tool/cli.rs"),
        ] {
            let project = parse(&metadata(docker(bin.into()))).unwrap();
            assert_eq!(project.bin, bin);
            assert_eq!(project.package().name, package, "{bin}");
            assert_eq!(project.bin_source, Path::new(source), "{bin}");
        }
        let message = error(&metadata(docker("nope".into())));
        assert!(
            message.contains("names no binary of the workspace (it has: demo, server, tool-cli)"),
            "{message}"
        );
    }

    #[test]
    fn settings_are_validated_strictly() {
        for (settings, message) in [
            (
                serde_json::json!({"docker": "scratch"}),
                "[workspace.metadata.docker] in Cargo.toml must be a table",
            ),
            (
                serde_json::json!({"docker": {"self-check": "yes"}}),
                "self-check = \"yes\" in [workspace.metadata.docker] of Cargo.toml must be true when",
            ),
            (
                serde_json::json!({"docker": {"port": 70000, "health": "/health"}}),
                "port = 70000 in [workspace.metadata.docker] of Cargo.toml must be the TCP port",
            ),
            (
                serde_json::json!({"docker": {"health": "health"}}),
                "must be the path the service answers 200 on, a string starting with /",
            ),
            (
                serde_json::json!({"docker": {"port": 8080}}),
                "has one of port and health: a service check needs both",
            ),
            (
                docker(5.into()),
                "bin = 5 in [workspace.metadata.docker] of Cargo.toml must be the binary",
            ),
            (
                serde_json::json!({"docker": {"runtime": "scratch", "size-budget": "8 MB", "binaries": "x"}}),
                "unknown key `binaries`: the keys are runtime, size-budget, bin, self-check, port, health, bins, features, default-features, all-features, include, zoneinfo",
            ),
            (
                serde_json::json!({"docker": {"bins": "server"}}),
                "bins = \"server\" in [workspace.metadata.docker] of Cargo.toml must be the binaries the image ships, a list",
            ),
            (
                serde_json::json!({"docker": {"features": ["net", 1]}}),
                "features = [\"net\",1] in [workspace.metadata.docker] of Cargo.toml must be the features",
            ),
            (
                serde_json::json!({"docker": {"zoneinfo": "yes"}}),
                "zoneinfo = \"yes\" in [workspace.metadata.docker] of Cargo.toml must be true to ship",
            ),
            (
                serde_json::json!({"docker": {"default-features": 0}}),
                "default-features = 0 in [workspace.metadata.docker] of Cargo.toml must be false",
            ),
            (
                serde_json::json!({"docker": {"bins": ["demo", "migrate"]}}),
                "bins in [workspace.metadata.docker] of Cargo.toml names \"migrate\", no binary of the workspace (it has: demo, server, tool-cli)",
            ),
            (
                serde_json::json!({"docker": {"runtime": "ubuntu", "size-budget": "8 MB"}}),
                r#"runtime = "ubuntu" in [workspace.metadata.docker] of Cargo.toml is not one of scratch, alpine, distroless"#,
            ),
        ] {
            let message_seen = error(&metadata(settings.clone()));
            assert!(message_seen.contains(message), "{settings}: {message_seen}");
        }
    }

    #[test]
    fn included_paths_must_exist_inside_the_project() {
        let root = std::env::temp_dir().join(format!("rust-alpine-include-{}", std::process::id()));
        std::fs::create_dir_all(root.join("migrations")).unwrap();
        std::fs::write(root.join("app.toml"), "").unwrap();
        let check = |paths: &[&str]| {
            let paths: Vec<String> = paths.iter().map(|path| path.to_string()).collect();
            check_include(&root, &paths, "[t]").map_err(|error| error.to_string())
        };
        check(&["migrations", "app.toml", "./migrations/"]).unwrap();
        for (path, message) in [
            ("static", "there is no"),
            ("../etc", "must be a path inside the project"),
            ("/etc/passwd", "must be a path inside the project"),
            ("", "must be a path inside the project"),
        ] {
            let error = check(&[path]).unwrap_err();
            assert!(error.contains(message), "{path}: {error}");
            assert!(error.contains("include = [.."), "{path}: {error}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn without_settings_every_key_takes_its_default() {
        for settings in [serde_json::Value::Null, serde_json::json!({"docker": {}})] {
            let project = parse(&metadata(settings)).unwrap();
            assert_eq!(project.runtime, None);
            assert_eq!(project.size_budget, None);
            assert_eq!(project.bin, "demo");
            assert!(!project.self_check);
            assert_eq!(project.service, None);
        }
        let declared = serde_json::json!({"docker": {
            "self-check": true, "port": 3000, "health": "/healthz",
        }});
        let project = parse(&metadata(declared)).unwrap();
        assert!(project.self_check);
        assert_eq!(project.service, Some((3000, "/healthz".to_owned())));
    }

    #[test]
    fn the_runtime_is_read_from_the_dockerfiles_final_stage() {
        let stages =
            "ARG BUILDER_IMAGE=rust\nFROM --platform=$BUILDPLATFORM ${BUILDER_IMAGE} AS builder\n";
        for (last, runtime) in [
            ("FROM scratch", Some("scratch")),
            (
                "ARG RUNTIME_IMAGE=alpine:3.22\nFROM ${RUNTIME_IMAGE}",
                Some("alpine"),
            ),
            (
                "ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot\nFROM ${RUNTIME_IMAGE} AS final",
                Some("distroless"),
            ),
            ("FROM debian:12", None),
        ] {
            assert_eq!(
                runtime_of_dockerfile(&format!("{stages}{last}\n")),
                runtime,
                "{last}"
            );
        }
    }

    #[test]
    fn without_a_setting_the_binary_is_the_only_or_the_root_packages() {
        let bins = |names: &[&str]| Package {
            name: "fd-find".into(),
            version: "1.0.0".into(),
            manifest: "/p/Cargo.toml".into(),
            repository: None,
            targets: names
                .iter()
                .map(|name| Target {
                    name: name.to_string(),
                    kinds: vec!["bin".into()],
                    src_path: "/p/src/main.rs".into(),
                    required_features: vec![],
                })
                .collect(),
            path_dependencies: vec![],
            features: vec![],
            dependencies: vec![],
        };
        let chosen =
            |members: &[Package], root| choose_bin(members, root, None, "[t]").map(|(_, bin)| bin);
        assert_eq!(chosen(&[bins(&["fd"])], Some(0)).unwrap(), "fd");
        assert_eq!(
            chosen(&[bins(&["fd", "fd-find"])], Some(0)).unwrap(),
            "fd-find"
        );
        assert_eq!(chosen(&[bins(&[]), bins(&["only"])], None).unwrap(), "only");
        let message = chosen(&[bins(&["a"]), bins(&["b"])], None)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("The workspace has a, b: set bin = \"NAME\" in [t]"),
            "{message}"
        );
        let message = chosen(&[bins(&[])], Some(0)).unwrap_err().to_string();
        assert!(message.contains("no binary to ship"), "{message}");
    }
}
