//! The command line of `cargo xtask`: the whole grammar in one place, parsed into typed values.

use std::{ffi::OsString, fmt, path::PathBuf};

use anyhow::{Context, anyhow, bail};
use lexopt::ValueExt;

pub(crate) const HELP: &str = "\
cargo xtask: tasks of the rust-alpine template repository

usage:
  cargo xtask test [ARGS...]
      cargo test --workspace --locked -- ARGS: tidy, answers and the kind x runtime matrix,
      plus the Docker e2e suite when RUST_ALPINE_DOCKER=1 (engine: $DOCKER, default docker;
      builder image: $RUST_ALPINE_BUILDER_IMAGE, default the Dockerfile's)
  cargo xtask lock [--upgrade]
      refresh template/locks/<kind>.lock: the smallest change that satisfies the template's
      manifests, or with --upgrade the newest compatible versions (cargo update)
  cargo xtask render --kind service|cli --runtime scratch|alpine|distroless [--name NAME] [--port PORT] DEST
      render one project into the new directory DEST with the pinned engine; NAME defaults to
      DEST's last component, PORT (kind service only) to the template's default, 8080
  cargo xtask bench [--reps N] [--only PART[,PART...]] [--out FILE]
      Docker rebuild benchmark of one rendered service/scratch app: strategies seed, cargo-chef,
      cache-mounts, ours, ours-release (each from a cold build cache), the native floor (native)
      and jemalloc vs musl malloc (alloc). N rebuilds per change (default 3). Writes the table to
      FILE, default BENCHMARKS.md; with --only, only when --out is given. Engine: $DOCKER
      (default docker; it needs BuildKit); builder image: $RUST_ALPINE_BUILDER_IMAGE, default
      local/rust-musl-builder:1.96-bookworm
";

#[derive(Debug)]
pub(crate) enum XtaskCmd {
    Help,
    Test(Test),
    Lock(Lock),
    Render(Render),
    Bench(Bench),
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

/// What `cargo xtask bench --only` can select: the five Docker strategies and two side
/// measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BenchPart {
    Native,
    Seed,
    CargoChef,
    CacheMounts,
    Ours,
    OursRelease,
    Alloc,
}

impl BenchPart {
    pub(crate) const ALL: [BenchPart; 7] = [
        BenchPart::Native,
        BenchPart::Seed,
        BenchPart::CargoChef,
        BenchPart::CacheMounts,
        BenchPart::Ours,
        BenchPart::OursRelease,
        BenchPart::Alloc,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BenchPart::Native => "native",
            BenchPart::Seed => "seed",
            BenchPart::CargoChef => "cargo-chef",
            BenchPart::CacheMounts => "cache-mounts",
            BenchPart::Ours => "ours",
            BenchPart::OursRelease => "ours-release",
            BenchPart::Alloc => "alloc",
        }
    }
}

/// The template's `kind` choices (template/cargo-generate.toml; a test keeps the two in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Service,
    Cli,
}

impl Kind {
    pub(crate) const ALL: [Kind; 2] = [Kind::Service, Kind::Cli];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Cli => "cli",
        }
    }
}

/// The template's `runtime` choices (template/cargo-generate.toml; a test keeps the two in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runtime {
    Scratch,
    Alpine,
    Distroless,
}

