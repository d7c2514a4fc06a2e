//! The command line of `cargo xtask`: the help text and, right below it, the parser that
//! implements it, into typed values.

use std::{ffi::OsString, fmt, path::PathBuf};

use anyhow::{Context, bail};
use lexopt::{Parser, ValueExt};

pub(crate) const HELP: &str = "\
cargo xtask: tasks of the rust-alpine template repository

usage:
  cargo xtask test [ARGS...]
      cargo test --workspace --locked -- ARGS: tidy, answers and the kind x runtime matrix,
      plus the Docker e2e suite when RUST_ALPINE_DOCKER=1 (engine: $DOCKER, default docker;
      builder image: $RUST_ALPINE_BUILDER_IMAGE, default the Dockerfile's); first checks the
      repository's own code with cargo fmt --check and cargo clippy
  cargo xtask lock [--upgrade]
      refresh template/locks/<kind>.lock: the smallest change that satisfies the template's
      manifests, or with --upgrade the newest compatible versions (cargo update)
  cargo xtask render --kind service|cli --runtime scratch|alpine|distroless [--name NAME] [--port PORT] DEST
      render one project into the new directory DEST with the pinned engine; NAME defaults to
      DEST's last component, PORT (kind service only) to the template's default, 8080
  cargo xtask registry [--port PORT]
      package the rust-alpine crate (cargo package) and serve it on 127.0.0.1:PORT (default
      47651, another free port when taken) as a registry standing in for crates.io; prints the
      environment that makes cargo and `cargo xtask docker` in a rendered project use it (how a
      project rendered from this checkout builds before its version is released); Ctrl-C stops
  cargo xtask bench [--reps N] [--only PART[,PART...]] [--out FILE]
      Docker rebuild benchmark of one rendered service/scratch app: strategies seed, cargo-chef,
      cargo-chef-container, cache-mounts, cache-mounts-container, ours, ours-release (each from a
      cold build cache; -container: the app's container profile, the others release), the native
      floor (native), jemalloc vs musl malloc (alloc), and ours on fresh machines with a warm
      shared sccache (sccache: $RUST_ALPINE_BUILDER_IMAGE_SCCACHE, a builder with sccache;
      $RUST_ALPINE_SCCACHE_REDIS, default redis://127.0.0.1:6379). N rebuilds per change
      (default 3): a source-only change, a version bump, one small new dependency. Writes the table to
      FILE, default BENCHMARKS.md; with --only, only when --out is given. Engine: $DOCKER
      (default docker; it needs BuildKit); builder image: $RUST_ALPINE_BUILDER_IMAGE, default
      local/rust-musl-builder:1.96-bookworm
";

/// Parses the arguments after `cargo xtask`.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<XtaskCmd> {
    parse_args(&mut Parser::from_args(args)).map_err(|error| {
        match error.downcast::<lexopt::Error>() {
            Ok(error) => anyhow::anyhow!("{error}; run `cargo xtask --help` for the usage"),
            Err(error) => error,
        }
    })
}

fn parse_args(p: &mut Parser) -> anyhow::Result<XtaskCmd> {
    use lexopt::prelude::*;
    let command = match p.next()? {
        None | Some(Short('h') | Long("help")) => return Ok(XtaskCmd::Help),
        Some(Value(command)) => command.string()?,
        Some(other) => return Err(other.unexpected().into()),
    };
    let (mut upgrade, mut kind, mut runtime, mut name, mut port, mut dest) =
        (false, None, None, None, None, None);
    let (mut reps, mut only, mut out) = (3, None, None);
    match command.as_str() {
        "test" => {
            // Everything goes to the test binaries, so `cargo xtask test matrix --nocapture`
            // works as typed; a leading `--` is accepted too.
            let mut args: Vec<OsString> = p.raw_args()?.collect();
            if args.first().is_some_and(|arg| arg == "--") {
                args.remove(0);
            }
            return Ok(XtaskCmd::Test(Test { args }));
        }
        "lock" | "render" | "bench" | "registry" => {}
        _ => bail!(
            "unknown command {command:?}; the commands are test, lock, render, registry and bench (see `cargo xtask --help`)"
        ),
    }
    while let Some(arg) = p.next()? {
        match (command.as_str(), arg) {
            (_, Short('h') | Long("help")) => return Ok(XtaskCmd::Help),
            ("lock", Long("upgrade")) => upgrade = true,
            ("render", Long("kind")) => kind = Some(Kind::parse("--kind", &string(p)?)?),
            ("render", Long("runtime")) => {
                runtime = Some(Runtime::parse("--runtime", &string(p)?)?);
            }
            ("render", Long("name")) => name = Some(string(p)?),
            ("render" | "registry", Long("port")) => port = Some(parse_port(&string(p)?)?),
            ("render", Value(value)) if dest.is_none() => dest = Some(PathBuf::from(value)),
            ("bench", Long("reps")) => {
                let value = string(p)?;
                reps = match value.parse::<usize>() {
                    Ok(reps) if reps > 0 => reps,
                    _ => bail!("invalid --reps {value:?}: a number of repetitions, 1 or more"),
                };
            }
            ("bench", Long("only")) => {
                let value = string(p)?;
                let parts = value
                    .split(',')
                    .map(|part| BenchPart::parse("--only part", part));
                only = Some(parts.collect::<anyhow::Result<Vec<_>>>()?);
            }
            ("bench", Long("out")) => out = Some(PathBuf::from(p.value()?)),
            (_, other) => return Err(other.unexpected().into()),
        }
    }
    Ok(match command.as_str() {
        "lock" => XtaskCmd::Lock(Lock {
            update: if upgrade {
                Update::Upgrade
            } else {
                Update::Minimal
            },
        }),
        "render" => XtaskCmd::Render(render(kind, runtime, name, port, dest)?),
        "registry" => XtaskCmd::Registry(Registry {
            port: port.unwrap_or(Registry::PORT),
        }),
        "bench" => XtaskCmd::Bench(Bench {
            reps,
            only,
            out: out.map(|out| absolute("--out", out)).transpose()?,
        }),
        _ => unreachable!("checked above"),
    })
}

/// Settles what `render` needs together: every answer, in a form the template accepts.
fn render(
    kind: Option<Kind>,
    runtime: Option<Runtime>,
    name: Option<String>,
    port: Option<u16>,
    dest: Option<PathBuf>,
) -> anyhow::Result<Render> {
    let kind = kind.context("missing --kind: pass --kind service or --kind cli")?;
    let runtime = runtime.context(
        "missing --runtime: pass --runtime scratch, --runtime alpine or --runtime distroless",
    )?;
    let dest =
        dest.context("missing DEST: the directory to render into (it must not exist yet)")?;
    if kind == Kind::Cli && port.is_some() {
        bail!("--port applies to --kind service only; remove --port");
    }
    if name
        .as_deref()
        .is_some_and(|name| name.contains(['/', '\\']))
    {
        bail!("--name is the project's name, not a path; put the directory in DEST");
    }
    let dest = absolute("DEST", dest)?;
    Ok(Render {
        kind,
        runtime,
        name,
        port,
        dest,
    })
}

fn string(p: &mut Parser) -> anyhow::Result<String> {
    Ok(p.value()?.string()?)
}

/// Paths are resolved against the directory `cargo xtask` was started in: `main` changes to
/// the repository root afterwards.
fn absolute(what: &str, path: PathBuf) -> anyhow::Result<PathBuf> {
    std::path::absolute(&path).with_context(|| format!("resolving {what} {}", path.display()))
}

/// The template's own rule for `port` (its regex), checked here because the engine's refusal
/// does not state it: `Sorry, "0" is not a valid value for port`.
fn parse_port(value: &str) -> anyhow::Result<u16> {
    match value.parse::<u16>() {
        Ok(port) if port != 0 && !value.starts_with(['0', '+']) => Ok(port),
        _ => bail!("invalid --port {value:?}: a port is a number from 1 to 65535"),
    }
}

#[derive(Debug)]
pub(crate) enum XtaskCmd {
    Help,
    Test(Test),
    Lock(Lock),
    Render(Render),
    Registry(Registry),
    Bench(Bench),
}

#[derive(Debug)]
pub(crate) struct Registry {
    pub(crate) port: u16,
}

impl Registry {
    /// A fixed default, so that cargo's caches of the registry survive between runs.
    pub(crate) const PORT: u16 = 47651;
}

#[derive(Debug)]
pub(crate) struct Test {
    /// Passed to the test binaries, after `--`: a test name filter, `--nocapture`, ...
    pub(crate) args: Vec<OsString>,
}

#[derive(Debug)]
pub(crate) struct Lock {
    pub(crate) update: Update,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Update {
    /// Only what the manifests force (new or changed dependencies): `cargo metadata`.
    Minimal,
    /// Every dependency to its newest compatible version: `cargo update`.
    Upgrade,
}

#[derive(Debug)]
pub(crate) struct Render {
    pub(crate) kind: Kind,
    pub(crate) runtime: Runtime,
    pub(crate) name: Option<String>,
    pub(crate) port: Option<u16>,
    /// Absolute: resolved against the directory `cargo xtask` was started in.
    pub(crate) dest: PathBuf,
}

#[derive(Debug)]
pub(crate) struct Bench {
    /// Rebuilds per change (source-only, version bump), and runs per allocator: at least 1.
    pub(crate) reps: usize,
    /// `None`: every part, in `BenchPart::ALL` order.
    pub(crate) only: Option<Vec<BenchPart>>,
    /// Absolute: resolved against the directory `cargo xtask` was started in.
    pub(crate) out: Option<PathBuf>,
}

/// A closed set of names, one variant each: `ALL`, `as_str`, `Display`, and `parse`, whose
/// refusal lists the choices.
macro_rules! choices {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $name { $($variant),+ }

        impl $name {
            pub(crate) const ALL: &[$name] = &[$($name::$variant),+];

            pub(crate) fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            fn parse(flag: &str, value: &str) -> anyhow::Result<$name> {
                let names: Vec<&str> = $name::ALL.iter().map(|choice| choice.as_str()).collect();
                $name::ALL.iter().copied().find(|choice| choice.as_str() == value).with_context(|| {
                    let (last, rest) = names.split_last().expect("a choice");
                    format!("invalid {flag} {value:?}: choose {} or {last}", rest.join(", "))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

choices! {
    /// The template's `kind` choices (template/cargo-generate.toml; a test keeps the two in step).
    Kind { Service = "service", Cli = "cli", }
}

choices! {
    /// The template's `runtime` choices (template/cargo-generate.toml; a test keeps the two in
    /// step).
    Runtime { Scratch = "scratch", Alpine = "alpine", Distroless = "distroless", }
}

choices! {
    /// What `cargo xtask bench --only` can select: the five Docker strategies, two side
    /// measurements, and ours with a shared compile cache (sccache) on fresh machines.
    BenchPart {
        Native = "native",
        Seed = "seed",
        CargoChef = "cargo-chef",
        CargoChefContainer = "cargo-chef-container",
        CacheMounts = "cache-mounts",
        CacheMountsContainer = "cache-mounts-container",
        Ours = "ours",
        OursRelease = "ours-release",
        Alloc = "alloc",
        Sccache = "sccache",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `cargo xtask LINE` parses to: the value's `Debug` with the current directory shown
    /// as `$CWD`, or the error.
    fn parse_line(line: &str) -> String {
        let cwd = std::env::current_dir().unwrap();
        match parse(line.split_whitespace().map(OsString::from)) {
            Ok(cmd) => format!("{cmd:?}").replace(cwd.to_str().unwrap(), "$CWD"),
            Err(error) => format!("error: {error:#}"),
        }
    }

    #[test]
    fn parses_every_command_and_refuses_with_the_rule() {
        let render = "render --kind service --runtime alpine";
        for (line, expected) in [
            ("", "Help"),
            ("render --help", "Help"),
            ("test", "Test(Test { args: [] })"),
            (
                "test matrix --nocapture",
                r#"Test(Test { args: ["matrix", "--nocapture"] })"#,
            ),
            (
                "test -- matrix --nocapture",
                r#"Test(Test { args: ["matrix", "--nocapture"] })"#,
            ),
            ("lock", "Lock(Lock { update: Minimal })"),
            ("lock --upgrade", "Lock(Lock { update: Upgrade })"),
            ("registry", "Registry(Registry { port: 47651 })"),
            ("registry --port 9000", "Registry(Registry { port: 9000 })"),
            (
                "registry --port x",
                r#"error: invalid --port "x": a port is a number from 1 to 65535"#,
            ),
            (
                "lock --all",
                "error: invalid option '--all'; run `cargo xtask --help` for the usage",
            ),
            (
                "render --kind service --runtime alpine --port 9000 out",
                r#"Render(Render { kind: Service, runtime: Alpine, name: None, port: Some(9000), dest: "$CWD/out" })"#,
            ),
            (
                "render out --name app --runtime distroless --kind cli",
                r#"Render(Render { kind: Cli, runtime: Distroless, name: Some("app"), port: None, dest: "$CWD/out" })"#,
            ),
            (
                "render --kind lib --runtime alpine d",
                r#"error: invalid --kind "lib": choose service or cli"#,
            ),
            (
                "render --kind cli --runtime ubuntu d",
                r#"error: invalid --runtime "ubuntu": choose scratch, alpine or distroless"#,
            ),
            (
                &format!("{render} --port 0 d"),
                r#"error: invalid --port "0": a port is a number from 1 to 65535"#,
            ),
            (
                &format!("{render} --port 08080 d"),
                r#"error: invalid --port "08080": a port is a number from 1 to 65535"#,
            ),
            (
                &format!("{render} --port 65536 d"),
                r#"error: invalid --port "65536": a port is a number from 1 to 65535"#,
            ),
            (
                "render --kind cli --runtime alpine --port 80 d",
                "error: --port applies to --kind service only; remove --port",
            ),
            (
                "render --runtime alpine d",
                "error: missing --kind: pass --kind service or --kind cli",
            ),
            (
                "render --kind cli d",
                "error: missing --runtime: pass --runtime scratch, --runtime alpine or --runtime distroless",
            ),
            (
                "render --kind cli --runtime alpine",
                "error: missing DEST: the directory to render into (it must not exist yet)",
            ),
            (
                "render --kind cli --runtime alpine --name ../x d",
                "error: --name is the project's name, not a path; put the directory in DEST",
            ),
            (
                "render --kind cli --runtime alpine d e",
                r#"error: unexpected argument "e"; run `cargo xtask --help` for the usage"#,
            ),
            (
                "render --kind",
                "error: missing argument for option '--kind'; run `cargo xtask --help` for the usage",
            ),
            ("bench", "Bench(Bench { reps: 3, only: None, out: None })"),
            (
                "bench --reps 1 --only ours,seed --out b.md",
                r#"Bench(Bench { reps: 1, only: Some([Ours, Seed]), out: Some("$CWD/b.md") })"#,
            ),
            (
                "bench --reps 0",
                r#"error: invalid --reps "0": a number of repetitions, 1 or more"#,
            ),
            (
                "bench --only ours,kaniko",
                r#"error: invalid --only part "kaniko": choose native, seed, cargo-chef, cargo-chef-container, cache-mounts, cache-mounts-container, ours, ours-release, alloc or sccache"#,
            ),
            (
                "bench extra",
                r#"error: unexpected argument "extra"; run `cargo xtask --help` for the usage"#,
            ),
            (
                "build",
                r#"error: unknown command "build"; the commands are test, lock, render, registry and bench (see `cargo xtask --help`)"#,
            ),
            (
                "--frobnicate",
                "error: invalid option '--frobnicate'; run `cargo xtask --help` for the usage",
            ),
        ] {
            assert_eq!(parse_line(line), expected, "cargo xtask {line}");
        }
    }
}
