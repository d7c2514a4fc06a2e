//! `cargo xtask bench`: rebuild speed you can prove. One generated service/scratch app is
//! built by several Dockerfile strategies side by side, each from a cold engine cache; cold
//! builds, source-only, version-bump and add-one-dependency rebuilds are timed, the crates each
//! rebuild compiled are counted, and every image is run to prove it ships the real binary. Also
//! the native floor (cargo's own incremental rebuild, no Docker) and jemalloc vs musl's malloc.
//! `report.rs` holds the pure parts (parsing, medians, targets, Markdown); `edit.rs` the changes
//! rebuilds follow.

mod edit;
mod report;

// What `cargo xtask docker` uses too, from the rust-alpine crate: sizes, the crates a build
// compiled (read from its log), every engine call, the `sccache` secret and statistics.
use rust_alpine::{budget, buildlog, engine, sccache};

use std::{
    env, fs,
    io::{BufRead, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use engine::{Builder, Engine};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::{
    flags::{self, BenchPart, Kind, Runtime},
    render::{self, Answers},
};
use report::{Alloc, Build, Machine, Native, Results, StrategyRun};

/// The app every strategy builds.
const APP: &str = "bench-app";
const DEFAULT_BUILDER: &str = "local/rust-musl-builder:1.96-bookworm";
const CARGO_CHEF_VERSION: &str = "0.1.78";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Every image the bench builds is tagged under this name, and removed when its part is done.
const TAG_PREFIX: &str = "rust-alpine-bench";

const SEED_DOCKERFILE: &str = include_str!("seed.Dockerfile");
const CARGO_CHEF_DOCKERFILE: &str = include_str!("cargo-chef.Dockerfile");
const CHEF_BUILDER_DOCKERFILE: &str = include_str!("chef-builder.Dockerfile");
const CACHE_MOUNTS_DOCKERFILE: &str = include_str!("cache-mounts.Dockerfile");
const ALLOC_DOCKERFILE: &str = include_str!("alloc.Dockerfile");
const ALLOC_MANIFEST: &str = include_str!("alloc.Cargo.toml");
const ALLOC_MAIN: &str = include_str!("alloc_main.rs");

/// Run inside the builder image with the project mounted read-only at /src: warm each profile
/// with one build, then time `$2` rebuilds after a source-only change. Arguments: the package,
/// the number of rebuilds. Prints `native PROFILE REBUILD MILLISECONDS` lines.
const NATIVE_SCRIPT: &str = r#"set -eu
exec 2>&1
cp -R /src /tmp/app
cd /tmp/app
for profile in release container; do
  cargo build --locked --profile "$profile" --target x86_64-unknown-linux-musl --package "$1"
  i=1
  while [ "$i" -le "$2" ]; do
    echo "// cargo xtask bench: native source-only change $i" >> src/main.rs
    start=$(date +%s%N)
    cargo build --locked --profile "$profile" --target x86_64-unknown-linux-musl --package "$1"
    end=$(date +%s%N)
    echo "native $profile $i $(( (end - start) / 1000000 ))"
    i=$((i + 1))
  done
done
"#;

impl flags::Bench {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let root = sh.current_dir();
        let out = match (&self.out, &self.only) {
            (Some(out), _) => Some(out.clone()),
            (None, None) => Some(root.join("BENCHMARKS.md")),
            (None, Some(_)) => None,
        };
        let parts = self.only.clone().unwrap_or_else(|| BenchPart::ALL.to_vec());
        let docker = Docker::new(sh, root.join("target/bench"))?;

        let temp = sh
            .create_temp_dir()
            .context("creating a temporary directory")?;
        let answers = Answers {
            name: APP,
            kind: Kind::Service,
            runtime: Runtime::Scratch,
            port: None,
        };
        docker.registry.configure(temp.path())?;
        let project = render::render(sh, &answers, temp.path())?;

        let mut results = Results {
            machine: docker.machine()?,
            app: APP.to_owned(),
            reps: self.reps,
            command: command_line(&self),
            ca_bundle_bytes: docker.ca_bundle_bytes()?,
            generated: report::Generated::count(&project)?,
            ..Results::default()
        };
        let started = Instant::now();
        for part in parts {
            eprintln!(
                "\n==> {} ({:.0} min so far)",
                report::label(part),
                started.elapsed().as_secs_f64() / 60.0
            );
            match part {
                BenchPart::Native => {
                    results.native =
                        Some(docker.native(&project, self.reps).map_err(report_failure));
                }
                BenchPart::Sccache => {
                    let dir = temp.path().join("sccache");
                    results.sccache = Some(docker.sccache(&project, &dir).map_err(report_failure));
                }
                BenchPart::Alloc => {
                    let dir = temp.path().join("alloc");
                    results.alloc = Some(
                        docker
                            .alloc(&project, &dir, self.reps)
                            .map_err(report_failure),
                    );
                }
                strategy => {
                    let dir = temp.path().join(strategy.as_str());
                    let run = docker.strategy(strategy, &project, &dir, self.reps);
                    results
                        .strategies
                        .push((strategy, run.map_err(report_failure)));
                }
            }
        }
        eprintln!(
            "\nbench finished in {:.1} min",
            started.elapsed().as_secs_f64() / 60.0
        );

        println!("{}", report::table(&results));
        if let Some(Ok(alloc)) = &results.alloc {
            println!("{}", report::alloc_table(alloc));
        }
        for (target, verdict) in report::targets(&results) {
            println!("- {target}: {}", verdict.line());
        }
        if let Some(Ok(sccache)) = &results.sccache {
            println!("{}", report::sccache_section(sccache));
        }
        let failed: Vec<&str> = results
            .strategies
            .iter()
            .filter(|(_, run)| run.is_err())
            .map(|(part, _)| part.as_str())
            .chain(
                results
                    .native
                    .as_ref()
                    .and_then(|r| r.as_ref().err())
                    .map(|_| "native"),
            )
            .chain(
                results
                    .alloc
                    .as_ref()
                    .and_then(|r| r.as_ref().err())
                    .map(|_| "alloc"),
            )
            .chain(
                results
                    .sccache
                    .as_ref()
                    .and_then(|r| r.as_ref().err())
                    .map(|_| "sccache"),
            )
            .collect();
        // A run with failures never replaces the report: it goes next to the engine's logs.
        let out = match out {
            Some(_) if !failed.is_empty() => Some(docker.logs.join("BENCHMARKS.partial.md")),
            out => out,
        };
        match &out {
            Some(out) => {
                sh.write_file(out, report::markdown(&results))
                    .with_context(|| format!("writing {}", out.display()))?;
                eprintln!("wrote {}", out.display());
            }
            None => eprintln!("--only without --out: BENCHMARKS.md left as it is"),
        }
        if !failed.is_empty() {
            bail!(
                "failed: {}; the errors are above, the engine's logs in {}",
                failed.join(", "),
                docker.logs.display()
            );
        }
        Ok(())
    }
}

/// How the run was asked for, for the report's first line.
fn command_line(bench: &flags::Bench) -> String {
    let mut line = format!("cargo xtask bench --reps {}", bench.reps);
    if let Some(only) = &bench.only {
        let names: Vec<&str> = only.iter().map(|part| part.as_str()).collect();
        line.push_str(&format!(" --only {}", names.join(",")));
    }
    line
}

/// Shows a part's error now (the run goes on with the next part) and keeps it for the report.
fn report_failure(error: anyhow::Error) -> String {
    eprintln!("error: {error:#}");
    format!("{error:#}")
}

/// The engine, the builder image and where the engine's logs go.
struct Docker<'a> {
    sh: &'a Shell,
    engine: Engine,
    builder: String,
    logs: PathBuf,
    /// rust-alpine as packaged from this checkout: the project's Dockerfile installs it from
    /// here (`RUST_ALPINE_INDEX`, on the host's network), as before a release.
    registry: xtask::registry::Registry,
}

