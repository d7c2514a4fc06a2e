//! The commands the Dockerfile's build stages run, in the builder image (as `cargo chef cook`
//! does): what used to be the Dockerfile's inline shell lives here, versioned with the rest.
//!
//! - `rust-alpine toolchain`: the Rust target for `TARGETARCH` and a C compiler for it (the
//!   builder's own, else clang + lld with Debian's musl, pinned), and the runtime user's files.
//! - `rust-alpine auditable ROOT CACHE`: installs cargo-auditable (pinned) under ROOT.
//! - `rust-alpine cook RECIPE CACHE`: every dependency, compiled against the planner's
//!   skeleton in the cache mount CACHE, then copied into the layer; the one step that fetches,
//!   so the only one with the private sources' credentials (`private`).
//! - `rust-alpine build RECIPE OUT [ENTRYPOINT]`: the real sources, touched, built under
//!   `cargo auditable`; OUT becomes the image's files (binaries, `include`, zoneinfo).
//! - `rust-alpine cargo ARGS...`: cargo under the compile cache, for steps of your own.
//!
//! Every cargo run goes through `compile` (sccache when the build has the secret). The target
//! is kept in /rust-target and the profile's output directory in /profile-dir between steps.

use std::{
    env, fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::SystemTime,
};

use anyhow::{Context, bail};
use xshell::Shell;

use crate::{compile, private, project};

/// The cargo-auditable release the final build runs under.
const CARGO_AUDITABLE_VERSION: &str = "0.7.7";
/// The cross C toolchain installed when the builder has none (Debian 12's versions; apt checks
/// them against Debian's signed index).
const CROSS_CLANG_VERSION: &str = "1:14.0.6-12";
const CROSS_MUSL_VERSION: &str = "1.2.3-1";
/// What `cook` prints for a vendored project.
pub const OFFLINE_NOTE: &str =
    "rust-alpine: every crate comes from vendored sources (.cargo/config.toml): cargo --offline";
/// Written by `toolchain`, read by the later steps.
const TARGET_FILE: &str = "/rust-target";
const PROFILE_DIR_FILE: &str = "/profile-dir";

/// The Rust target of a Docker architecture (`TARGETARCH`).
pub fn target_of(arch: &str) -> anyhow::Result<&'static str> {
    match arch {
        "amd64" => Ok("x86_64-unknown-linux-musl"),
        "arm64" => Ok("aarch64-unknown-linux-musl"),
        other => bail!("linux/{other} is not supported: build for linux/amd64 or linux/arm64"),
    }
}

/// Where cargo puts a profile's output: `dev` and `test` in debug/, `bench` in release/.
pub fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    }
}

/// `rust-alpine toolchain`.
pub fn toolchain() -> anyhow::Result<()> {
    // The runtime user, written here because scratch has no tools to create it.
    fs::write(
        "/passwd",
        "app:x:10001:10001:app:/nonexistent:/sbin/nologin\n",
    )?;
    fs::write("/group", "app:x:10001:\n")?;
    let arch = match env::var("TARGETARCH").ok().filter(|arch| !arch.is_empty()) {
        Some(arch) => arch,
        None => output("dpkg", &["--print-architecture"])?,
    };
    let target = target_of(&arch)?;
    fs::write(TARGET_FILE, target)?;
    if compile::on_path("rustup").is_some() {
        run("rustup", &["target", "add", target])?;
    }
    let sysroot = output("rustc", &["--print", "sysroot"])?;
    if !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .is_dir()
    {
        bail!(
            "the builder image has no Rust std for {target} and no rustup: use a builder that \
             has it (--build-arg BUILDER_IMAGE=...)"
        );
    }
    let cpu = target.split('-').next().expect("a triple");
    let var = target.replace('-', "_");
    if cpu == env::consts::ARCH {
        if compile::on_path("musl-gcc").is_none() {
            apt_install(&["musl-tools"])?;
        }
        println!("C toolchain for {target}: musl-gcc");
    } else if let Some(cc) = env::var(format!("CC_{var}"))
        .ok()
        .filter(|cc| !cc.is_empty())
    {
        println!("cross C toolchain for {target}: the builder's, CC_{var}={cc}");
    } else {
        cross_toolchain(&arch, cpu, target, &var)?;
    }
    Ok(())
}