impl Runtime {
    pub(crate) const ALL: [Runtime; 3] = [Runtime::Scratch, Runtime::Alpine, Runtime::Distroless];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Runtime::Scratch => "scratch",
            Runtime::Alpine => "alpine",
            Runtime::Distroless => "distroless",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the arguments after `cargo xtask`.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<XtaskCmd> {
    let mut parser = lexopt::Parser::from_args(args);
    parse_command(&mut parser).map_err(|error| match error.downcast::<lexopt::Error>() {
        Ok(error) => anyhow!("{error}; run `cargo xtask --help` for the usage"),
        Err(error) => error,
    })
}

fn parse_command(parser: &mut lexopt::Parser) -> anyhow::Result<XtaskCmd> {
    use lexopt::Arg::{Long, Short, Value};
    let command = match parser.next()? {
        None | Some(Short('h') | Long("help")) => return Ok(XtaskCmd::Help),
        Some(Value(command)) => command.string()?,
        Some(other) => return Err(other.unexpected().into()),
    };
    match command.as_str() {
        "test" => parse_test(parser),
        "lock" => parse_lock(parser),
        "render" => parse_render(parser),
        "bench" => parse_bench(parser),
        _ => bail!(
            "unknown command {command:?}; the commands are test, lock, render and bench (see `cargo xtask --help`)"
        ),
    }
}

fn parse_test(parser: &mut lexopt::Parser) -> anyhow::Result<XtaskCmd> {
    // Everything goes to the test binaries, so `cargo xtask test matrix --nocapture` works as
    // typed; a leading `--` is accepted too.
    let mut args: Vec<OsString> = parser.raw_args()?.collect();
    if args.first().is_some_and(|arg| arg == "--") {
        args.remove(0);
    }
    Ok(XtaskCmd::Test(Test { args }))
}

fn parse_lock(parser: &mut lexopt::Parser) -> anyhow::Result<XtaskCmd> {
    use lexopt::Arg::{Long, Short};
    let mut update = Update::Minimal;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("upgrade") => update = Update::Upgrade,
            Short('h') | Long("help") => return Ok(XtaskCmd::Help),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(XtaskCmd::Lock(Lock { update }))
}

fn parse_render(parser: &mut lexopt::Parser) -> anyhow::Result<XtaskCmd> {
    use lexopt::Arg::{Long, Short, Value};
    let (mut kind, mut runtime, mut name, mut port, mut dest) = (None, None, None, None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("kind") => kind = Some(parse_kind(&parser.value()?.string()?)?),
            Long("runtime") => runtime = Some(parse_runtime(&parser.value()?.string()?)?),
            Long("name") => name = Some(parser.value()?.string()?),
            Long("port") => port = Some(parse_port(&parser.value()?.string()?)?),
            Short('h') | Long("help") => return Ok(XtaskCmd::Help),
            Value(value) if dest.is_none() => dest = Some(PathBuf::from(value)),
            other => return Err(other.unexpected().into()),
        }
    }
    let kind = kind.context("missing --kind: pass --kind service or --kind cli")?;
    let runtime = runtime.context(
        "missing --runtime: pass --runtime scratch, --runtime alpine or --runtime distroless",
    )?;
    let dest =
        dest.context("missing DEST: the directory to render into (it must not exist yet)")?;
    match (kind, port) {
        (Kind::Cli, Some(_)) => bail!("--port applies to --kind service only; remove --port"),
        (Kind::Service | Kind::Cli, _) => {}
    }
    if name
        .as_deref()
        .is_some_and(|name| name.contains(['/', '\\']))
    {
        bail!("--name is the project's name, not a path; put the directory in DEST");
    }
    let dest =
        std::path::absolute(&dest).with_context(|| format!("resolving DEST {}", dest.display()))?;
    Ok(XtaskCmd::Render(Render {
        kind,
        runtime,
        name,
        port,
        dest,
    }))
}

fn parse_bench(parser: &mut lexopt::Parser) -> anyhow::Result<XtaskCmd> {
    use lexopt::Arg::{Long, Short};
    let (mut reps, mut only, mut out) = (3, None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Long("reps") => {
                let value = parser.value()?.string()?;
                reps = match value.parse::<usize>() {
                    Ok(reps) if reps > 0 => reps,
                    _ => bail!("invalid --reps {value:?}: a number of repetitions, 1 or more"),
                };
            }
            Long("only") => {
                let value = parser.value()?.string()?;
                let parts = value
                    .split(',')
                    .map(parse_bench_part)
                    .collect::<anyhow::Result<Vec<_>>>()?;
                only = Some(parts);
            }
            Long("out") => out = Some(PathBuf::from(parser.value()?)),
            Short('h') | Long("help") => return Ok(XtaskCmd::Help),
            other => return Err(other.unexpected().into()),
        }
    }
    let out = out
        .map(|out| {
            std::path::absolute(&out).with_context(|| format!("resolving --out {}", out.display()))
        })
        .transpose()?;
    Ok(XtaskCmd::Bench(Bench { reps, only, out }))
}

fn parse_bench_part(value: &str) -> anyhow::Result<BenchPart> {
    BenchPart::ALL
        .into_iter()
        .find(|part| part.as_str() == value)
        .with_context(|| {
            let names: Vec<&str> = BenchPart::ALL.iter().map(|part| part.as_str()).collect();
            format!(
                "invalid --only part {value:?}: choose from {}",
                names.join(", ")
            )
        })
}

fn parse_kind(value: &str) -> anyhow::Result<Kind> {
    Kind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == value)
        .with_context(|| format!("invalid --kind {value:?}: choose service or cli"))
}

fn parse_runtime(value: &str) -> anyhow::Result<Runtime> {
    Runtime::ALL
        .into_iter()
        .find(|runtime| runtime.as_str() == value)
        .with_context(|| {
            format!("invalid --runtime {value:?}: choose scratch, alpine or distroless")
        })
}