/// What each strategy's Dockerfile needs: its text (`None`: the project's own), its build
/// arguments, and where the app's binary is in its image.
struct Recipe {
    dockerfile: Option<&'static str>,
    args: Vec<String>,
    binary: String,
}

impl<'a> Docker<'a> {
    fn new(sh: &'a Shell, logs: PathBuf) -> anyhow::Result<Docker<'a>> {
        let engine = Engine::choose(None)?;
        engine.check()?;
        let program = &engine.program;
        let builder = env::var("RUST_ALPINE_BUILDER_IMAGE")
            .ok()
            .filter(|image| !image.is_empty())
            .unwrap_or_else(|| DEFAULT_BUILDER.to_owned());
        // Every build and prune needs BuildKit; a client that lacks it fails here, at once.
        cmd!(sh, "{program} build --help")
            .env("DOCKER_BUILDKIT", "1")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .with_context(|| {
                format!("`{program}` cannot build with BuildKit (the newer docker CLI needs its buildx plugin for it); set DOCKER to a client with BuildKit built in, e.g. DOCKER=/usr/bin/docker")
            })?;
        engine.image(&builder).with_context(|| {
            format!("builder image {builder} not found; build or load it, or set RUST_ALPINE_BUILDER_IMAGE to one with cargo and the musl target")
        })?;
        fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let root = sh.current_dir();
        let package = xtask::registry::package(&root, &root.join("target/registry"))?;
        let registry = xtask::registry::Registry::serve(vec![package], 0)?;
        Ok(Docker {
            registry,
            sh,
            engine,
            builder,
            logs,
        })
    }

    fn machine(&self) -> anyhow::Result<Machine> {
        let (sh, docker, builder) = (self.sh, &self.engine.program, &self.builder);
        let server_version = "{{.Server.Version}}";
        Ok(Machine {
            date: cmd!(sh, "date --utc +%Y-%m-%d").quiet().read()?,
            nproc: cmd!(sh, "nproc").quiet().read()?,
            memory: fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|meminfo| report::parse_meminfo(&meminfo))
                .unwrap_or_else(|| "unknown".to_owned()),
            docker: cmd!(sh, "{docker} version --format {server_version}")
                .quiet()
                .read()
                .context("asking the engine its version")?,
            builder_image: builder.clone(),
            builder_id: self.engine.image(builder)?.id().to_owned(),
            rustc: self
                .engine
                .run_once(&[], builder, &["rustc", "--version"])
                .context("asking the builder image its rustc version")?
                .trim()
                .to_owned(),
            cargo_chef: format!("{CARGO_CHEF_VERSION} (crates.io, cargo install --locked)"),
        })
    }

