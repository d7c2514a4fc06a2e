//! `cargo xtask docker`: build the image, smoke-test it, check its size budget, report.

use std::time::Instant;

use anyhow::{Context, bail};
use xshell::Shell;

use crate::{
    budget,
    buildlog::{self, EMULATION_HINT},
    cache::{self, Change},
    engine::{self, Builder, Engine, Flavor},
    flags,
    platform::Platform,
    project,
    report::{Layer, Report},
    sccache,
    smoke::{self, Smoke},
};

/// What the image of every platform is built with.
struct Shared<'a> {
    sh: &'a Shell,
    engine: &'a Engine,
    project: &'a project::Project,
    /// Everything the engine's `build` gets but `--platform`, the tag and the context.
    args: Vec<String>,
    budget_bytes: u64,
}

impl flags::Docker {
    pub fn run(self) -> anyhow::Result<()> {
        let sh = Shell::new()?;
        let project = project::load(&sh)?;
        sh.change_dir(&project.root);
        for pin in ["rust-toolchain.toml", "rust-toolchain"] {
            if project.root.join(pin).exists() {
                eprintln!(
                    "note: {pin} does not apply to the image: the builder image's toolchain \
                     compiles it (choose another with --builder-image)"
                );
            }
        }
        let engine = Engine::choose(self.engine.clone())?;
        engine.check()?;
        let budget_text = self.budget.as_deref().unwrap_or(&project.size_budget);
        let budget_bytes = budget::parse_size(budget_text).with_context(|| {
            format!(
                "reading size-budget ({} in Cargo.toml or --budget)",
                project.settings_table
            )
        })?;
        let tag = self
            .tag
            .clone()
            .unwrap_or_else(|| format!("{}:{}", project.package().name, project.package().version));
        // Opt-in: with SCCACHE_* set, every compile of the build runs under sccache.
        let settings = sccache::settings(std::env::vars());
        let secret = match settings.is_empty() {
            true => None,
            false => Some(
                sccache::Secret::write(&settings)
                    .context("writing the sccache settings for the build (a secret)")?,
            ),
        };
        let mut args = self.build_args(&engine, &project)?;
        if let Some(secret) = &secret {
            let host_network = sccache::needs_host_network(&settings);
            if host_network {
                eprintln!(
                    "note: the sccache backend is on this machine's loopback: building on the \
                     host's network (--network=host)"
                );
            }
            args.extend(secret.build_args(host_network));
        }
        remove_containers_on_ctrl_c();

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
        };
        let reports = targets
            .into_iter()
            .map(|(platform, tag)| self.image(&shared, platform, &tag))
            .collect::<anyhow::Result<Vec<Report>>>()?;

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
            budget_bytes,
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

        let image = engine.image(tag)?;
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
        let emulated = Platform::parse(image.architecture()).is_ok_and(Platform::emulated);
        let smoke = Smoke {
            engine,
            tag,
            image: &image,
            project,
        };
        let smoke::Outcome {
            steps,
            binary_bytes,
            sbom_crates,
        } = smoke.run();
        let mut changes = Vec::new();
        if self.check_cache {
            changes.extend([Change::Touch, Change::Source]);
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
        if let Err(over) = budget::check(image.size(), budget_bytes) {
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
            runtime: project.runtime.clone(),
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
            image_bytes: image.size(),
            budget_bytes,
            binary_bytes,
            sbom_crates,
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
    ) -> anyhow::Result<Vec<String>> {
        let mut args = Vec::new();
        if engine.flavor == Flavor::Docker {
            args.push("--progress=plain".to_owned());
        }
        if self.no_cache {
            args.push("--no-cache".to_owned());
        }
        let mut build_arg = |name: &str, value: &str| {
            args.push("--build-arg".to_owned());
            args.push(format!("{name}={value}"));
        };
        build_arg("VERSION", &project.package().version);
        if let Some(profile) = &self.profile {
            build_arg("CARGO_PROFILE", profile);
        }
        if let Some(image) = &self.builder_image {
            build_arg("BUILDER_IMAGE", image);
        }
        if let Some(image) = &self.runtime_image {
            if project.runtime == "scratch" {
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
