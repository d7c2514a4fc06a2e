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
    smoke::{self, Smoke},
};

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
        let engine = Engine::choose(self.engine.clone());
        engine.check(&sh)?;
        let budget_text = self
            .budget
            .as_deref()
            .unwrap_or(&project.docker.size_budget);
        let budget_bytes = budget::parse_size(budget_text).context(
            "reading size-budget ([workspace.metadata.docker] in Cargo.toml or --budget)",
        )?;
        let tag = self
            .tag
            .clone()
            .unwrap_or_else(|| format!("{}:{}", project.name, project.version));
        let args = self.build_args(&engine, &project)?;
        engine::remove_containers_on_ctrl_c();

        // One platform at a time: an image store without containerd (Docker's classic one,
        // and buildx's --load) holds one platform per tag, and every platform is smoke-tested.
        let several = self.platforms.len() > 1;
        let mut reports = Vec::new();
        if self.platforms.is_empty() {
            reports.push(self.image(&sh, &engine, &project, &args, None, &tag, budget_bytes)?);
        }
        for &platform in &self.platforms {
            let tag = if several {
                format!("{tag}-{}", platform.arch())
            } else {
                tag.clone()
            };
            let report = self.image(
                &sh,
                &engine,
                &project,
                &args,
                Some(platform),
                &tag,
                budget_bytes,
            )?;
            reports.push(report);
        }

        if self.json {
            // One platform: its report, as always; several: one report per platform.
            let json = match reports.as_slice() {
                [report] => serde_json::to_value(report)?,
                reports => serde_json::json!({
                    "ok": reports.iter().all(|report| report.ok),
                    "platforms": reports,
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
    #[allow(clippy::too_many_arguments)]
    fn image(
        &self,
        sh: &Shell,
        engine: &Engine,
        project: &project::Project,
        args: &[String],
        platform: Option<Platform>,
        tag: &str,
        budget_bytes: u64,
    ) -> anyhow::Result<Report> {
        let mut args = args.to_vec();
        if let Some(platform) = platform {
            args.extend(["--platform".to_owned(), platform.name()]);
        }
        let builder = Builder { engine, sh, args };
        let previous = engine.image(sh, tag).ok().map(|image| image.id);
        let started = Instant::now();
        let log = builder.build(&project.root, tag)?;
        let build_seconds = started.elapsed().as_secs_f64();

        let image = engine.image(sh, tag)?;
        if let Some(previous) = previous.filter(|previous| *previous != image.id) {
            // The tag moved: the image it named is now dangling, unless something else uses
            // it (another tag, a container), in which case the engine refuses and keeps it.
            builder.remove_image(&previous);
        }
        let emulated = Platform::parse(&image.architecture).is_ok_and(Platform::emulated);
        let smoke = Smoke {
            engine,
            sh,
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
        if let Some(platform) = platform.filter(|platform| platform.arch() != image.architecture) {
            errors.push(format!(
                "platform: the engine built a {} image for --platform {}: the Dockerfile's \
                 final stage must not pin a platform",
                image.architecture,
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
        if let Err(over) = budget::check(image.size, budget_bytes) {
            errors.push(format!("size: {over}"));
            largest_layers = engine
                .largest_layers(sh, tag)?
                .into_iter()
                .take(5)
                .map(|(bytes, created_by)| Layer { bytes, created_by })
                .collect();
        }
        let kind = if image.config.healthcheck.is_some() {
            "service"
        } else {
            "cli"
        };
        Ok(Report {
            ok: errors.is_empty(),
            image: tag.to_owned(),
            image_id: image.id.clone(),
            engine: engine.program.clone(),
            runtime: project.docker.runtime.clone(),
            bin: project.bin.clone(),
            kind: kind.to_owned(),
            platform: format!("linux/{}", image.architecture),
            emulated,
            profile: self
                .profile
                .clone()
                .unwrap_or_else(|| "container".to_owned()),
            build_seconds,
            compiled: buildlog::compiled_crates(log.iter().map(String::as_str)),
            image_bytes: image.size,
            budget_bytes,
            binary_bytes,
            sbom_crates,
            steps,
            cache_checks,
            largest_layers,
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
        build_arg("VERSION", &project.version);
        if let Some(profile) = &self.profile {
            build_arg("CARGO_PROFILE", profile);
        }
        if let Some(image) = &self.builder_image {
            build_arg("BUILDER_IMAGE", image);
        }
        if let Some(image) = &self.runtime_image {
            if project.docker.runtime == "scratch" {
                bail!("--runtime-image does not apply: this project's final stage is FROM scratch");
            }
            build_arg("RUNTIME_IMAGE", image);
        }
        // Only a label that has a value: the Dockerfile sets none it might leave empty.
        if let Some(source) = project.repository.as_deref().filter(|url| !url.is_empty()) {
            args.push("--label".to_owned());
            args.push(format!("org.opencontainers.image.source={source}"));
        }
        args.extend(self.build_flags.iter().cloned());
        Ok(args)
    }
}