    fn ca_bundle_bytes(&self) -> anyhow::Result<u64> {
        let stat = ["stat", "--dereference", "--format=%s", CA_BUNDLE];
        let size = self
            .engine
            .run_once(&[], &self.builder, &stat)
            .context("measuring the builder image's CA bundle")?;
        size.trim()
            .parse()
            .with_context(|| format!("stat printed {size:?} for the CA bundle's size"))
    }

    fn recipe(&self, part: BenchPart) -> anyhow::Result<Recipe> {
        let builder = format!("BUILDER_IMAGE={}", self.builder);
        let app = format!("APP={APP}");
        let profile = format!("PROFILE={}", report::profile(part));
        let build_arg = |arg: &str| ["--build-arg".to_owned(), arg.to_owned()];
        Ok(match part {
            BenchPart::Seed => Recipe {
                dockerfile: Some(SEED_DOCKERFILE),
                args: [build_arg(&builder), build_arg(&app)].concat(),
                binary: format!("/opt/{APP}"),
            },
            BenchPart::CargoChef | BenchPart::CargoChefContainer => Recipe {
                dockerfile: Some(CARGO_CHEF_DOCKERFILE),
                args: [
                    build_arg(&format!("CHEF_IMAGE={}", self.chef_image()?)),
                    build_arg(&app),
                    build_arg(&profile),
                ]
                .concat(),
                binary: "/usr/local/bin/app".to_owned(),
            },
            BenchPart::CacheMounts | BenchPart::CacheMountsContainer => Recipe {
                dockerfile: Some(CACHE_MOUNTS_DOCKERFILE),
                args: [build_arg(&builder), build_arg(&app), build_arg(&profile)].concat(),
                binary: "/bin/server".to_owned(),
            },
            BenchPart::Ours => Recipe {
                dockerfile: None,
                args: build_arg(&builder).to_vec(),
                binary: format!("/{APP}"),
            },
            BenchPart::OursRelease => Recipe {
                dockerfile: None,
                args: [build_arg(&builder), build_arg("CARGO_PROFILE=release")].concat(),
                binary: format!("/{APP}"),
            },
            BenchPart::Native | BenchPart::Alloc | BenchPart::Sccache => {
                bail!("{} is not a Dockerfile strategy", part.as_str())
            }
        })
    }

