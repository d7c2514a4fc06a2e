//! `cargo xtask plan SRC OUT`: the Dockerfile's dependency planner. It writes into OUT what
//! compiling the dependencies needs and nothing that changes when only sources, versions or
//! metadata change, so the dependency layer built from OUT stays cached across such changes.
//!
//! OUT/skeleton/      every workspace member's manifest and every other path package's (those
//!                    reached through path dependencies), parsed and rewritten as TOML: the
//!                    workspace's own versions masked (0.0.0), metadata, lints and descriptive
//!                    keys removed, and a placeholder for every target; `[patch]` and
//!                    `[replace]` targets (in Cargo.toml or `.cargo/config.toml`, members too)
//!                    and their path dependencies copied as they are, sources and all, since
//!                    registry crates compile against them; Cargo.lock with the masked
//!                    packages' versions masked; `.cargo/config.toml`; the vendored sources it
//!                    points at, as they are.
//!                    The masked manifests and the config are written in one spelling
//!                    (`edit::canonical`: keys sorted, standard tables, default quoting, no
//!                    comments; `x = "1"` as `x = { version = "1" }`), so the skeleton is a
//!                    function of what cargo reads, not of how the files are written.
//! OUT/args           the cargo arguments that select what the image ships (package(s),
//!                    `--bin`s, features: `selection`), one per line, for `cook` and `build`.
//! OUT/bins           the binaries the image ships, the entrypoint first, one per line.
//! OUT/toolchain      the channel `rust-toolchain(.toml)` pins (empty: none); the file itself
//!                    goes into the skeleton.
//! OUT/vendored       the directory `cargo vendor` filled, when every crate comes from it
//!                    (empty otherwise): the image's cargo runs `--offline`.
//! OUT/profile.toml   the `container` profile, for projects that do not define one (passed to
//!                    cargo with `--config`): their `release`, without debug info.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use toml_edit::{DocumentMut, Item};
use xshell::Shell;

use crate::{edit, image, project, selection, vendor};

/// What every target's source becomes: it compiles under any lint level a manifest or
/// rustflags can set (the manifests' `[lints]` are removed; `-D missing-docs` is met).
const PLACEHOLDER: &str = "//! Placeholder of the Dockerfile's dependency build, never shipped.\n\
                           #![allow(warnings, missing_docs, unused_crate_dependencies)]\n\
                           fn main() {}\n";

/// The image's profile when the project defines none of that name.
const CONTAINER_PROFILE: &str = "[profile.container]\ninherits = \"release\"\n\
                                 debug = false\nstrip = \"debuginfo\"\n";

/// Keys that describe a package and never change how anything compiles.
const DESCRIPTIVE: &str = "authors categories description documentation exclude homepage \
                           include keywords license license-file metadata publish readme repository";

/// The dependency tables of a manifest (of a platform too, under `[target.'cfg(..)']`).
const DEPENDENCY_TABLES: &str =
    "dependencies dev-dependencies dev_dependencies build-dependencies build_dependencies";

const CONFIGS: [&str; 2] = [".cargo/config.toml", ".cargo/config"];

