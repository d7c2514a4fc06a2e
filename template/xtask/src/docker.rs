//! `cargo xtask docker`: build the image, smoke-test it, check its size budget, report.

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::{
    budget,
    cache::{self, Change},
    engine::{Engine, Flavor},
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
        smoke::remove_containers_on_ctrl_c();

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
                    .map(|check| format!("cache ({}): {}", check.change, check.detail)),
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
            compiled: cache::compiled_crates(&log),
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

/// Builds images with the engine, always with the same arguments.
pub struct Builder<'a> {
    pub engine: &'a Engine,
    pub sh: &'a Shell,
    pub args: Vec<String>,
}

impl Builder<'_> {
    /// Builds the context `dir` as `tag`, streaming the engine's output to stderr (stdout is
    /// kept for `--json`); returns that output. Failures people hit most get a hint.
    pub fn build(&self, dir: &Path, tag: &str) -> anyhow::Result<Vec<String>> {
        let (program, args) = (&self.engine.program, &self.args);
        eprintln!(
            "$ {program} build --tag {tag} {} {}",
            args.join(" "),
            dir.display()
        );
        let mut command: Command = cmd!(self.sh, "{program} build --tag {tag} {args...} {dir}")
            .env("DOCKER_BUILDKIT", "1")
            .into();
        let mut child = command
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running `{program} build`"))?;
        let mut log = Vec::new();
        let mut stderr = std::io::stderr();
        for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
            let line = line?;
            let _ = writeln!(stderr, "{line}");
            log.push(line);
        }
        let status = child.wait()?;
        if !status.success() {
            bail!(
                "`{program} build` failed ({status}){}{}",
                first_errors(&log),
                build_hint(&log.join("\n"))
            );
        }
        Ok(log)
    }

    /// Removes an image by tag or id, unless the engine refuses (it is still in use).
    pub fn remove_image(&self, image: &str) {
        let program = &self.engine.program;
        let _ = cmd!(self.sh, "{program} rmi {image}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .ignore_status()
            .run();
    }
}

/// The first lines of the log that report an error (cargo's, a compiler's, the planner's),
/// without BuildKit's step prefix: the failure itself, not only that the build failed.
pub fn first_errors(log: &[String]) -> String {
    let errors: Vec<&str> = log
        .iter()
        .map(|line| match line.split_once(' ') {
            Some((step, rest)) if step.starts_with('#') => rest
                .split_once(' ')
                .filter(|(time, _)| time.parse::<f64>().is_ok())
                .map_or(rest, |(_, text)| text),
            _ => line.as_str(),
        })
        .filter(|text| text.trim_start().starts_with("error"))
        .take(3)
        .collect();
    errors
        .iter()
        .map(|text| format!("\n  {}", text.trim()))
        .collect()
}

/// Running a foreign platform's binaries needs qemu-user registered with binfmt_misc.
const EMULATION_HINT: &str = "this host cannot run binaries of that platform: register \
     qemu-user with binfmt_misc (Debian/Ubuntu: `apt-get install qemu-user-static binfmt-support`; \
     Docker Desktop has it; elsewhere `docker run --privileged --rm tonistiigi/binfmt --install arm64,amd64`)";

/// What to do about the build failures that have a known cause.
pub fn build_hint(log: &str) -> String {
    let hints = [
        (
            "buildx component is missing",
            "this docker client needs the buildx plugin for BuildKit: install it \
             (docker-buildx-plugin) or use a client with BuildKit built in (DOCKER=/usr/bin/docker)",
        ),
        (
            "legacy builder is deprecated",
            "the legacy builder cannot build this Dockerfile (RUN --mount, stage ARGs): \
             enable BuildKit (install the buildx plugin)",
        ),
        (
            "pull access denied",
            "a base image cannot be pulled: pass one that exists locally or on your mirror \
             with --builder-image / --runtime-image",
        ),
        (
            "failed to resolve source metadata",
            "a base image cannot be pulled: pass one that exists locally or on your mirror \
             with --builder-image / --runtime-image",
        ),
        (
            // cargo 1.96: "cannot update the lock file ... because --locked was passed to
            // prevent this"; older: "needs to be updated but --locked was passed".
            "--locked was passed",
            "Cargo.lock does not match Cargo.toml: run `cargo update --workspace` (or any \
             `cargo build`) on the host and commit Cargo.lock",
        ),
        (
            "recipe.sh: error:",
            "the Dockerfile's planner (docker/recipe.sh) refused the project: its message is \
             above",
        ),
        ("exec format error", EMULATION_HINT),
        (
            "Cannot connect to the Docker daemon",
            "start the Docker daemon, or point DOCKER_HOST at a running engine",
        ),
    ];
    hints
        .iter()
        .filter(|(needle, _)| log.contains(needle))
        .map(|(_, hint)| format!("\nhint: {hint}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_errors_are_quoted_without_buildkit_prefixes() {
        let log: Vec<String> = [
            "#16 0.401 error: failed to select a version for the requirement `core = \"^0.3\"`",
            "#16 0.401 candidate versions found which didn't match: 0.3.1-check.1",
            "   error[E0425]: cannot find value `x` in this scope",
            "#16 ERROR: executor failed running [/bin/sh -c cargo build]: exit code: 101",
            "error: could not compile `demo`",
            "error: a fourth one",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            first_errors(&log),
            "\n  error: failed to select a version for the requirement `core = \"^0.3\"`\
             \n  error[E0425]: cannot find value `x` in this scope\
             \n  error: could not compile `demo`"
        );
    }

    #[test]
    fn known_build_failures_get_a_hint() {
        let log = "ERROR: BuildKit is enabled but the buildx component is missing or broken.";
        assert!(build_hint(log).contains("DOCKER=/usr/bin/docker"));
        for log in [
            "error: the lock file /build/Cargo.lock needs to be updated but --locked was passed",
            "error: cannot update the lock file /build/Cargo.lock because --locked was passed \
             to prevent this",
        ] {
            assert!(build_hint(log).contains("commit Cargo.lock"), "{log}");
        }
        assert_eq!(
            build_hint("error[E0425]: cannot find value `x` in this scope"),
            ""
        );
    }
}