/// clang + lld with Debian's musl for `target`, a `<target>-clang` wrapper, and cargo's linker
/// and `CC_<target>` pointing at it (in `$CARGO_HOME/config.toml`).
fn cross_toolchain(arch: &str, cpu: &str, target: &str, var: &str) -> anyhow::Result<()> {
    run("dpkg", &["--add-architecture", arch])?;
    let headers = output(
        "dpkg-query",
        &["--show", "--showformat", "${Version}", "linux-libc-dev"],
    )?;
    apt_install(&[
        &format!("clang-14={CROSS_CLANG_VERSION}"),
        &format!("lld-14={CROSS_CLANG_VERSION}"),
        &format!("llvm-14={CROSS_CLANG_VERSION}"),
        &format!("libclang-rt-14-dev:{arch}={CROSS_CLANG_VERSION}"),
        &format!("musl-dev:{arch}={CROSS_MUSL_VERSION}"),
        &format!("linux-libc-dev:{arch}={headers}"),
    ])?;
    let sysroot = PathBuf::from(format!("/usr/local/{target}"));
    let include = sysroot.join("usr/include");
    let lib = sysroot.join("usr/lib");
    fs::create_dir_all(&include)?;
    fs::create_dir_all(&lib)?;
    copy(
        &[
            &format!("/usr/include/{cpu}-linux-musl/."),
            "/usr/include/linux",
            "/usr/include/asm-generic",
            &format!("/usr/include/{cpu}-linux-gnu/asm"),
        ],
        &include,
    )?;
    copy(&[&format!("/usr/lib/{cpu}-linux-musl/.")], &lib)?;
    let wrapper = format!("/usr/local/bin/{target}-clang");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec clang-14 --target={target} --sysroot={} -rtlib=compiler-rt \
             --unwindlib=none -fuse-ld=lld -Wno-unused-command-line-argument \"$@\"\n",
            sysroot.display()
        ),
    )?;
    run("chmod", &["+x", &wrapper])?;
    let home = env::var("CARGO_HOME")
        .or_else(|_| env::var("HOME").map(|home| format!("{home}/.cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let config = PathBuf::from(home).join("config.toml");
    fs::create_dir_all(config.parent().expect("a file"))?;
    let mut text = fs::read_to_string(&config).unwrap_or_default();
    text.push_str(&format!(
        "[target.{target}]\nlinker = \"{target}-clang\"\n\n[env]\nCC_{var} = \"{target}-clang\"\n\
         AR_{var} = \"llvm-ar-14\"\n"
    ));
    fs::write(&config, text)?;
    println!(
        "cross C toolchain for {target}: clang {CROSS_CLANG_VERSION}, musl {CROSS_MUSL_VERSION} ({})",
        config.display()
    );
    Ok(())
}

pub fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    run("apt-get", &["update"])?;
    let mut args = vec!["install", "--yes", "--no-install-recommends"];
    args.extend(packages);
    // Packages such as tzdata ask questions otherwise.
    let status = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("cannot run apt-get")?;
    if !status.success() {
        bail!("apt-get {} failed ({status})", args.join(" "));
    }
    let _ = fs::remove_dir_all("/var/lib/apt/lists");
    Ok(())
}

/// `rust-alpine auditable ROOT CACHE`.
pub fn auditable(root: &Path, cache: &Path) -> anyhow::Result<()> {
    // A fixed --target-dir, not cargo install's temporary one of a random name: sccache keys
    // include paths below it (build scripts' OUT_DIR), so that only a fixed one hits on another
    // machine; it is a cache mount, so a rebuild of the stage reuses what it holds.
    compile::cargo(
        &[
            "install",
            "cargo-auditable",
            "--version",
            CARGO_AUDITABLE_VERSION,
            "--locked",
            "--root",
            path_str(root)?,
            "--target-dir",
            path_str(cache)?,
        ],
        &[],
    )
}

/// What the planner decided: what to build (cargo's arguments), the binaries to ship and the
/// toolchain the project pins.
struct Recipe {
    dir: PathBuf,
    /// `selection::Selection::cargo_args`: package(s), `--bin`s, features.
    args: Vec<String>,
    /// The entrypoint's first.
    bins: Vec<String>,
    /// The channel of the project's `rust-toolchain(.toml)`, if it has one.
    toolchain: Option<String>,
    target: String,
    profile: String,
    /// The directory every crate comes from (the planner's `vendored`, `cargo vendor`'s):
    /// cargo runs with `--offline`, so the build reaches no registry and fails at once if it
    /// would.
    vendored: Option<PathBuf>,
}

impl Recipe {
    fn read(dir: &Path) -> anyhow::Result<Recipe> {
        let read = |name: &str| -> anyhow::Result<Vec<String>> {
            let path = dir.join(name);
            Ok(fs::read_to_string(&path)
                .with_context(|| {
                    format!(
                        "reading {}: run `rust-alpine plan` first (with this version of \
                         rust-alpine)",
                        path.display()
                    )
                })?
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect())
        };
        let target = fs::read_to_string(TARGET_FILE)
            .context("reading /rust-target: run `rust-alpine toolchain` first")?
            .trim()
            .to_owned();
        Ok(Recipe {
            dir: dir.to_owned(),
            args: read("args")?,
            bins: read("bins")?,
            toolchain: read("toolchain")?.into_iter().next(),
            target,
            profile: env::var("CARGO_PROFILE")
                .ok()
                .filter(|profile| !profile.is_empty())
                .unwrap_or_else(|| "container".to_owned()),
            // A recipe of an older planner has no such file: online, as before.
            // A recipe of an older planner has no such file: online, as before.
            vendored: fs::read_to_string(dir.join("vendored"))
                .ok()
                .map(|dir| dir.trim().to_owned())
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from),
        })
    }

    /// `build --locked ...` (and `--offline` when vendored) with the profile, target and the
    /// planner's selection.
    fn build_args<'a>(&'a self, profile_config: &'a str) -> Vec<&'a str> {
        let mut args = vec![
            "build",
            "--locked",
            "--config",
            profile_config,
            "--profile",
            &self.profile,
            "--target",
            &self.target,
        ];
        args.extend(self.args.iter().map(String::as_str));
        if self.vendored.is_some() {
            args.push("--offline");
        }
        args
    }

    /// The toolchain cargo must run with (`RUSTUP_TOOLCHAIN`), when the project pins one: the
    /// builder's own when it is that version, else the pinned one, installed by rustup (with
    /// `install`) when the builder has rustup; an error naming the fix when it has neither.
    fn toolchain(&self, install: bool) -> anyhow::Result<Option<String>> {
        let Some(channel) = &self.toolchain else {
            return Ok(None);
        };
        // Asked outside the project, where no pin applies: the builder's own toolchain.
        let version = output_in("/", "rustc", &["--version"])?;
        let version = version.split_whitespace().nth(1).unwrap_or("").to_owned();
        let rustup = compile::on_path("rustup").is_some();
        if channel_matches(channel, &version) {
            println!("toolchain: {channel} (the project's pin) is the builder's rustc {version}");
            if !rustup {
                return Ok(None);
            }
            let default = output_in("/", "rustup", &["default"])?;
            return Ok(default.split_whitespace().next().map(str::to_owned));
        }
        if !rustup {
            bail!(
                "the project pins the Rust toolchain {channel} (its rust-toolchain file) but the \
                 builder image has rustc {version} and no rustup to install {channel}: build \
                 with a builder image of that toolchain (`cargo xtask docker --builder-image \
                 rust:{channel}-bookworm`, or `--build-arg BUILDER_IMAGE=...`), or pin {version}"
            );
        }
        if install {
            run(
                "rustup",
                &[
                    "toolchain",
                    "install",
                    channel,
                    "--profile",
                    "minimal",
                    "--target",
                    &self.target,
                ],
            )?;
        }
        println!("toolchain: {channel} (the project's pin), installed by rustup");
        Ok(Some(channel.clone()))
    }
}