    /// The builder plus cargo-chef, built once and tagged: pruning the build cache keeps it.
    fn chef_image(&self) -> anyhow::Result<String> {
        let builder = &self.builder;
        let tag = report::chef_tag(builder, CARGO_CHEF_VERSION);
        if self.engine.image(&tag).is_err() {
            eprintln!(
                "building {tag} once (cargo install cargo-chef {CARGO_CHEF_VERSION}, a few minutes)"
            );
            let dir = self.sh.create_temp_dir()?;
            let dockerfile = dir.path().join("chef-builder.Dockerfile");
            fs::write(&dockerfile, CHEF_BUILDER_DOCKERFILE)?;
            let args = [
                "--build-arg".to_owned(),
                format!("BUILDER_IMAGE={builder}"),
                "--build-arg".to_owned(),
                format!("CARGO_CHEF_VERSION={CARGO_CHEF_VERSION}"),
            ];
            self.build(dir.path(), &dockerfile, &tag, &args, "chef-builder")
                .context("building the cargo-chef builder image")?;
        }
        Ok(tag)
    }

    /// Cold build, `reps` source-only rebuilds, `reps` version bumps, on a copy of `project`.
    fn strategy(
        &self,
        part: BenchPart,
        project: &Path,
        dir: &Path,
        reps: usize,
    ) -> anyhow::Result<StrategyRun> {
        let recipe = self.recipe(part)?;
        let context = dir.join("context");
        edit::copy_tree(project, &context).context("copying the rendered project")?;
        let dockerfile = match recipe.dockerfile {
            Some(text) => {
                // Outside the build context, as a user's would be in their repository.
                let path = dir.join(format!("{}.Dockerfile", part.as_str()));
                fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                path
            }
            None => context.join("Dockerfile"),
        };
        let tag = format!("{TAG_PREFIX}/{}:latest", part.as_str());
        self.prune()?;

        let mut images = Vec::new();
        let result = (|| {
            let slug = part.as_str();
            let mut version =
                edit::package_version(&fs::read_to_string(context.join("Cargo.toml"))?)?;
            let mut step = |name: String, version: &str| -> anyhow::Result<Build> {
                let (seconds, log) =
                    self.build(&context, &dockerfile, &tag, &recipe.args, &name)?;
                images.push(self.engine.image(&tag)?.id().to_owned());
                let build = Build {
                    seconds,
                    compiled: buildlog::compiled_crates(log.lines()),
                    printed: self.version_output(&tag, &recipe.binary),
                    expected: format!("{APP} {version}"),
                    planner_seconds: report::planner_seconds(&log),
                };
                eprintln!(
                    "{name}: {seconds:.1} s, {} crates compiled, --version printed {:?}{}",
                    build.compiled.len(),
                    build.printed,
                    if build.real() {
                        ""
                    } else {
                        " (NOT the real binary)"
                    }
                );
                Ok(build)
            };
            let cold = step(format!("{slug}-cold"), &version)?;
            let mut source = Vec::new();
            for rebuild in 1..=reps {
                edit::change_source(&context, rebuild)?;
                source.push(step(format!("{slug}-source-{rebuild}"), &version)?);
            }
            let image_bytes = self.engine.image(&tag)?.size();
            let binary = self.engine.copy_out(&tag, &recipe.binary)?;
            let binary_bytes = binary.len() as u64;
            let mut bump = Vec::new();
            for rebuild in 1..=reps {
                version = edit::bump_version(&context, APP)?;
                bump.push(step(format!("{slug}-bump-{rebuild}"), &version)?);
            }
            // The local loop: the build cache (cache mounts included) is kept since the cold build.
            let mut add = Vec::new();
            for rebuild in 1..=reps {
                self.add_dependency(&context)?;
                add.push(step(format!("{slug}-add-{rebuild}"), &version)?);
            }
            // CI: the layer cache, but no cache mount (a fresh runner restores layers only).
            let mut add_no_mount = Vec::new();
            if part == BenchPart::Ours {
                self.prune_cache_mounts()?;
                self.add_dependency(&context)?;
                add_no_mount.push(step(format!("{slug}-add-no-cache-mount"), &version)?);
            }
            Ok(StrategyRun {
                cold,
                source,
                bump,
                add,
                add_no_mount,
                image_bytes,
                binary_bytes,
            })
        })();
        self.remove_images(&tag, &images);
        result
    }