pub fn run(src: &Path, out: &Path) -> anyhow::Result<()> {
    let src = src
        .canonicalize()
        .with_context(|| format!("no build context at {}", src.display()))?;
    for file in ["Cargo.toml", "Cargo.lock"] {
        if !src.join(file).is_file() {
            bail!(
                "no {file} in the build context: build from the project's root{}",
                match file {
                    "Cargo.lock" => ", with Cargo.lock committed (`cargo generate-lockfile`)",
                    _ => "",
                }
            );
        }
    }
    let sh = Shell::new()?;
    sh.change_dir(&src);
    // Reading the project needs no particular toolchain: the project's pin must not make
    // rustup install one here (the build installs it, `image::Recipe::toolchain`).
    if let Some(toolchain) = image::builder_toolchain() {
        sh.set_var("RUSTUP_TOOLCHAIN", toolchain);
    }
    let project = project::load(&sh)?;
    let root = project.root.canonicalize()?;
    let skeleton = out.join("skeleton");
    let write = |relative: &Path, contents: &str| -> anyhow::Result<()> {
        let path = skeleton.join(relative);
        fs::create_dir_all(path.parent().expect("a file"))?;
        fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
    };

    let configs: Vec<(PathBuf, DocumentMut)> = CONFIGS
        .iter()
        .map(|config| root.join(config))
        .filter(|path| path.is_file())
        .map(|path| {
            Ok((
                path.clone(),
                edit::parse(&read(&path)?, &path.display().to_string())?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let packages = path_packages(&project, &root, &configs)?;
    let patched = |dir: &Path| {
        dir.canonicalize()
            .is_ok_and(|dir| packages.get(&dir) == Some(&true))
    };

    // [patch] and [replace] targets and their own path dependencies are dependencies of
    // registry crates, which compile against their real sources: copied as they are.
    fs::create_dir_all(&skeleton).with_context(|| format!("creating {}", skeleton.display()))?;
    let destination = skeleton.canonicalize()?;
    let mut copied = 0;
    for dir in packages
        .iter()
        .filter(|(_, patched)| **patched)
        .map(|(dir, _)| dir)
    {
        if destination.starts_with(dir) {
            bail!(
                "the plan's output {} is inside {}, a [patch] target that is copied whole into \
                 it: write the plan outside the project (`cargo xtask plan . /tmp/plan`)",
                out.display(),
                dir.display()
            );
        }
        edit::copy_tree(dir, &skeleton.join(within(&root, dir)?))?;
        copied += 1;
    }

    // The members and the root manifest (a virtual workspace's is no package's), but for
    // members that are also [patch] targets.
    let mut manifests: BTreeSet<PathBuf> = project
        .members
        .iter()
        .map(|member| member.manifest.clone())
        .collect();
    manifests.insert(root.join("Cargo.toml"));
    manifests.retain(|manifest| !patched(manifest.parent().expect("a file")));
    for manifest in &manifests {
        let relative = within(&root, manifest)?;
        write(
            relative,
            &mask_manifest(&read(manifest)?, Role::Member)
                .with_context(|| relative.display().to_string())?,
        )?;
    }
    let members = project
        .members
        .iter()
        .filter(|member| manifests.contains(&member.manifest));
    for target in members.clone().flat_map(|member| &member.targets) {
        write(within(&root, &target.src_path)?, PLACEHOLDER)?;
    }

    // Other path packages: only their library and build script compile. Their versions are
    // masked like the members'.
    let mut masked: Vec<(String, String)> = members
        .map(|member| (member.name.clone(), member.version.clone()))
        .collect();
    for dir in packages
        .iter()
        .filter(|(_, patched)| !**patched)
        .map(|(dir, _)| dir)
    {
        let manifest = dir.join("Cargo.toml");
        let mut doc = edit::parse(&read(&manifest)?, &manifest.display().to_string())?;
        let relative = within(&root, dir)?;
        let lib = doc
            .get("lib")
            .and_then(|lib| lib.get("path"))
            .and_then(Item::as_str)
            .unwrap_or("src/lib.rs");
        let mut sources = vec![lib.to_owned()];
        match doc.get("package").and_then(|package| package.get("build")) {
            Some(build) => sources.extend(build.as_str().map(str::to_owned)),
            None if dir.join("build.rs").is_file() => sources.push("build.rs".to_owned()),
            None => {}
        }
        for source in sources {
            write(&relative.join(source), PLACEHOLDER)?;
        }
        let package = doc.get("package");
        let field = |key| package.and_then(|package| package.get(key)?.as_str());
        let name = field("name")
            .with_context(|| format!("{} has no package name", manifest.display()))?
            .to_owned();
        let version = field("version").unwrap_or("0.0.0").to_owned();
        masked.push((name, version));
        mask(&mut doc, Role::PathDependency);
        write(&relative.join("Cargo.toml"), &edit::canonical(&doc))?;
    }

    // The lock, with the same versions masked.
    let (lock, _) = edit::relock(&read(&root.join("Cargo.lock"))?, |name, version| {
        let masks = masked.iter().any(|(n, v)| n == name && v == version);
        masks.then(|| "0.0.0".to_owned())
    })?;
    write(Path::new("Cargo.lock"), &lock)?;

    // Build configuration that applies to the dependencies (rustflags, cfgs, [env], linkers,
    // [patch]) and the vendored sources it points at. Of a directory source (`cargo vendor`'s)
    // only the crates Cargo.lock names: the tooling's (`cargo vendor --sync
    // xtask/Cargo.toml`) and stale ones never reach the dependency layer.
    let relative_configs: Vec<(PathBuf, DocumentMut)> = configs
        .iter()
        .map(|(path, doc)| Ok((within(&root, path)?.to_owned(), doc.clone())))
        .collect::<anyhow::Result<_>>()?;
    let vendored = vendor::check(&root, &relative_configs)?;
    let locked: BTreeSet<(String, String)> = match &vendored {
        Some(vendored) => vendored
            .needed(&read(&root.join("Cargo.lock"))?)?
            .into_iter()
            .collect(),
        None => BTreeSet::new(),
    };
    for (path, config) in &configs {
        write(within(&root, path)?, &edit::canonical(config))?;
        for source in config
            .get("source")
            .and_then(Item::as_table_like)
            .into_iter()
            .flat_map(|sources| sources.iter())
        {
            for key in ["directory", "local-registry"] {
                if let Some(dir) = source.1.get(key).and_then(Item::as_str) {
                    let from = root.join(dir).canonicalize().with_context(|| {
                        format!(
                            "[source.{}] {key} = {dir:?} in {} does not exist",
                            source.0,
                            path.display()
                        )
                    })?;
                    let into = skeleton.join(within(&root, &from)?);
                    match vendored.as_ref().filter(|_| key == "directory") {
                        Some(_) => copy_locked(&from, &into, &locked)?,
                        None => edit::copy_tree(&from, &into)?,
                    }
                }
            }
        }
    }

    let package = project.package();
    let profile = match defines_profile(&read(&root.join("Cargo.toml"))?, "container")? {
        true => "",
        false => CONTAINER_PROFILE,
    };
    // The selection: the settings', and a one-off one from the build argument.
    let one_off = std::env::var(selection::FEATURES_ARG).unwrap_or_default();
    let selection = selection::Selection::of_project(&project)?.with_flags(&one_off)?;
    selection.check(
        &project,
        &format!("{}={one_off:?}", selection::FEATURES_ARG),
    )?;
    let args = selection.cargo_args(&project);
    let bins: Vec<&str> = project.bins.iter().map(|(_, bin)| bin.as_str()).collect();
    // The project's toolchain pin, which the build honours (see `image::toolchain_of`).
    let mut toolchain = String::new();
    for pin in TOOLCHAIN_FILES {
        if root.join(pin).is_file() {
            let text = read(&root.join(pin))?;
            toolchain = format!("{}\n", toolchain_channel(&text, pin)?);
            write(Path::new(pin), &text)?;
            break;
        }
    }
    for (file, contents) in [
        ("args", format!("{}\n", args.join("\n"))),
        ("bins", format!("{}\n", bins.join("\n"))),
        ("toolchain", toolchain),
        ("profile.toml", profile.to_owned()),
        // Every crate from vendored sources, in this directory: the build needs no network,
        // and must use none.
        (
            "vendored",
            vendored
                .as_ref()
                .map(|vendored| format!("{}\n", vendored.dir.display()))
                .unwrap_or_default(),
        ),
    ] {
        fs::write(out.join(file), contents).with_context(|| format!("writing {file}"))?;
    }
    eprintln!(
        "plan: {} workspace package(s), {} manifest(s), {copied} [patch] package(s) as they \
         are; shipping {} of package {}; cargo build {}",
        project.members.len(),
        manifests.len(),
        bins.join(", "),
        package.name,
        args.join(" ")
    );
    Ok(())
}

/// The files that pin a project's toolchain, in the order rustup reads them.
pub const TOOLCHAIN_FILES: [&str; 2] = ["rust-toolchain", "rust-toolchain.toml"];

/// The channel a toolchain file pins: `[toolchain] channel` of the TOML form, or the legacy
/// file's one line.
pub fn toolchain_channel(text: &str, file: &str) -> anyhow::Result<String> {
    let trimmed = text.trim();
    if !trimmed.contains('[') && !trimmed.contains('=') && !trimmed.is_empty() {
        return Ok(trimmed.to_owned());
    }
    let doc = edit::parse(text, file)?;
    match doc
        .get("toolchain")
        .and_then(|toolchain| toolchain.get("channel"))
        .and_then(Item::as_str)
    {
        Some(channel) => Ok(channel.trim().to_owned()),
        None => bail!(
            "{file} has no `[toolchain] channel = \"..\"`: the image build needs the channel it \
             pins (a `path` toolchain cannot be used in the image)"
        ),
    }
}

/// Copies the crates of the directory source `from` (one directory each) that `locked` names
/// into `into`, with the files beside them (none, as `cargo vendor` writes it).
fn copy_locked(
    from: &Path,
    into: &Path,
    locked: &BTreeSet<(String, String)>,
) -> anyhow::Result<()> {
    fs::create_dir_all(into).with_context(|| format!("creating {}", into.display()))?;
    fs::set_permissions(into, fs::metadata(from)?.permissions())?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let path = entry?.path();
        let name = path.file_name().expect("an entry");
        if !path.is_dir() {
            fs::copy(&path, into.join(name))
                .with_context(|| format!("copying {}", path.display()))?;
        } else if vendor::crate_in(&path)?.is_none_or(|package| locked.contains(&package)) {
            edit::copy_tree(&path, &into.join(name))?;
        }
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// `path` relative to the build context, or an error when it lies outside it.
fn within<'a>(root: &Path, path: &'a Path) -> anyhow::Result<&'a Path> {
    path.strip_prefix(root).with_context(|| {
        format!(
            "{} is outside the build context {}: the image build cannot see it; move it into \
             the project (or depend on it through git or a registry)",
            path.display(),
            root.display()
        )
    })
}

/// A manifest as the dependency build needs it; see [`mask`].
pub fn mask_manifest(text: &str, role: Role) -> anyhow::Result<String> {
    let mut doc = edit::parse(text, "Cargo.toml")?;
    mask(&mut doc, role);
    Ok(edit::canonical(&doc))
}

/// What a masked path package is to the build ([patch] targets are not masked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Member,
    /// Reached through path dependencies only: its library and build script compile.
    PathDependency,
}

/// Masks what changes without changing how the dependencies compile: the package's own
/// version (0.0.0, and path dependencies' version requirements with it), descriptive keys,
/// metadata, lints and badges. A package that is only a dependency keeps its library and
/// build script alone.
fn mask(doc: &mut DocumentMut, role: Role) {
    for key in ["badges", "lints"] {
        doc.remove(key);
    }
    for path in [&["package"][..], &["workspace", "package"]] {
        if let Some(table) = edit::table(doc, path) {
            for key in DESCRIPTIVE.split_whitespace() {
                table.remove(key);
            }
            let version = table.get_mut("version").filter(|version| version.is_str());
            if let Some(version) = version {
                *version = toml_edit::value("0.0.0");
            }
        }
    }
    if let Some(workspace) = edit::table(doc, &["workspace"]) {
        workspace.remove("metadata");
        workspace.remove("lints");
    }
    each_dependency(doc, |dependency| {
        // `x = "1"` is `x = { version = "1" }` to cargo.
        if let Some(version) = dependency.as_str() {
            let mut table = toml_edit::InlineTable::new();
            table.insert("version", version.into());
            *dependency = toml_edit::value(table);
        }
        let table = dependency.as_table_like_mut().expect("a table now");
        if table.contains_key("path") {
            table.remove("version");
        }
    });
    if role != Role::Member {
        for key in ["bin", "example", "test", "bench"] {
            doc.remove(key);
        }
        if let Some(package) = edit::table(doc, &["package"]) {
            for key in ["autobins", "autoexamples", "autotests", "autobenches"] {
                package.insert(key, toml_edit::value(false));
            }
        }
    }
}

/// The entries of a table in any syntax (none when `item` is no table).
fn entries(item: &mut Item) -> impl Iterator<Item = (toml_edit::KeyMut<'_>, &mut Item)> {
    item.as_table_like_mut()
        .into_iter()
        .flat_map(|table| table.iter_mut())
}

/// Calls `f` with every dependency (`x = "1"`, `{ path = ".." }`, `[dependencies.x]`) in every
/// dependency table: of each kind and platform, `[workspace.dependencies]`, `[patch.*]` and
/// `[replace]`.
fn each_dependency(doc: &mut DocumentMut, mut f: impl FnMut(&mut Item)) {
    let kinds: Vec<&str> = DEPENDENCY_TABLES.split_whitespace().collect();
    let mut visit = |item: &mut Item| entries(item).for_each(|(_, dependency)| f(dependency));
    for (key, item) in doc.as_table_mut().iter_mut() {
        let tables: Vec<&mut Item> = match key.get() {
            "replace" => vec![item],
            "patch" => entries(item).map(|(_, item)| item).collect(),
            "workspace" => entries(item)
                .filter(|(key, _)| key.get() == "dependencies")
                .map(|(_, item)| item)
                .collect(),
            "target" => entries(item)
                .flat_map(|(_, platform)| entries(platform))
                .filter(|(kind, _)| kinds.contains(&kind.get()))
                .map(|(_, item)| item)
                .collect(),
            kind if kinds.contains(&kind) => vec![item],
            _ => vec![],
        };
        tables.into_iter().for_each(&mut visit);
    }
}

/// The `path` of every dependency written as a table in `doc`.
fn dependency_paths(doc: &mut DocumentMut) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    each_dependency(doc, |dependency| {
        let path = dependency
            .as_table_like()
            .and_then(|table| table.get("path"));
        paths.extend(path.and_then(Item::as_str).map(PathBuf::from));
    });
    paths
}

/// Every path package the build may need that is not a member, and the members that are
/// [patch] targets: path dependencies on crates outside the workspace (excluded ones too),
/// `[patch]` and `[replace]` paths in Cargo.toml and `.cargo/config.toml`, and their own path
/// dependencies. Directories, canonical, each with whether it is a [patch] or [replace]
/// target or a path dependency of one, recursively (a dependency of the patched crate).
fn path_packages(
    project: &project::Project,
    root: &Path,
    configs: &[(PathBuf, DocumentMut)],
) -> anyhow::Result<BTreeMap<PathBuf, bool>> {
    let members: BTreeSet<PathBuf> = project
        .members
        .iter()
        .filter_map(|member| member.manifest.parent()?.canonicalize().ok())
        .collect();
    let mut queue: Vec<(PathBuf, bool)> = project
        .members
        .iter()
        .flat_map(|member| {
            member
                .path_dependencies
                .iter()
                .map(|dir| (dir.clone(), false))
        })
        .collect();
    let root_doc = edit::parse(&read(&root.join("Cargo.toml"))?, "Cargo.toml")?;
    // Paths in a config are relative to the directory that holds its `.cargo`.
    let mut roots = vec![(root.to_owned(), root_doc)];
    for (path, doc) in configs {
        let base = path.parent().and_then(Path::parent).expect("in .cargo/");
        roots.push((base.to_owned(), doc.clone()));
    }
    for (base, doc) in &mut roots {
        // Only [patch] and [replace] here: the members' own dependencies came from cargo.
        let mut patches = DocumentMut::new();
        for key in ["patch", "replace"] {
            if let Some(item) = doc.remove(key) {
                patches.insert(key, item);
            }
        }
        queue.extend(
            dependency_paths(&mut patches)
                .into_iter()
                .map(|path| (base.join(path), true)),
        );
    }
    let mut found = BTreeMap::new();
    while let Some((dir, patched)) = queue.pop() {
        let dir = dir.canonicalize().with_context(|| {
            format!(
                "the path dependency {} does not exist in the build context (is it in \
                 .dockerignore?)",
                dir.display()
            )
        })?;
        // Seen already, or a member that is not patched: nothing to add.
        if found.get(&dir).is_some_and(|seen| *seen || !patched)
            || (members.contains(&dir) && !patched)
        {
            continue;
        }
        within(root, &dir)?;
        let manifest = dir.join("Cargo.toml");
        let mut doc = edit::parse(&read(&manifest)?, &manifest.display().to_string())?;
        queue.extend(
            dependency_paths(&mut doc)
                .into_iter()
                .map(|path| (dir.join(path), patched)),
        );
        found.insert(dir, patched);
    }
    Ok(found)
}

/// Whether the manifest defines `[profile.NAME]` (in any syntax).
pub fn defines_profile(manifest: &str, name: &str) -> anyhow::Result<bool> {
    let mut doc = edit::parse(manifest, "Cargo.toml")?;
    Ok(edit::table(&mut doc, &["profile", name]).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_versions_metadata_and_lints_in_every_spelling() {
        for (manifest, expected) in [
            (
                "[package] # the service\r\nname = 'demo'\r\nversion = '1.2.3'\r\ndescription = \"x\"\r\n\r\n\
                 [dependencies.core]\r\npath = 'crates/core'\r\nversion = '1.2'\r\n\r\n\
                 [package.metadata.deb]\r\nassets = [\r\n  [\"a\", \"b\"],\r\n]\r\n[lints.rust]\r\nmissing_docs = \"deny\"\r\n",
                "[dependencies.core]\npath = \"crates/core\"\n\n\
                 [package]\nname = \"demo\"\nversion = \"0.0.0\"\n",
            ),
            (
                "[workspace]\nmembers = [\"a\"]\npackage.version = \"2.0.0\"\nmetadata.docker.size-budget = \"8 MB\"\n\n\
                 [workspace.dependencies]\ncore = {\n  path = \"core\", version = \"2\" }\n\
                 [target.'cfg(unix)'.dependencies]\nx = { path = \"x\", version = \"1\", features = [] }\n\
                 [patch.crates-io]\nitoa = { path = \"patches/itoa\", version = \"1\" }\n",
                "[patch.crates-io.itoa]\npath = \"patches/itoa\"\n\n\
                 [target.\"cfg(unix)\".dependencies.x]\nfeatures = []\npath = \"x\"\n\n\
                 [workspace]\nmembers = [\"a\"]\n\n\
                 [workspace.dependencies.core]\npath = \"core\"\n\n\
                 [workspace.package]\nversion = \"0.0.0\"\n",
            ),
            (
                "[package]\nname = \"m\"\nversion.workspace = true\n\
                 [dependencies]\nanyhow = \"1\"\n[lints]\nworkspace = true\n",
                "[dependencies.anyhow]\nversion = \"1\"\n\n\
                 [package]\nname = \"m\"\n\n[package.version]\nworkspace = true\n",
            ),
        ] {
            assert_eq!(
                mask_manifest(manifest, Role::Member).unwrap(),
                expected,
                "{manifest}"
            );
        }
    }

    /// A project written into `base/src` (a fresh directory).
    fn project(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let base = std::env::temp_dir().join(format!("plan-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        for (path, contents) in files {
            let path = base.join("src").join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, contents).unwrap();
        }
        base
    }

    /// A project written into a fresh directory, planned into `OUT` beside it.
    fn plan(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let base = project(name, files);
        run(&base.join("src"), &base.join("out")).unwrap();
        base
    }

    #[test]
    fn patch_targets_and_their_path_dependencies_keep_their_real_sources() {
        let itoa = "[package]\nname = \"itoa\"\nversion = \"1.0.15\"\nedition = \"2021\"\n\
                    description = \"patched\"\n\n[dependencies]\nitoa-core = { path = \"../itoa-core\" }\n";
        let files = [
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\nitoa = \"1\"\ncore = { path = \"crates/core\" }\n\n\
                 [workspace]\nmembers = [\"crates/ryu\"]\n\n\
                 [patch.crates-io]\nitoa = { path = \"patches/itoa\" }\n",
            ),
            ("src/main.rs", "fn main() { itoa::real(); }\n"),
            (
                "crates/core/Cargo.toml",
                "[package]\nname = \"core\"\nversion = \"0.3.0\"\n",
            ),
            ("crates/core/src/lib.rs", "pub fn core() {}\n"),
            // A member that .cargo/config.toml patches: a dependency, so real too.
            (
                "crates/ryu/Cargo.toml",
                "[package]\nname = \"ryu\"\nversion = \"1.0.20\"\n",
            ),
            ("crates/ryu/src/lib.rs", "pub fn ryu() {}\n"),
            (
                ".cargo/config.toml",
                "[patch.crates-io]\nryu.path = \"crates/ryu\"\n",
            ),
            ("patches/itoa/Cargo.toml", itoa),
            (
                "patches/itoa/src/lib.rs",
                "pub fn real() { itoa_core::real(); }\n",
            ),
            ("patches/itoa/src/fmt.rs", "// a module\n"),
            (
                "patches/itoa/build.rs",
                "fn main() { println!(\"real\"); }\n",
            ),
            ("patches/itoa/target/debug/junk", "build output\n"),
            (
                "patches/itoa-core/Cargo.toml",
                "[package]\nname = \"itoa-core\"\nversion = \"0.2.0\"\n",
            ),
            ("patches/itoa-core/src/lib.rs", "pub fn real() {}\n"),
            (
                "Cargo.lock",
                "version = 4\n\n\
                 [[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\
                 dependencies = [\n \"core\",\n \"itoa\",\n]\n\n\
                 [[package]]\nname = \"core\"\nversion = \"0.3.0\"\n\n\
                 [[package]]\nname = \"itoa\"\nversion = \"1.0.15\"\ndependencies = [\n \"itoa-core\",\n]\n\n\
                 [[package]]\nname = \"itoa-core\"\nversion = \"0.2.0\"\n\n\
                 [[package]]\nname = \"ryu\"\nversion = \"1.0.20\"\n",
            ),
        ];
        let base = plan("patch", &files);
        let skeleton = base.join("out/skeleton");
        for (path, contents) in files {
            let copy = fs::read_to_string(skeleton.join(path)).ok();
            if [".cargo/config.toml", "Cargo.lock"].contains(&path) {
                continue;
            }
            let real = path.starts_with("patches/") && !path.contains("/target/")
                || path.starts_with("crates/ryu/");
            if real {
                assert_eq!(copy.as_deref(), Some(contents), "{path} is copied as it is");
            } else {
                assert_ne!(
                    copy.as_deref(),
                    Some(contents),
                    "{path} is masked or left out"
                );
            }
        }
        assert_eq!(
            fs::read_to_string(skeleton.join("crates/core/src/lib.rs")).unwrap(),
            PLACEHOLDER
        );
        assert_eq!(
            fs::read_to_string(skeleton.join(".cargo/config.toml")).unwrap(),
            "[patch.crates-io.ryu]\npath = \"crates/ryu\"\n",
            "the config in its canonical spelling"
        );
        let lock = fs::read_to_string(skeleton.join("Cargo.lock")).unwrap();
        for (name, version) in [
            ("app", "0.0.0"),
            ("core", "0.0.0"),
            ("itoa", "1.0.15"),
            ("itoa-core", "0.2.0"),
            ("ryu", "1.0.20"),
        ] {
            let entry = format!("name = \"{name}\"\nversion = \"{version}\"\n");
            assert!(lock.contains(&entry), "{entry} in\n{lock}");
        }
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_root_package_that_patches_itself_is_copied_whole_but_never_into_itself() {
        // The root package patches itself (for registry crates that depend on it).
        let base = project(
            "self-patch",
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"lib\"\nversion = \"1.0.0\"\n\n\
                     [patch.crates-io]\nlib = { path = \".\" }\n",
                ),
                ("src/lib.rs", "pub fn real() {}\n"),
                ("src/main.rs", "fn main() {}\n"),
                (
                    "Cargo.lock",
                    "version = 4\n\n[[package]]\nname = \"lib\"\nversion = \"1.0.0\"\n",
                ),
            ],
        );
        let error = run(&base.join("src"), &base.join("src/plan")).unwrap_err();
        assert!(
            format!("{error:#}").contains("write the plan outside the project"),
            "{error:#}"
        );
        run(&base.join("src"), &base.join("out")).unwrap();
        assert_eq!(
            fs::read_to_string(base.join("out/skeleton/src/lib.rs")).unwrap(),
            "pub fn real() {}\n"
        );
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn the_masked_manifest_is_what_cargo_reads_not_how_it_is_written() {
        let same = [
            // Comments, blank lines, line endings.
            (
                "[package]\nname = \"a\"\nversion = \"1.0.0\"\n",
                "# the app\r\n\r\n[package] # it\r\n\r\nname = \"a\" # name\r\n\r\n\r\nversion = \"1.0.0\"\r\n",
            ),
            // Key and table order.
            (
                "[package]\nname = \"a\"\nedition = \"2021\"\n[dependencies]\nx = \"1\"\ny = \"2\"\n",
                "[dependencies]\ny = \"2\"\nx = \"1\"\n[package]\nedition = \"2021\"\nname = \"a\"\n",
            ),
            // Inline and standard tables, arrays of tables.
            (
                "[dependencies]\nserde = { version = \"1\", features = [\"derive\"] }\n\
                 [[bin]]\nname = \"a\"\npath = \"src/a.rs\"\n",
                "bin = [{ path = \"src/a.rs\", name = \"a\" }]\n\
                 [dependencies.serde]\nfeatures = [\"derive\"]\nversion = \"1\"\n",
            ),
            // Quoting of keys and strings, multi-line arrays, integers.
            (
                "[target.'cfg(unix)'.dependencies]\nlibc = '0.2'\n\
                 [features]\nfull = ['a', 'b']\n[profile.release]\nopt-level = 3\n",
                "[target.\"cfg(unix)\".dependencies]\nlibc = \"0.2\"\n\
                 [features]\nfull = [\n  \"a\",\n  \"b\",\n]\n[profile.release]\nopt-level = 0x3\n",
            ),
            // Dotted keys and tables.
            (
                "package.name = \"a\"\npackage.version.workspace = true\n",
                "[package]\nname = \"a\"\n[package.version]\nworkspace = true\n",
            ),
            // A version requirement alone, and what masking removes anyway.
            (
                "[package]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\nx = \"1\"\n",
                "[package]\nname = \"a\"\nversion = \"2.0.0\"\ndescription = \"new\"\n\
                 [dependencies]\nx = { version = \"1\" }\n",
            ),
        ];
        let different = [
            // A dependency added.
            (
                "[dependencies]\nx = \"1\"\n",
                "[dependencies]\nx = \"1\"\ny = \"1\"\n",
            ),
            // A dependency's features.
            (
                "[dependencies]\nx = { version = \"1\", features = [\"a\"] }\n",
                "[dependencies]\nx = { version = \"1\", features = [\"b\"] }\n",
            ),
            // The package's features.
            (
                "[features]\ndefault = [\"a\"]\na = []\n",
                "[features]\ndefault = []\na = []\n",
            ),
            // An empty table is not no table.
            ("[workspace]\n", ""),
        ];
        let masked = |manifest: &str| mask_manifest(manifest, Role::Member).unwrap();
        for (a, b) in same {
            assert_eq!(masked(a), masked(b), "{a}\nand\n{b}");
            // Valid TOML of the same values: the canonical form of itself.
            assert_eq!(masked(&masked(a)), masked(a), "{a}");
        }
        for (a, b) in different {
            assert_ne!(masked(a), masked(b), "{a}\nand\n{b}");
        }
    }

    #[test]
    fn finds_a_profile_in_any_spelling() {
        for (manifest, defined) in [
            ("[profile.container]\ninherits = \"release\"\n", true),
            ("profile.container.inherits = \"release\"\n", true),
            ("[profile]\ncontainer = { inherits = \"release\" }\n", true),
            ("[profile.release]\ndebug = 1\n", false),
        ] {
            assert_eq!(
                defines_profile(manifest, "container").unwrap(),
                defined,
                "{manifest}"
            );
        }
    }
}