/// Whether a pinned channel is the toolchain of `rustc --version` `version`: `1.96` is any
/// 1.96.x, `1.96.0` only itself; `stable` the builder's stable release.
fn channel_matches(channel: &str, version: &str) -> bool {
    let release = version.split('-').next().unwrap_or(version);
    let stable = !version.contains('-');
    channel == version
        || (stable && channel == "stable")
        || (stable && channel.matches('.').count() == 1 && {
            release.starts_with(channel) && release[channel.len()..].starts_with('.')
        })
}

/// `cargo build` with the toolchain the project pins, if any.
fn cargo_with(args: &[&str], target_dir: &Path, toolchain: Option<&str>) -> anyhow::Result<()> {
    let mut vars = vec![("CARGO_TARGET_DIR", target_dir)];
    if let Some(toolchain) = toolchain {
        vars.push(("RUSTUP_TOOLCHAIN", Path::new(toolchain)));
    }
    compile::cargo(args, &vars)
}

/// `rust-alpine cook RECIPE CACHE`: the skeleton into the working directory, every dependency
/// compiled in CACHE (a cache mount that outlives the layer: when the recipe changes, only what
/// changed compiles), and CACHE's output for the target copied into ./target, so that a build
/// without the mount (CI) still reuses the layer.
pub fn cook(recipe: &Path, cache: &Path) -> anyhow::Result<()> {
    let recipe = Recipe::read(recipe)?;
    let toolchain = recipe.toolchain(true)?;
    let here = env::current_dir()?;
    copy(&[path_str(&recipe.dir.join("skeleton/."))?], &here)?;
    let dir = profile_dir(&recipe.profile);
    fs::write(PROFILE_DIR_FILE, dir)?;
    let profile_config = path_str(&recipe.dir.join("profile.toml"))?.to_owned();
    if recipe.vendored.is_some() {
        println!("{OFFLINE_NOTE}");
    }
    // The only step that fetches: private sources with the `credentials` secret and the
    // forwarded SSH agent, if the build has them (for cargo alone; nothing written here).
    let settings = compile::settings(Path::new(private::SECRET_PATH))?.unwrap_or_default();
    let socket = env::var("SSH_AUTH_SOCK").ok();
    let fetch = private::fetch_environment(&here, &settings, socket.as_deref())?;
    if fetch.needs_git && (compile::on_path("git").is_none() || compile::on_path("ssh").is_none()) {
        apt_install(&["git", "openssh-client"])?;
    }
    let mut vars: Vec<(&str, &std::ffi::OsStr)> = fetch
        .vars
        .iter()
        .map(|(name, value)| (name.as_str(), std::ffi::OsStr::new(value)))
        .collect();
    vars.push(("CARGO_TARGET_DIR", cache.as_os_str()));
    if let Some(toolchain) = &toolchain {
        vars.push(("RUSTUP_TOOLCHAIN", std::ffi::OsStr::new(toolchain)));
    }
    let mut args = recipe.build_args(&profile_config);
    args.extend(fetch.args.iter().map(String::as_str));
    compile::cargo_env(&args, &vars)?;
    drop(fetch);
    let target_dir = here.join("target");
    let built = cache.join(&recipe.target).join(dir);
    let into = target_dir.join(&recipe.target);
    fs::create_dir_all(&into)?;
    copy(&[path_str(&built)?], &into)?;
    // Build scripts and proc-macros, which run on the build platform.
    let host = cache.join(dir);
    if host.is_dir() {
        copy(&[path_str(&host)?], &target_dir)?;
    }
    Ok(())
}