    /// Ours on fresh machines with a shared sccache: a cold build without SCCACHE_*, one with
    /// an empty cache (filling it), one with the cache warm, and one with a dependency added.
    /// Every build is `--no-cache` with a cache-mount id of its own, so that nothing but the
    /// shared cache carries over (the engine's build cache is not pruned: others use it). The builder is
    /// `RUST_ALPINE_BUILDER_IMAGE_SCCACHE` (one with sccache; else the usual builder, and the
    /// Dockerfile downloads sccache), the backend `RUST_ALPINE_SCCACHE_REDIS` (default: Redis
    /// on 127.0.0.1:6379), under a key prefix of this run's own (an empty cache).
    fn sccache(&self, project: &Path, dir: &Path) -> anyhow::Result<report::Sccache> {
        let var = |name: &str| env::var(name).ok().filter(|value| !value.is_empty());
        let builder =
            var("RUST_ALPINE_BUILDER_IMAGE_SCCACHE").unwrap_or_else(|| self.builder.clone());
        let redis =
            var("RUST_ALPINE_SCCACHE_REDIS").unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
        self.engine.image(&builder).with_context(|| {
            format!("builder image {builder} not found (RUST_ALPINE_BUILDER_IMAGE_SCCACHE)")
        })?;
        let context = dir.join("context");
        edit::copy_tree(project, &context).context("copying the rendered project")?;
        let prefix = format!(
            "rust-alpine-bench-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs()
        );
        let settings = sccache::settings([
            ("SCCACHE_REDIS_ENDPOINT".to_owned(), redis.clone()),
            ("SCCACHE_REDIS_KEY_PREFIX".to_owned(), prefix),
        ]);
        let secret = sccache::Secret::write(&settings).context("writing the sccache secret")?;
        let secret_args = secret.build_args(sccache::needs_host_network(&settings));
        let dockerfile_text = fs::read_to_string(context.join("Dockerfile"))?;
        let mount_id = format!("id={APP}-target");
        if !dockerfile_text.contains(&mount_id) {
            bail!("the Dockerfile has no cache mount `{mount_id}`");
        }
        // No prune: `--no-cache` and a cache mount of its own make each build a fresh machine
        // without emptying the caches of everything else this engine builds.
        let tag = format!("{TAG_PREFIX}/sccache:latest");

        let mut images = Vec::new();
        let result = (|| {
            let version = edit::package_version(&fs::read_to_string(context.join("Cargo.toml"))?)?;
            // A fresh machine: no layer (`--no-cache`) and an empty cache mount of its own.
            let mut fresh = |name: &str,
                             with_sccache: bool|
             -> anyhow::Result<(report::Build, Option<report::Stats>)> {
                let dockerfile = dir.join(format!("{name}.Dockerfile"));
                let text = dockerfile_text.replace(&mount_id, &format!("id={APP}-{name}-target"));
                fs::write(&dockerfile, text)?;
                let mut args = vec!["--no-cache".to_owned()];
                args.extend(["--build-arg".to_owned(), format!("BUILDER_IMAGE={builder}")]);
                if with_sccache {
                    args.extend(secret_args.iter().cloned());
                }
                let (seconds, log) = self.build(
                    &context,
                    &dockerfile,
                    &tag,
                    &args,
                    &format!("sccache-{name}"),
                )?;
                images.push(self.engine.image(&tag)?.id().to_owned());
                let stats = sccache::stats(log.lines());
                let build = report::Build {
                    seconds,
                    compiled: buildlog::compiled_crates(log.lines()),
                    printed: self.version_output(&tag, &format!("/{APP}")),
                    expected: format!("{APP} {version}"),
                    planner_seconds: report::planner_seconds(&log),
                };
                eprintln!(
                    "{name}: {seconds:.1} s, {} crates compiled, sccache: {}, --version printed {:?}",
                    build.compiled.len(),
                    stats
                        .as_ref()
                        .map_or("none".to_owned(), sccache::Stats::summary),
                    build.printed
                );
                Ok((build, stats))
            };
            let (cold, _) = fresh("cold", false)?;
            let fill = fresh("fill", true)?;
            let warm = fresh("warm", true)?;
            // `--cache-mounts`: a first machine saves the mounts; then fresh machines (the
            // engine's build cache emptied) restore them, as a CI cache would hand them over.
            let mounts = dir.join("mounts");
            let carried = |name: &str| self.carried(&context, &mounts, &builder, &settings, name);
            let mounts_first = carried("mounts-first")?;
            let mounts_full = carried("mounts-full")?;
            self.add_dependency(&context)?;
            let add = fresh("add", true)?;
            let mounts_add = carried("mounts-add")?;
            Ok(report::Sccache {
                builder: builder.clone(),
                backend: format!("Redis ({redis})"),
                cold,
                fill,
                warm,
                add,
                mounts_first,
                mounts_full,
                mounts_add,
            })
        })();
        self.remove_images(&tag, &images);
        result
    }