/// The template's own rule for `port` (its regex), checked here because the engine's refusal
/// does not state it: `Sorry, "0" is not a valid value for port`.
fn parse_port(value: &str) -> anyhow::Result<u16> {
    match value.parse::<u16>() {
        Ok(port) if port != 0 && !value.starts_with(['0', '+']) => Ok(port),
        _ => bail!("invalid --port {value:?}: a port is a number from 1 to 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> anyhow::Result<XtaskCmd> {
        parse(args.iter().map(OsString::from))
    }

    fn error(args: &[&str]) -> String {
        format!("{:#}", parse_str(args).unwrap_err())
    }

    #[test]
    fn render_takes_typed_answers_and_an_absolute_dest() {
        let cmd = parse_str(&[
            "render",
            "--kind",
            "service",
            "--runtime",
            "alpine",
            "--port",
            "9000",
            "out",
        ]);
        let Ok(XtaskCmd::Render(render)) = cmd else {
            panic!("{cmd:?}")
        };
        assert_eq!(
            (render.kind, render.runtime, render.port),
            (Kind::Service, Runtime::Alpine, Some(9000))
        );
        assert!(
            render.dest.is_absolute() && render.dest.ends_with("out"),
            "{render:?}"
        );
        assert_eq!(render.name, None);
    }

    #[test]
    fn render_refusals_state_the_rule() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["render", "--kind", "lib", "--runtime", "alpine", "d"],
                r#"invalid --kind "lib": choose service or cli"#,
            ),
            (
                &["render", "--kind", "cli", "--runtime", "ubuntu", "d"],
                r#"invalid --runtime "ubuntu": choose scratch, alpine or distroless"#,
            ),
            (
                &[
                    "render",
                    "--kind",
                    "service",
                    "--runtime",
                    "alpine",
                    "--port",
                    "0",
                    "d",
                ],
                r#"invalid --port "0": a port is a number from 1 to 65535"#,
            ),
            (
                &[
                    "render",
                    "--kind",
                    "service",
                    "--runtime",
                    "alpine",
                    "--port",
                    "08080",
                    "d",
                ],
                r#"invalid --port "08080""#,
            ),
            (
                &[
                    "render",
                    "--kind",
                    "service",
                    "--runtime",
                    "alpine",
                    "--port",
                    "65536",
                    "d",
                ],
                r#"invalid --port "65536""#,
            ),
            (
                &[
                    "render",
                    "--kind",
                    "cli",
                    "--runtime",
                    "alpine",
                    "--port",
                    "80",
                    "d",
                ],
                "--port applies to --kind service only; remove --port",
            ),
            (&["render", "--runtime", "alpine", "d"], "missing --kind"),
            (&["render", "--kind", "cli", "d"], "missing --runtime"),
            (
                &["render", "--kind", "cli", "--runtime", "alpine"],
                "missing DEST",
            ),
            (
                &[
                    "render",
                    "--kind",
                    "cli",
                    "--runtime",
                    "alpine",
                    "--name",
                    "../x",
                    "d",
                ],
                "not a path",
            ),
            (
                &["render", "--kind", "cli", "--runtime", "alpine", "d", "e"],
                "unexpected argument \"e\"; run `cargo xtask --help`",
            ),
            (&["build"], "unknown command \"build\""),
        ];
        for (args, expected) in cases {
            let message = error(args);
            assert!(
                message.contains(expected),
                "{args:?}: {message:?} does not contain {expected:?}"
            );
        }
    }

    #[test]
    fn test_passes_everything_after_the_command_through() {
        for args in [
            &["test", "matrix", "--nocapture"][..],
            &["test", "--", "matrix", "--nocapture"],
        ] {
            let cmd = parse_str(args);
            let Ok(XtaskCmd::Test(test)) = cmd else {
                panic!("{cmd:?}")
            };
            assert_eq!(test.args, ["matrix", "--nocapture"]);
        }
    }

    #[test]
    fn bench_defaults_to_everything_three_times() {
        let cmd = parse_str(&["bench"]);
        let Ok(XtaskCmd::Bench(bench)) = cmd else {
            panic!("{cmd:?}")
        };
        assert_eq!((bench.reps, bench.only, bench.out), (3, None, None));

        let cmd = parse_str(&[
            "bench",
            "--reps",
            "1",
            "--only",
            "ours,seed",
            "--out",
            "b.md",
        ]);
        let Ok(XtaskCmd::Bench(bench)) = cmd else {
            panic!("{cmd:?}")
        };
        assert_eq!(bench.reps, 1);
        assert_eq!(bench.only, Some(vec![BenchPart::Ours, BenchPart::Seed]));
        let out = bench.out.expect("--out");
        assert!(out.is_absolute() && out.ends_with("b.md"), "{out:?}");
    }

    #[test]
    fn bench_refusals_state_the_rule() {
        assert!(error(&["bench", "--reps", "0"]).contains("1 or more"));
        assert!(
            error(&["bench", "--only", "ours,kaniko"])
                .contains("invalid --only part \"kaniko\": choose from native, seed, cargo-chef")
        );
        assert!(error(&["bench", "extra"]).contains("unexpected argument"));
    }

    #[test]
    fn lock_is_minimal_unless_asked_to_upgrade() {
        assert!(matches!(
            parse_str(&["lock"]),
            Ok(XtaskCmd::Lock(Lock {
                update: Update::Minimal
            }))
        ));
        let upgrade = parse_str(&["lock", "--upgrade"]);
        assert!(matches!(
            upgrade,
            Ok(XtaskCmd::Lock(Lock {
                update: Update::Upgrade
            }))
        ));
        assert!(error(&["lock", "--all"]).contains("invalid option '--all'"));
    }
}