/// `rust-alpine build RECIPE OUT [ENTRYPOINT]`: the real sources built; OUT becomes the
/// image's files (the final stage copies it to `/`): the entrypoint's binary at ENTRYPOINT
/// (the path the Dockerfile's ENTRYPOINT runs; default `/NAME`), every other shipped binary
/// at `/NAME` (and the entrypoint's too, as a link, when ENTRYPOINT is another name), the
/// settings' `include` at their paths (`/migrations`, ...: the working directory is `/`),
/// and with `zoneinfo = true` the time zone database.
pub fn build(recipe: &Path, out: &Path, entrypoint: Option<&str>) -> anyhow::Result<()> {
    let recipe = Recipe::read(recipe)?;
    let toolchain = recipe.toolchain(false)?;
    let here = env::current_dir()?;
    // COPY keeps the sources' (older) mtimes, and cargo must never take the placeholders'
    // artifacts for a build of them (the dummy-main bug): every file is touched first, so every
    // path package compiles from its real sources; registry crates are fingerprinted by version
    // and stay. (Deleting the placeholders' artifacts instead, `cargo clean -p NAME`, also
    // deletes those of a registry crate of the same name.)
    //
    // Vendored crates are registry crates too, but cargo reruns their build scripts when a
    // file they name in `rerun-if-changed` is newer than their last run (libc's build.rs),
    // and everything above them with it: they get one fixed time long past instead, here and
    // whatever mtimes the context gave them.
    let vendored = recipe.vendored.as_ref().map(|dir| here.join(dir));
    let mut skip = vec![here.join("target")];
    skip.extend(vendored.clone());
    touch_tree(&here, &skip, SystemTime::now())?;
    if let Some(vendored) = &vendored {
        let past = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(VENDORED_MTIME_SECS);
        touch_tree(vendored, &[], past)?;
        // Directories too: `rerun-if-changed` may name one (tikv-jemalloc-sys: `jemalloc`),
        // and cargo compares every entry below it, the directories' own mtimes included.
        set_dir_times(vendored, past)?;
    }
    let profile_config = path_str(&recipe.dir.join("profile.toml"))?.to_owned();
    let mut args = vec!["auditable"];
    args.extend(recipe.build_args(&profile_config));
    let target_dir = here.join("target");
    cargo_with(&args, &target_dir, toolchain.as_deref())?;
    let built = target_dir
        .join(&recipe.target)
        .join(profile_dir(&recipe.profile));
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (index, bin) in recipe.bins.iter().enumerate() {
        let to = match entrypoint.filter(|_| index == 0) {
            Some(entrypoint) => out.join(entrypoint.trim_start_matches('/')),
            None => out.join(bin),
        };
        fs::create_dir_all(to.parent().expect("a file"))?;
        fs::copy(built.join(bin), &to)
            .with_context(|| format!("copying {bin} to {}", to.display()))?;
        if index == 0 && to != out.join(bin) {
            let entrypoint = format!("/{}", to.strip_prefix(out)?.display());
            std::os::unix::fs::symlink(&entrypoint, out.join(bin))
                .with_context(|| format!("linking /{bin} to {entrypoint}"))?;
        }
    }
    ship(&here, out, toolchain.as_deref())
}