    /// The project's own `cargo xtask docker --cache-mounts DIR` with the shared sccache
    /// (`settings`) on a fresh machine: the engine's build cache emptied first, DIR kept.
    fn carried(
        &self,
        project: &Path,
        dir: &Path,
        builder: &str,
        settings: &[(String, String)],
        name: &str,
    ) -> anyhow::Result<report::Carried> {
        self.prune()?;
        let tag = format!("{TAG_PREFIX}/sccache-mounts:latest");
        let program = &self.engine.program;
        let _in_project = self.sh.push_dir(project);
        let mut command = cmd!(
            self.sh,
            "cargo xtask docker --json --tag {tag} --builder-image {builder} --cache-mounts {dir}"
        )
        .env("DOCKER", program)
        .env("DOCKER_BUILDKIT", "1")
        .ignore_status()
        .quiet();
        for (key, value) in settings {
            command = command.env(key, value);
        }
        eprintln!(
            "{name}: cargo xtask docker --cache-mounts {}",
            dir.display()
        );
        let output = command.output().context("running cargo xtask docker")?;
        let log_path = self.logs.join(format!("sccache-{name}.log"));
        fs::write(&log_path, &output.stderr)?;
        self.engine.remove_image(&tag);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let carried = report::parse_carried(&stdout).with_context(|| {
            format!(
                "{name}: cargo xtask docker exited with {} (full log: {})",
                output.status,
                log_path.display()
            )
        })?;
        eprintln!(
            "{name}: restore {:.1} s + build {:.1} s, {} crates compiled, sccache: {}; save {:.1} s",
            carried.restore_seconds,
            carried.build.seconds - carried.restore_seconds,
            carried.build.compiled.len(),
            carried
                .stats
                .as_ref()
                .map_or("none".to_owned(), sccache::Stats::summary),
            carried.save_seconds
        );
        Ok(carried)
    }

