//! `cargo xtask docker`: build the image, smoke-test it, check its size budget, report.

use std::{path::Path, time::Instant};

use anyhow::{Context, bail};
use xshell::Shell;

use crate::{
    budget,
    buildlog::{self, EMULATION_HINT},
    cache::{self, Change},
    engine::{self, Builder, Engine},
    flags, mounts,
    platform::Platform,
    private, project,
    report::{Layer, Report},
    sccache,
    selection::{self, Selection},
    smoke::{self, Smoke},
    tool, upgrade, vendor,
};

/// What the image of every platform is built with.
struct Shared<'a> {
    sh: &'a Shell,
    engine: &'a Engine,
    project: &'a project::Project,
    /// Everything the engine's `build` gets but `--platform`, the tag and the context.
    args: Vec<String>,
    /// `None`: the project sets no budget; each image gets [`budget::default_budget`].
    budget_bytes: Option<u64>,
    /// The final stage's base: the setting, else read from the Dockerfile.
    runtime: String,
    /// False for an unoptimized build with debug info (`--profile dev` or `test`, many times
    /// the shipped size) without `--budget`: the size is reported, not judged.
    budget_checked: bool,
    /// The engine server's architecture (`amd64`), when it says.
    engine_arch: Option<String>,
}

impl flags::Docker {
    pub fn run(self) -> anyhow::Result<()> {
        let sh = Shell::new()?;
        let project = project::load(&sh)?;
        sh.change_dir(&project.root);
        // The one-off selection, checked here as the planner will.
        let features =
            Selection::flags(&self.features, self.no_default_features, self.all_features);
        Selection::of_project(&project)?
            .with_flags(&features)?
            .check(&project, "--features")?;
        // The owned files are this version's, without conflicts left by `cargo xtask upgrade`.
        upgrade::check(&project.root)?;
        let dockerfile = std::fs::read_to_string(project.root.join("Dockerfile")).context(
            "reading Dockerfile (add it with `cargo generate gh:org/rust-alpine template --init`)",
        )?;
        let runtime = check_dockerfile(&dockerfile, project.runtime.as_deref())?;
        check_context(&project.root)?;
        // A vendored project's directory must hold every crate of Cargo.lock: cargo's own
        // error, deep in the image build, does not say what to do.
        vendor::check(&project.root, &vendor::configs(&project.root)?)?;
        // Every input is checked before the engine is asked anything, and long before a build.
        let budget_bytes = match (&self.budget, &project.size_budget) {
            (Some(text), _) => Some(budget::parse_budget(text).context("--budget")?),
            (None, Some(text)) => Some(budget::parse_budget(text).with_context(|| {
                format!("size-budget in {} in Cargo.toml", project.settings_table)
            })?),
            (None, None) => None,
        };
        let package = project.package();
        let tag = match &self.tag {
            Some(tag) => tag.clone(),
            None => {
                let tag = format!("{}:{}", package.name, package.version);
                flags::check_tag(&tag).context(
                    "the default tag, <package>:<version>; choose one with --tag my-app:1.0",
                )?;
                tag
            }
        };
        // `container` is the Dockerfile's own when the project defines none.
        if let Some(profile) = self
            .profile
            .as_deref()
            .filter(|profile| *profile != "container")
        {
            check_profile_defined(&sh, profile)?;
        }
        let mounts_dir = match &self.cache_mounts {
            Some(dir) => Some(mounts::checked_dir(dir, &project.root)?),
            None => None,
        };
        // Private dependencies: the SSH agent and the tokens the fetching step needs, checked
        // now (a missing one stops here, with the fix); never printed.
        let access = private::Access::check(
            &project.root,
            |name| std::env::var(name).ok(),
            private::cargo_credentials().as_deref(),
        )?;
        let engine = Engine::choose(self.engine.clone())?;
        let server = engine.check()?;
        // Opt-in: with SCCACHE_* set, every compile of the build runs under sccache.
        let settings = sccache::settings(std::env::vars());
        let secret = match settings.is_empty() {
            true => None,
            false => Some(
                sccache::Secret::write(&settings)
                    .context("writing the sccache settings for the build (a secret)")?,
            ),
        };
        for note in &access.notes {
            eprintln!("note: {note}");
        }
        let credentials = match access.settings.is_empty() {
            true => None,
            false => Some(
                sccache::Secret::write_as(private::SECRET_ID, &access.settings)
                    .context("writing the private dependencies' credentials (a secret)")?,
            ),
        };
        let mut args = self.build_args(&engine, &project, &runtime)?;
        args.extend(access.build_args());
        if let Some(credentials) = &credentials {
            args.extend(credentials.build_args(false));
        }
        let index = tool::index(&project.root)?;
        // A network of the user's (`--build-flag=--network=none`: the air-gapped build, with
        // the tools baked into the builder) stands: nothing below asks for the host's.
        let network_given = self
            .build_flags
            .iter()
            .any(|flag| flag == "--network" || flag.starts_with("--network="));
        let mut host_network = network_given;
        if let Some(index) = &index {
            args.push("--build-arg".to_owned());
            args.push(format!("RUST_ALPINE_INDEX={index}"));
            if tool::is_loopback(index) && !host_network {
                eprintln!(
                    "note: rust-alpine {} comes from {index}, on this machine's loopback: \
                     building on the host's network (--network=host)",
                    tool::VERSION
                );
                host_network = true;
            }
        }
        if let Some(secret) = &secret {
            let sccache_network = sccache::needs_host_network(&settings);
            if sccache_network && !host_network {
                eprintln!(
                    "note: the sccache backend is on this machine's loopback: building on the \
                     host's network (--network=host)"
                );
            }
            args.extend(secret.build_args(sccache_network && !host_network));
            host_network |= sccache_network;
        }
        if access.loopback && !host_network {
            eprintln!(
                "note: a private source is on this machine's loopback: building on the host's \
                 network (--network=host)"
            );
            host_network = true;
        }
        if host_network && !network_given && !args.iter().any(|arg| arg == "--network=host") {
            args.push("--network=host".to_owned());
        }
        let carry = match mounts_dir {
            Some(dir) => Some(mounts::Carry::new(
                &engine,
                &dockerfile,
                dir,
                self.builder_image.as_deref(),
                &self.build_flags,
            )?),
            None => None,
        };
        remove_containers_on_ctrl_c();
        let restored = carry.as_ref().map(|carry| carry.restore(&engine));

        // One platform at a time: an image store without containerd (Docker's classic one,
        // and buildx's --load) holds one platform per tag, and every platform is smoke-tested.
        let several = self.platforms.len() > 1;
        let targets: Vec<(Option<Platform>, String)> = match self.platforms.as_slice() {
            [] => vec![(None, tag)],
            [platform] => vec![(Some(*platform), tag)],
            platforms => platforms
                .iter()
                .map(|platform| (Some(*platform), format!("{tag}-{}", platform.arch())))
                .collect(),
        };
        let shared = Shared {
            sh: &sh,
            engine: &engine,
            project: &project,
            args,
            budget_bytes,
            runtime,
            budget_checked: self.budget.is_some()
                || !matches!(self.profile.as_deref(), Some("dev" | "test")),
            engine_arch: server.arch,
        };
        let mut reports = targets
            .into_iter()
            .map(|(platform, tag)| self.image(&shared, platform, &tag))
            .collect::<anyhow::Result<Vec<Report>>>()?;
        if let (Some(carry), Some((mut carried, warning))) = (carry, restored) {
            let saved = carry.save(&engine, &mut carried);
            for report in &mut reports {
                report.warnings.extend(warning.clone());
                if let Err(error) = &saved {
                    report.errors.push(format!("cache mounts: {error:#}"));
                    report.ok = false;
                }
                report.cache_mounts = Some(carried.clone());
            }
        }

        if self.json {
            // One platform: its report, as always; several: one report per platform.
            let json = match reports.as_slice() {
                [report] => report.json(),
                reports => serde_json::json!({
                    "ok": reports.iter().all(|report| report.ok),
                    "platforms": reports.iter().map(Report::json).collect::<Vec<_>>(),
                }),
            };
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else {
            for report in &reports {
                print!("{}", report.human());
            }
        }
        let errors: Vec<String> = reports
            .iter()
            .flat_map(|report| {
                report.errors.iter().map(move |error| match several {
                    true => format!("{}: {error}", report.platform),
                    false => error.clone(),
                })
            })
            .collect();
        if !errors.is_empty() {
            bail!(
                "{} check(s) failed:\n  {}",
                errors.len(),
                errors.join("\n  ")
            );
        }
        Ok(())
    }

    /// Builds, smoke-tests and size-checks the image of one platform (`None`: the engine's
    /// default) as `tag`.
    fn image(
        &self,
        shared: &Shared,
        platform: Option<Platform>,
        tag: &str,
    ) -> anyhow::Result<Report> {
        let Shared {
            sh,
            engine,
            project,
            budget_checked,
            ..
        } = *shared;
        let mut args = shared.args.clone();
        if let Some(platform) = platform {
            args.extend(["--platform".to_owned(), platform.name()]);
        }
        let builder = Builder { engine, args };
        let previous = engine.image(tag).ok().map(|image| image.id().to_owned());
        let started = Instant::now();
        let log = builder.build(&project.root, tag)?;
        let build_seconds = started.elapsed().as_secs_f64();

        let image = engine.image(tag).with_context(|| {
            format!(
                "the build succeeded but the engine has no image {tag}: a buildx builder of \
                 the docker-container driver (--build-flag=--builder=NAME, BUILDX_BUILDER) \
                 keeps what it builds; add --build-flag=--load"
            )
        })?;
        if let Some(previous) = previous.filter(|previous| previous != image.id()) {
            // The tag moved: the image it named is now dangling, unless something else uses
            // it (another tag, a container), in which case the engine refuses and keeps it.
            engine.remove_image(&previous);
        }
        let compile_cache = sccache::stats(log.iter().map(String::as_str));
        let warnings: Vec<String> = compile_cache
            .iter()
            .filter_map(sccache::Stats::warning)
            .collect();
        let engine_arch = shared.engine_arch.as_deref();
        let emulated =
            Platform::parse(image.architecture()).is_ok_and(|image| image.emulated(engine_arch));
        let smoke = Smoke {
            engine,
            tag,
            image: &image,
            project,
        };
        let smoke::Outcome {
            steps,
            binary_bytes,
            debug_bytes,
            sbom_crates,
            shipped,
        } = smoke.run();
        let debug_bytes = debug_bytes.unwrap_or(0);
        // Without a budget of the project's, one for this binary: when it could not be read
        // (its step failed, and says why), the image's size is not judged.
        // What else the image ships (binaries, files, zoneinfo) counts as the binary does.
        let others: u64 = shipped.iter().map(|(_, bytes)| bytes).sum();
        let budget_bytes = shared.budget_bytes.unwrap_or_else(|| {
            binary_bytes.map_or(image.size(), |binary| {
                budget::default_budget(binary + others, debug_bytes, &shared.runtime)
            })
        });
        let mut changes = Vec::new();
        if self.check_cache {
            changes.extend([Change::Touch, Change::Source, Change::ManifestComment]);
        }
        if self.check_version_bump {
            changes.push(Change::VersionBump);
        }
        let cache_checks = cache::check(&builder, sh, project, &changes);

        let mut errors: Vec<String> = steps
            .iter()
            .filter(|step| !step.ok)
            .map(|step| format!("{}: {}", step.name, step.detail))
            .chain(
                cache_checks
                    .iter()
                    .filter(|check| !check.ok)
                    .map(|check| format!("cache ({}): {}", check.name, check.detail)),
            )
            .collect();
        if let Some(platform) = platform.filter(|platform| platform.arch() != image.architecture())
        {
            errors.push(format!(
                "platform: the engine built a {} image for --platform {}: the Dockerfile's \
                 final stage must not pin a platform",
                image.architecture(),
                platform.name()
            ));
        }
        if emulated
            && errors
                .iter()
                .any(|error| error.contains("exec format error"))
        {
            errors.push(format!("emulation: {EMULATION_HINT}"));
        }
        let mut largest_layers = Vec::new();
        let over_budget = match budget_checked {
            true => budget::check(image.size(), budget_bytes, debug_bytes).err(),
            false => None,
        };
        if let Some(over) = over_budget {
            errors.push(format!("size: {over}"));
            largest_layers = engine
                .largest_layers(tag)?
                .into_iter()
                .take(5)
                .map(|(bytes, created_by)| Layer { bytes, created_by })
                .collect();
        }
        let kind = if image.has_healthcheck() {
            "service"
        } else {
            "cli"
        };
        Ok(Report {
            ok: errors.is_empty(),
            image: tag.to_owned(),
            image_id: image.id().to_owned(),
            engine: engine.program.clone(),
            runtime: shared.runtime.clone(),
            bin: project.bin.clone(),
            kind: kind.to_owned(),
            platform: format!("linux/{}", image.architecture()),
            emulated,
            profile: self
                .profile
                .clone()
                .unwrap_or_else(|| "container".to_owned()),
            build_seconds,
            compiled: buildlog::compiled_crates(log.iter().map(String::as_str)),
            compile_cache,
            cache_mounts: None,
            image_bytes: image.size(),
            budget_bytes,
            budget_checked,
            binary_bytes,
            sbom_crates,
            shipped,
            steps,
            cache_checks,
            largest_layers,
            warnings,
            errors,
        })
    }

    /// Everything `build` passes but the tag and the context.
    fn build_args(
        &self,
        engine: &Engine,
        project: &project::Project,
        runtime: &str,
    ) -> anyhow::Result<Vec<String>> {
        let mut args: Vec<String> = engine
            .build_flags()
            .iter()
            .map(|&flag| flag.into())
            .collect();
        if self.no_cache {
            args.push("--no-cache".to_owned());
        }
        let mut build_arg = |name: &str, value: &str| {
            args.push("--build-arg".to_owned());
            args.push(format!("{name}={value}"));
        };
        build_arg("VERSION", &project.package().version);
        let features =
            Selection::flags(&self.features, self.no_default_features, self.all_features);
        if !features.is_empty() {
            build_arg(selection::FEATURES_ARG, &features);
        }
        if let Some(profile) = &self.profile {
            build_arg("CARGO_PROFILE", profile);
        }
        if let Some(image) = &self.builder_image {
            build_arg("BUILDER_IMAGE", image);
        }
        if let Some(image) = &self.runtime_image {
            if runtime == "scratch" {
                bail!("--runtime-image does not apply: this project's final stage is FROM scratch");
            }
            build_arg("RUNTIME_IMAGE", image);
        }
        // Only a label that has a value: the Dockerfile sets none it might leave empty.
        if let Some(source) = project
            .package()
            .repository
            .as_deref()
            .filter(|url| !url.is_empty())
        {
            args.push("--label".to_owned());
            args.push(format!("org.opencontainers.image.source={source}"));
        }
        args.extend(self.build_flags.iter().cloned());
        Ok(args)
    }
}

/// Checks that the Dockerfile is this template's (`cargo generate --init` skips a Dockerfile the
/// project already has, and keeps it); returns the runtime of its final stage.
/// What the build context must leave out, and the ignore-file lines that do it: the history
/// changes with every git operation and `target/` with every build, so either in the context
/// makes the final `COPY . .` miss the cache on an untouched tree (and ships them to the engine).
const LEFT_OUT: [(&str, &[&str]); 2] = [
    (
        ".git/",
        &[
            ".git", ".git/", "/.git", "/.git/", ".git/**", "**/.git", "**/.git/",
        ],
    ),
    (
        "target/",
        &[
            "target",
            "target/",
            "/target",
            "/target/",
            "target/**",
            "**/target",
            "**/target/",
        ],
    ),
];

/// Refuses a build context that carries the repository's history or the build output: the
/// project's ignore file (BuildKit reads `Dockerfile.dockerignore` before `.dockerignore`) must
/// leave out `.git/` and `target/`. An adopted project keeps its own `.dockerignore`, which
/// often ignores `target` alone.
fn check_context(root: &Path) -> anyhow::Result<()> {
    let (name, text) = ["Dockerfile.dockerignore", ".dockerignore"]
        .iter()
        .find_map(|name| {
            std::fs::read_to_string(root.join(name))
                .ok()
                .map(|text| (*name, text))
        })
        .unwrap_or((".dockerignore", String::new()));
    let missing = context_leaks(&text);
    if missing.is_empty() {
        return Ok(());
    }
    bail!(
        "{name} does not leave {} out of the build context: it would change with every git \
         operation or build, so the final `COPY . .` would miss the cache on an untouched tree \
         (and the engine would receive all of it); add {} to {name}:\n{}",
        missing.join(" and "),
        if missing.len() == 1 {
            "this line"
        } else {
            "these lines"
        },
        missing
            .iter()
            .map(|line| format!("  {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// The lines of [`LEFT_OUT`] an ignore file's text lacks.
fn context_leaks(ignore: &str) -> Vec<&'static str> {
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    LEFT_OUT
        .iter()
        .filter(|(_, spellings)| !patterns.iter().any(|line| spellings.contains(line)))
        .map(|(line, _)| *line)
        .collect()
}

fn check_dockerfile(dockerfile: &str, setting: Option<&str>) -> anyhow::Result<String> {
    if !dockerfile.contains("rust-alpine plan") {
        bail!(
            "Dockerfile is not rust-alpine's (it has no recipe stage running `rust-alpine plan`): \
             `cargo generate --init` keeps a Dockerfile that was already there; move yours \
             aside (say to Dockerfile.old) and run `cargo generate gh:org/rust-alpine template \
             --init` again"
        );
    }
    tool::check_pinned(dockerfile)?;
    match (setting, project::runtime_of_dockerfile(dockerfile)) {
        (Some(setting), _) => Ok(setting.to_owned()),
        (None, Some(found)) => Ok(found.to_owned()),
        (None, None) => bail!(
            "which runtime is the Dockerfile's final stage? Set runtime = \"scratch\", \
             \"alpine\" or \"distroless\" in [package.metadata.docker] (or \
             [workspace.metadata.docker]) of Cargo.toml"
        ),
    }
}

/// Asks cargo whether `profile` is defined here (Cargo.toml, .cargo/config.toml, or built in),
/// so that a typo fails now and not minutes into the image build. `clean --dry-run` reads the
/// profiles and deletes nothing; any other complaint (an older cargo without `--dry-run`) is
/// left to the build.
fn check_profile_defined(sh: &Shell, profile: &str) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let scratch = sh.create_temp_dir()?;
    let target_dir = scratch.path();
    let output = xshell::cmd!(
        sh,
        "{cargo} clean --quiet --dry-run --profile {profile} --target-dir {target_dir}"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("asking cargo about --profile")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success()
        && (stderr.contains("is not defined") || stderr.contains("reserved"))
    {
        bail!(
            "--profile {profile}: cargo says: {}; use `container` (the default), `release`, \
             `dev`, or define [profile.{profile}] in Cargo.toml",
            stderr.trim().trim_start_matches("error: ")
        );
    }
    Ok(())
}

/// On Ctrl-C, removes the containers (and the sccache secret) this process created, then
/// exits 130.
fn remove_containers_on_ctrl_c() {
    let installed = ctrlc::set_handler(|| {
        sccache::remove_secrets();
        let removed = engine::remove_live_containers();
        eprintln!("\ninterrupted: removed {removed} container(s)");
        std::process::exit(130);
    });
    if let Err(error) = installed {
        eprintln!("warning: containers may be left behind on Ctrl-C: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_must_leave_out_history_and_build_output() {
        assert_eq!(context_leaks("target/\n.git/\n"), Vec::<&str>::new());
        assert_eq!(
            context_leaks("# ours\n/target\n**/.git\n"),
            Vec::<&str>::new()
        );
        assert_eq!(context_leaks("target\n"), vec![".git/"]);
        assert_eq!(context_leaks("# .git/\n"), vec![".git/", "target/"]);
        assert_eq!(context_leaks(""), vec![".git/", "target/"]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "target\n").unwrap();
        let error = check_context(dir.path()).unwrap_err().to_string();
        assert!(
            error.starts_with(".dockerignore does not leave .git/ out"),
            "{error}"
        );
        assert!(
            error.ends_with("add this line to .dockerignore:\n  .git/"),
            "{error}"
        );
        // BuildKit reads the Dockerfile's own ignore file first.
        std::fs::write(dir.path().join("Dockerfile.dockerignore"), ".git\ntarget\n").unwrap();
        check_context(dir.path()).unwrap();
    }
}