/// The builder's own toolchain, when it has rustup and nothing chose one: what a command that
/// only reads the project (`cargo metadata`) runs with, so that a toolchain file it does not
/// need makes rustup neither install nor refuse anything.
pub fn builder_toolchain() -> Option<String> {
    if env::var_os("RUSTUP_TOOLCHAIN").is_some() || compile::on_path("rustup").is_none() {
        return None;
    }
    let default = output_in("/", "rustup", &["default"]).ok()?;
    default.split_whitespace().next().map(str::to_owned)
}

/// The files an image ships besides its binaries, as the settings declare them: `include`
/// (paths of the project, at the same paths in the image, whose working directory is `/`) and
/// `zoneinfo` (the time zone database, which scratch and distroless/static lack), read-only for
/// the runtime user: owned by root, directories 0755, files 0644 (0755 when executable).
///
/// Copies the project's `include` and, when asked, the time zone database into `out`;
/// `toolchain`: the one the build ran with (`RUSTUP_TOOLCHAIN`), if the project pins one.
fn ship(project_dir: &Path, out: &Path, toolchain: Option<&str>) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(project_dir);
    if let Some(toolchain) = toolchain {
        sh.set_var("RUSTUP_TOOLCHAIN", toolchain);
    }
    let project = project::load(&sh)?;
    for path in &project.include {
        let from = project.root.join(path);
        let to = out.join(path);
        fs::create_dir_all(to.parent().expect("a path below out"))?;
        copy(&[path_str(&from)?], &to)?;
        read_only(&to)?;
        println!("include: /{path}");
    }
    if project.zoneinfo {
        let system = Path::new("/").join(project::ZONEINFO);
        if !system.join("UTC").is_file() {
            println!("zoneinfo: the builder has no time zone database: installing tzdata");
            apt_install(&["tzdata"])?;
        }
        let to = out.join(project::ZONEINFO);
        fs::create_dir_all(to.parent().expect("a path below out"))?;
        copy(&[path_str(&system)?], &to)?;
        // Leap-second (`right/`) and duplicate (`posix/`) trees: no reader needs them.
        for duplicate in ["right", "posix"] {
            let dir = to.join(duplicate);
            if fs::symlink_metadata(&dir).is_ok_and(|meta| meta.is_dir()) {
                fs::remove_dir_all(&dir)?;
            }
        }
        read_only(&to)?;
        println!("zoneinfo: /{}", project::ZONEINFO);
    }
    Ok(())
}