    /// Adds one small crate to the project (edit.rs) and locks it with the host's cargo:
    /// `cargo metadata` adds the new crate to Cargo.lock and moves nothing else, so `--locked`
    /// builds pass.
    fn add_dependency(&self, project: &Path) -> anyhow::Result<()> {
        let dependency = edit::add_dependency(project)?;
        let manifest = project.join("Cargo.toml");
        cmd!(
            self.sh,
            "cargo metadata --format-version 1 --manifest-path {manifest}"
        )
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| {
            format!(
                "locking the new dependency {} (cargo metadata on {}; it needs crates.io)",
                dependency.name,
                manifest.display()
            )
        })?;
        eprintln!(
            "added dependency {} = \"{}\"",
            dependency.name, dependency.requirement
        );
        Ok(())
    }

    /// The native floor: cargo's incremental rebuild inside the builder image, no image built.
    fn native(&self, project: &Path, reps: usize) -> anyhow::Result<Native> {
        let (docker, builder) = (&self.engine.program, &self.builder);
        let volume = format!("{}:/src:ro", project.display());
        let reps = reps.to_string();
        eprintln!("warming each profile with a full build, then {reps} timed rebuilds each");
        let command = cmd!(
            self.sh,
            "{docker} run --rm --volume {volume} {builder} sh -c {NATIVE_SCRIPT} native-floor {APP} {reps}"
        );
        let output = self.run_logged(command, "native")?;
        report::parse_native(&output)
    }

    /// The allocation workload with jemalloc and with musl's malloc, `reps` runs each.
    fn alloc(&self, project: &Path, dir: &Path, reps: usize) -> anyhow::Result<Alloc> {
        let context = dir.join("context");
        fs::create_dir_all(context.join("src"))?;
        fs::write(context.join("Cargo.toml"), ALLOC_MANIFEST)?;
        fs::write(context.join("src/main.rs"), ALLOC_MAIN)?;
        // The app's lock: cargo keeps the tikv-jemallocator versions the app uses and drops
        // the rest, so the workload measures the allocator the app ships.
        fs::copy(project.join("Cargo.lock"), context.join("Cargo.lock"))
            .context("copying the app's Cargo.lock")?;
        let dockerfile = dir.join("alloc.Dockerfile");
        fs::write(&dockerfile, ALLOC_DOCKERFILE)?;

        let mut alloc = Alloc::default();
        let mut images = Vec::new();
        let result = (|| {
            for (features, times) in [("jemalloc", &mut alloc.jemalloc), ("", &mut alloc.musl)] {
                let name = if features.is_empty() {
                    "musl"
                } else {
                    features
                };
                let tag = format!("{TAG_PREFIX}/alloc:{name}");
                let args = [
                    "--build-arg".to_owned(),
                    format!("BUILDER_IMAGE={}", self.builder),
                    "--build-arg".to_owned(),
                    format!("FEATURES={features}"),
                ];
                self.build(&context, &dockerfile, &tag, &args, &format!("alloc-{name}"))?;
                images.push(tag.clone());
                for run in 1..=reps {
                    let output = self
                        .engine
                        .run_once(&[], &tag, &[])
                        .with_context(|| format!("running the {name} workload"))?;
                    let millis = report::parse_alloc(&output)?;
                    eprintln!("alloc {name} run {run}: {millis} ms");
                    times.push(millis);
                }
            }
            anyhow::Ok(())
        })();
        for tag in images {
            self.remove_images(&tag, &[]);
        }
        result.map(|()| alloc)
    }

    /// `docker build` with plain progress, through the engine module; returns its wall time
    /// and its log (also written to `logs/NAME.log`, with the lines that tell how far it got
    /// shown).
    fn build(
        &self,
        context: &Path,
        dockerfile: &Path,
        tag: &str,
        args: &[String],
        name: &str,
    ) -> anyhow::Result<(f64, String)> {
        let log_path = self.logs.join(format!("{name}.log"));
        let mut log_file = fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let file = [
            "--progress=plain".to_owned(),
            "--file".to_owned(),
            dockerfile.display().to_string(),
        ];
        let mut args: Vec<String> = file.into_iter().chain(args.iter().cloned()).collect();
        if fs::read_to_string(dockerfile).is_ok_and(|text| text.contains("RUST_ALPINE_INDEX")) {
            args.extend([
                "--network=host".to_owned(),
                "--build-arg".to_owned(),
                format!("RUST_ALPINE_INDEX={}", self.registry.index()),
            ]);
        }
        let builder = Builder {
            engine: &self.engine,
            args,
        };
        let started = Instant::now();
        let log = builder
            .build_showing(context, tag, |line| {
                let _ = writeln!(log_file, "{line}");
                if shows_progress(line) {
                    eprintln!("  {line}");
                }
            })
            .with_context(|| format!("full log: {}", log_path.display()))?;
        Ok((started.elapsed().as_secs_f64(), log.join("\n")))
    }

    /// What the image's binary prints for `--version`, or why it did not run.
    fn version_output(&self, tag: &str, binary: &str) -> String {
        match self
            .engine
            .run_once(&["--entrypoint", binary], tag, &["--version"])
        {
            Ok(printed) => printed.trim().to_owned(),
            Err(error) => format!("(failed: {})", format!("{error:#}").trim()),
        }
    }

    /// Runs `command` (not a build), copying its stdout to `logs/NAME.log` and showing the
    /// lines that tell how far it got; returns that output.
    fn run_logged(&self, command: xshell::Cmd<'_>, name: &str) -> anyhow::Result<String> {
        let log_path = self.logs.join(format!("{name}.log"));
        let mut log_file = fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let shown = command.to_string();
        let mut command: Command = command.into();
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("running `{shown}`"))?;
        let mut log = String::new();
        for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
            let line = line.with_context(|| format!("reading the output of `{shown}`"))?;
            writeln!(log_file, "{line}")?;
            if shows_progress(&line) {
                eprintln!("  {line}");
            }
            log.push_str(&line);
            log.push('\n');
        }
        let status = child.wait()?;
        if !status.success() {
            bail!(
                "`{shown}` failed ({status}); full log: {}",
                log_path.display()
            );
        }
        Ok(log)
    }

    /// Empties the engine's build cache (layers and cache mounts): the next build is cold.
    /// Tagged images, the builder's among them, are kept.
    fn prune(&self) -> anyhow::Result<()> {
        let docker = &self.engine.program;
        cmd!(self.sh, "{docker} builder prune --all --force")
            .quiet()
            .ignore_stdout()
            .env("DOCKER_BUILDKIT", "1")
            .run()
            .context("emptying the build cache (docker builder prune --all --force)")
    }

    /// Empties only BuildKit's cache mounts, keeping the layer cache: what a CI runner has when
    /// it restores image layers (e.g. `--cache-from`) but not the mounts.
    fn prune_cache_mounts(&self) -> anyhow::Result<()> {
        let docker = &self.engine.program;
        cmd!(
            self.sh,
            "{docker} builder prune --filter type=exec.cachemount --force"
        )
        .quiet()
        .ignore_stdout()
        .env("DOCKER_BUILDKIT", "1")
        .run()
        .context("emptying the cache mounts (docker builder prune --filter type=exec.cachemount --force)")
    }

    /// Removes `tag` and the images it pointed to earlier (`ids`); best effort.
    fn remove_images(&self, tag: &str, ids: &[String]) {
        for image in std::iter::once(tag).chain(ids.iter().map(String::as_str)) {
            self.engine.remove_image(image);
        }
    }
}

/// The log lines worth seeing live: cargo finishing, the native timings, and errors.
/// BuildKit's step headers (`#7 [builder 4/10] RUN ...`) quote the Dockerfile, error messages
/// of its scripts included, and are left out.
fn shows_progress(line: &str) -> bool {
    let step_header = line.starts_with('#') && line.contains("] RUN ");
    !step_header
        && (line.contains("Finished ")
            || line.starts_with("native ")
            || line.contains("error:")
            || line.contains("error[")
            || line.contains("ERROR"))
}

#[cfg(test)]
mod tests {
    use super::shows_progress;

    #[test]
    fn progress_shows_cargo_and_errors_but_not_step_headers() {
        for (line, shown) in [
            (
                "#12 61.2     Finished `container` profile [optimized] target(s)",
                true,
            ),
            ("native container 1 4012", true),
            ("#9 3.1 error: could not compile `app`", true),
            (
                "#7 [builder 4/10] RUN set -eu; echo \"error: no std\" >&2",
                false,
            ),
            ("#12 10.0    Compiling serde v1.0.228", false),
        ] {
            assert_eq!(shows_progress(line), shown, "{line}");
        }
    }
}
