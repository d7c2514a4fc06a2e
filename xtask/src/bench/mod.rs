//! `cargo xtask bench`: rebuild speed you can prove. One generated service/scratch app is
//! built by several Dockerfile strategies side by side, each from a cold engine cache; cold
//! builds, source-only, version-bump and add-one-dependency rebuilds are timed, the crates each
//! rebuild compiled are counted, and every image is run to prove it ships the real binary. Also
//! the native floor (cargo's own incremental rebuild, no Docker) and jemalloc vs musl's malloc.
//! `report.rs` holds the pure parts (parsing, medians, targets, Markdown); `edit.rs` the changes
//! rebuilds follow.

mod edit;
mod report;

/// The generated project's sizes, compiled from the template so that both print them alike.
#[path = "../../../template/xtask/src/budget.rs"]
#[allow(dead_code, reason = "the bench only formats sizes")]
mod budget;
// The crates a build compiled, read from its log as `cargo xtask docker` reads them.
#[path = "../../../template/xtask/src/buildlog.rs"]
#[allow(dead_code, reason = "the bench only counts compiled crates")]
mod buildlog;

use std::{
    env, fs,
    io::{BufRead, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

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
        let project = render::render(sh, &answers, temp.path())?;

        let mut results = Results {
            machine: docker.machine()?,
            app: APP.to_owned(),
            reps: self.reps,
            command: command_line(&self),
            ca_bundle_bytes: docker.ca_bundle_bytes()?,
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
    program: String,
    builder: String,
    logs: PathBuf,
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
        let program = env::var("DOCKER").unwrap_or_else(|_| "docker".to_owned());
        let builder = env::var("RUST_ALPINE_BUILDER_IMAGE")
            .ok()
            .filter(|image| !image.is_empty())
            .unwrap_or_else(|| DEFAULT_BUILDER.to_owned());
        cmd!(sh, "{program} version")
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| {
                format!("the docker engine is not reachable with `{program}`; start it, or set DOCKER to a client that reaches it")
            })?;
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
        cmd!(sh, "{program} image inspect {builder}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .with_context(|| {
                format!("builder image {builder} not found; build or load it, or set RUST_ALPINE_BUILDER_IMAGE to one with cargo and the musl target")
            })?;
        fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        Ok(Docker {
            sh,
            program,
            builder,
            logs,
        })
    }

    fn machine(&self) -> anyhow::Result<Machine> {
        let (sh, docker, builder) = (self.sh, &self.program, &self.builder);
        let server_version = "{{.Server.Version}}";
        let builder_json = cmd!(sh, "{docker} image inspect {builder}")
            .quiet()
            .read()?;
        let (builder_id, _) = report::parse_image(&builder_json)?;
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
            builder_id,
            rustc: cmd!(sh, "{docker} run --rm {builder} rustc --version")
                .quiet()
                .read()
                .context("asking the builder image its rustc version")?,
            cargo_chef: format!("{CARGO_CHEF_VERSION} (crates.io, cargo install --locked)"),
        })
    }

    fn ca_bundle_bytes(&self) -> anyhow::Result<u64> {
        let (docker, builder) = (&self.program, &self.builder);
        let size = cmd!(
            self.sh,
            "{docker} run --rm {builder} stat --dereference --format=%s {CA_BUNDLE}"
        )
        .quiet()
        .read()
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
            BenchPart::Native | BenchPart::Alloc => {
                bail!("{} is not a Dockerfile strategy", part.as_str())
            }
        })
    }

    /// The builder plus cargo-chef, built once and tagged: pruning the build cache keeps it.
    fn chef_image(&self) -> anyhow::Result<String> {
        let (sh, docker, builder) = (self.sh, &self.program, &self.builder);
        let tag = report::chef_tag(builder, CARGO_CHEF_VERSION);
        let present = cmd!(sh, "{docker} image inspect {tag}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok();
        if !present {
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
                let (id, _) = self.image(&tag)?;
                images.push(id);
                let build = Build {
                    seconds,
                    compiled: buildlog::compiled_crates(log.lines()),
                    printed: self.version_output(&tag, &recipe.binary),
                    expected: format!("{APP} {version}"),
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
            let (_, image_bytes) = self.image(&tag)?;
            let binary_bytes = self.binary_bytes(&tag, &recipe.binary, dir)?;
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
        let (docker, builder) = (&self.program, &self.builder);
        let volume = format!("{}:/src:ro", project.display());
        let reps = reps.to_string();
        eprintln!("warming each profile with a full build, then {reps} timed rebuilds each");
        let command = cmd!(
            self.sh,
            "{docker} run --rm --volume {volume} {builder} sh -c {NATIVE_SCRIPT} native-floor {APP} {reps}"
        );
        let (_, output) = self.stream(command, Stream::Stdout, "native")?;
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

        let docker = &self.program;
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
                    let output = cmd!(self.sh, "{docker} run --rm {tag}")
                        .quiet()
                        .read()
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

    /// `docker build` with plain progress; returns its wall time and its log (also written to
    /// `logs/NAME.log`).
    fn build(
        &self,
        context: &Path,
        dockerfile: &Path,
        tag: &str,
        args: &[String],
        name: &str,
    ) -> anyhow::Result<(f64, String)> {
        let docker = &self.program;
        let command = cmd!(
            self.sh,
            "{docker} build --progress=plain --file {dockerfile} --tag {tag} {args...} {context}"
        )
        .env("DOCKER_BUILDKIT", "1");
        self.stream(command, Stream::Stderr, name)
    }

    /// Runs `command`, timing it, copying `stream` to `logs/NAME.log` and showing the lines
    /// that tell how far it got; the other stream is discarded (stdout) or passed through.
    fn stream(
        &self,
        command: xshell::Cmd<'_>,
        stream: Stream,
        name: &str,
    ) -> anyhow::Result<(f64, String)> {
        let log_path = self.logs.join(format!("{name}.log"));
        let mut log_file = fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let shown = command.to_string();
        let mut command: Command = command.into();
        match stream {
            Stream::Stderr => command.stdout(Stdio::null()).stderr(Stdio::piped()),
            Stream::Stdout => command.stdout(Stdio::piped()).stderr(Stdio::inherit()),
        };
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("running `{shown}`"))?;
        let pipe: Box<dyn std::io::Read> = match stream {
            Stream::Stderr => Box::new(child.stderr.take().expect("piped")),
            Stream::Stdout => Box::new(child.stdout.take().expect("piped")),
        };
        let mut log = String::new();
        for line in BufReader::new(pipe).lines() {
            let line = line.with_context(|| format!("reading the output of `{shown}`"))?;
            writeln!(log_file, "{line}")?;
            if shows_progress(&line) {
                eprintln!("  {line}");
            }
            log.push_str(&line);
            log.push('\n');
        }
        let status = child.wait()?;
        let seconds = started.elapsed().as_secs_f64();
        if !status.success() {
            let tail: Vec<&str> = log.lines().rev().take(25).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let hint = if log.contains("buildx component is missing") {
                "\nthis docker client has no BuildKit without the buildx plugin: set DOCKER to a client with BuildKit built in (e.g. DOCKER=/usr/bin/docker)"
            } else {
                ""
            };
            bail!(
                "`{shown}` failed ({status}); full log: {}\n{}{hint}",
                log_path.display(),
                tail.join("\n")
            );
        }
        Ok((seconds, log))
    }

    fn image(&self, tag: &str) -> anyhow::Result<(String, u64)> {
        let docker = &self.program;
        let json = cmd!(self.sh, "{docker} image inspect {tag}")
            .quiet()
            .read()
            .with_context(|| format!("inspecting image {tag}"))?;
        report::parse_image(&json)
    }

    /// What the image's binary prints for `--version`, or why it did not run.
    fn version_output(&self, tag: &str, binary: &str) -> String {
        let docker = &self.program;
        match cmd!(
            self.sh,
            "{docker} run --rm --entrypoint {binary} {tag} --version"
        )
        .quiet()
        .ignore_status()
        .output()
        {
            Ok(output) if output.status.success() => {
                String::from_utf8_lossy(&output.stdout).trim().to_owned()
            }
            Ok(output) => format!(
                "(failed, {}: {})",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(error) => format!("(could not run: {error})"),
        }
    }

    /// The size of the binary at `path` in the image, copied out with `docker cp`.
    fn binary_bytes(&self, tag: &str, path: &str, dir: &Path) -> anyhow::Result<u64> {
        let docker = &self.program;
        let copy = dir.join("binary");
        let id = cmd!(self.sh, "{docker} create {tag}")
            .quiet()
            .read()
            .with_context(|| format!("creating a container of {tag}"))?;
        let source = format!("{id}:{path}");
        let copied = cmd!(self.sh, "{docker} cp {source} {copy}").quiet().run();
        let _ = cmd!(self.sh, "{docker} rm {id}")
            .quiet()
            .ignore_stdout()
            .run();
        copied.with_context(|| format!("copying {path} out of {tag}"))?;
        let bytes = fs::metadata(&copy)
            .with_context(|| format!("reading the size of {}", copy.display()))?
            .len();
        fs::remove_file(&copy)?;
        Ok(bytes)
    }

    /// Empties the engine's build cache (layers and cache mounts): the next build is cold.
    /// Tagged images, the builder's among them, are kept.
    fn prune(&self) -> anyhow::Result<()> {
        let docker = &self.program;
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
        let docker = &self.program;
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
        let docker = &self.program;
        for image in std::iter::once(tag).chain(ids.iter().map(String::as_str)) {
            let _ = cmd!(self.sh, "{docker} image rm {image}")
                .quiet()
                .ignore_stdout()
                .ignore_stderr()
                .ignore_status()
                .run();
        }
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// The log lines worth seeing live: cargo finishing, the native timings, and errors.
fn shows_progress(line: &str) -> bool {
    line.contains("Finished ")
        || line.starts_with("native ")
        || line.contains("error:")
        || line.contains("error[")
        || line.contains("ERROR")
}