/// Makes `path` (a tree) readable and not writable by anyone but its owner, root.
fn read_only(path: &Path) -> anyhow::Result<()> {
    let meta = fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = match (meta.is_dir(), meta.permissions().mode() & 0o111 != 0) {
        (true, _) | (false, true) => 0o755,
        (false, false) => 0o644,
    };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            read_only(&entry)?;
        }
    }
    Ok(())
}

/// The modification time of vendored crates' files in the final build: 2001-09-09.
const VENDORED_MTIME_SECS: u64 = 1_000_000_000;

/// Sets the modification time of `dir` and of every directory below it to `time`.
fn set_dir_times(dir: &Path, time: SystemTime) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if fs::symlink_metadata(&path)?.is_dir() {
            set_dir_times(&path, time)?;
        }
    }
    fs::File::open(dir)
        .and_then(|file| file.set_modified(time))
        .with_context(|| format!("setting the mtime of {}", dir.display()))
}

/// Sets the modification time of every regular file under `dir` but those under `skip` to
/// `now`.
fn touch_tree(dir: &Path, skip: &[PathBuf], now: SystemTime) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if skip.contains(&path) {
            continue;
        }
        let kind = fs::symlink_metadata(&path)?.file_type();
        if kind.is_dir() {
            touch_tree(&path, skip, now)?;
        } else if kind.is_file() {
            fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|file| file.set_modified(now))
                .with_context(|| format!("touching {}", path.display()))?;
        }
    }
    Ok(())
}

/// `cp -a sources... into`: modes, symlinks and modification times kept (cargo's fingerprints
/// and build scripts' `rerun-if-changed` compare them).
pub fn copy(sources: &[&str], into: &Path) -> anyhow::Result<()> {
    let mut args = vec!["-a"];
    args.extend(sources);
    args.push(path_str(into)?);
    run("cp", &args)
}

pub fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Runs `exe args...`, output shown; an error names it when it fails.
fn run(exe: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(exe)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {exe}"))?;
    if !status.success() {
        bail!("{exe} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// What `exe args...` printed, trimmed.
fn output(exe: &str, args: &[&str]) -> anyhow::Result<String> {
    output_in(".", exe, args)
}

/// What `exe args...` printed, run in `dir`, trimmed.
fn output_in(dir: &str, exe: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(exe)
        .current_dir(dir)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {exe}"))?;
    if !output.status.success() {
        bail!(
            "{exe} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_profile_dirs() {
        assert_eq!(target_of("amd64").unwrap(), "x86_64-unknown-linux-musl");
        assert_eq!(target_of("arm64").unwrap(), "aarch64-unknown-linux-musl");
        let error = target_of("riscv64").unwrap_err().to_string();
        assert!(error.contains("linux/amd64 or linux/arm64"), "{error}");
        assert_eq!(profile_dir("dev"), "debug");
        assert_eq!(profile_dir("bench"), "release");
        assert_eq!(profile_dir("container"), "container");
    }

    #[test]
    fn a_pinned_channel_is_matched_against_the_builders_rustc() {
        for (channel, version, matches) in [
            ("1.96", "1.96.0", true),
            ("1.96", "1.96.2", true),
            ("1.96.0", "1.96.0", true),
            ("1.96.1", "1.96.0", false),
            ("1.9", "1.96.0", false),
            ("1.95", "1.96.0", false),
            ("stable", "1.96.0", true),
            ("stable", "1.97.0-nightly", false),
            ("nightly", "1.96.0", false),
            ("nightly-2026-01-01", "1.96.0", false),
        ] {
            assert_eq!(
                channel_matches(channel, version),
                matches,
                "{channel} {version}"
            );
        }
    }

    #[test]
    fn touch_tree_skips_the_target_directory() {
        let dir = env::temp_dir().join(format!("rust-alpine-touch-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("src/nested")).unwrap();
        fs::create_dir_all(dir.join("target")).unwrap();
        for file in ["src/main.rs", "src/nested/a.rs", "target/keep"] {
            fs::write(dir.join(file), "x").unwrap();
        }
        let then = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        touch_tree(&dir, &[dir.join("target")], then).unwrap();
        let mtime = |file: &str| fs::metadata(dir.join(file)).unwrap().modified().unwrap();
        assert_eq!(mtime("src/main.rs"), then);
        assert_eq!(mtime("src/nested/a.rs"), then);
        assert_ne!(mtime("target/keep"), then);
        set_dir_times(&dir.join("src"), then).unwrap();
        assert_eq!(mtime("src"), then);
        assert_eq!(mtime("src/nested"), then);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shipped_files_are_read_only_for_everyone_but_root() {
        let dir = std::env::temp_dir().join(format!("rust-alpine-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("tree/sub")).unwrap();
        let mode = |path: &str, mode: u32| {
            fs::set_permissions(dir.join(path), fs::Permissions::from_mode(mode)).unwrap()
        };
        fs::write(dir.join("tree/a.sql"), "x").unwrap();
        fs::write(dir.join("tree/sub/run.sh"), "x").unwrap();
        mode("tree/a.sql", 0o666);
        mode("tree/sub/run.sh", 0o777);
        mode("tree/sub", 0o777);
        read_only(&dir.join("tree")).unwrap();
        let seen = |path: &str| fs::metadata(dir.join(path)).unwrap().permissions().mode() & 0o777;
        assert_eq!(seen("tree"), 0o755);
        assert_eq!(seen("tree/sub"), 0o755);
        assert_eq!(seen("tree/a.sql"), 0o644);
        assert_eq!(seen("tree/sub/run.sh"), 0o755);
        fs::remove_dir_all(&dir).unwrap();
    }
}
