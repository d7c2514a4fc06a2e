//! The command line of `cargo xtask`, in one place.

use std::{ffi::OsString, path::PathBuf};

use anyhow::{Context, bail};

use crate::platform::Platform;

pub const HELP: &str = "\
usage: cargo xtask docker [OPTIONS]
       cargo xtask plan SRC OUT   (the Dockerfile's dependency planner: see src/plan.rs)

Builds the image, smoke-tests it in a locked-down container and checks its size budget.

options:
  --engine PROGRAM        container engine (default: $DOCKER, else `docker`; `podman` works too)
  --tag TAG               image tag (default: <package>:<version>)
  --no-cache              build without the engine's layer cache
  --builder-image IMAGE   base of the build stages (default: the Dockerfile's BUILDER_IMAGE)
  --runtime-image IMAGE   base of the final stage, for alpine and distroless (mirrors)
  --platform LIST         build, smoke-test and report each platform in turn: linux/amd64,
                          linux/arm64 or both, comma-separated (default: the engine's own);
                          the builder cross-compiles; a foreign platform's smoke test runs
                          under emulation (qemu-user via binfmt_misc). Several platforms are
                          tagged <tag>-amd64, <tag>-arm64
  --build-flag ARG        extra argument for the engine's build, repeatable
                          (e.g. --build-flag=--load --build-flag=--cache-from=type=gha)
  --profile NAME          cargo profile to ship (default: the Dockerfile's, `container`;
                          `release` is the smallest binary, fat LTO, slower to rebuild)
  --check-cache           after the build, prove the layer cache works: rebuild a copy of the
                          build context untouched (nothing may compile) and with a source-only
                          change (only this crate may compile); report crates and seconds
  --check-version-bump    with --check-cache, also rebuild with the package version bumped
                          (no dependency may compile)
  --budget SIZE           override [workspace.metadata.docker] size-budget, e.g. \"6 MB\"
  --json                  print the report as JSON on stdout (build output goes to stderr)
  -h, --help              this help";

#[derive(Debug)]
pub enum Command {
    Help,
    Docker(Docker),
    /// The Dockerfile's dependency planner: the build context, and where the plan goes.
    Plan {
        src: PathBuf,
        out: PathBuf,
    },
}

#[derive(Debug, Default)]
pub struct Docker {
    pub engine: Option<String>,
    pub tag: Option<String>,
    pub no_cache: bool,
    pub builder_image: Option<String>,
    pub runtime_image: Option<String>,
    pub budget: Option<String>,
    pub build_flags: Vec<String>,
    /// Empty: the engine's default platform, and no `--platform` passed to it.
    pub platforms: Vec<Platform>,
    pub profile: Option<String>,
    pub check_cache: bool,
    pub check_version_bump: bool,
    pub json: bool,
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<Command> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut docker = Docker::default();
    match parser.next()? {
        None | Some(Short('h') | Long("help")) => return Ok(Command::Help),
        Some(Value(command)) if command == "docker" => {}
        Some(Value(command)) if command == "plan" => {
            let usage = "usage: cargo xtask plan SRC OUT";
            let src = parser.value().context(usage)?;
            let out = parser.value().context(usage)?;
            if parser.next()?.is_some() {
                bail!(usage);
            }
            return Ok(Command::Plan {
                src: src.into(),
                out: out.into(),
            });
        }
        Some(other) => bail!(
            "{}: the commands are `docker` and `plan`",
            other.unexpected()
        ),
    }
    while let Some(arg) = parser.next()? {
        match arg {
            Long("engine") => docker.engine = value(&mut parser, "engine")?,
            Long("tag") => docker.tag = value(&mut parser, "tag")?,
            Long("builder-image") => docker.builder_image = value(&mut parser, "builder-image")?,
            Long("runtime-image") => docker.runtime_image = value(&mut parser, "runtime-image")?,
            Long("budget") => docker.budget = value(&mut parser, "budget")?,
            Long("build-flag") => docker.build_flags.extend(value(&mut parser, "build-flag")?),
            Long("platform") => {
                let list = value(&mut parser, "platform")?.unwrap_or_default();
                docker.platforms = Platform::parse_list(&list)?;
            }
            Long("profile") => docker.profile = value(&mut parser, "profile")?,
            Long("check-cache") => docker.check_cache = true,
            Long("check-version-bump") => docker.check_version_bump = true,
            Long("no-cache") => docker.no_cache = true,
            Long("json") => docker.json = true,
            Short('h') | Long("help") => return Ok(Command::Help),
            other => bail!("{}", other.unexpected()),
        }
    }
    if docker.check_version_bump && !docker.check_cache {
        bail!("--check-version-bump needs --check-cache");
    }
    Ok(Command::Docker(docker))
}

fn value(parser: &mut lexopt::Parser, name: &str) -> anyhow::Result<Option<String>> {
    let value = parser
        .value()
        .with_context(|| format!("--{name} needs a value"))?;
    Ok(Some(lexopt::ValueExt::string(value)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> anyhow::Result<Command> {
        parse(line.split_whitespace().map(OsString::from))
    }

    #[test]
    fn parses_every_option() {
        let Command::Docker(docker) = parse_str(
            "docker --engine podman --tag x:1 --no-cache --builder-image b --runtime-image r \
             --budget 6MB --json --build-flag=--load --build-flag --cache-from=type=gha \
             --profile release --check-cache --check-version-bump \
             --platform linux/amd64,linux/arm64",
        )
        .unwrap() else {
            panic!("not docker")
        };
        assert_eq!(docker.engine.as_deref(), Some("podman"));
        assert_eq!(docker.tag.as_deref(), Some("x:1"));
        assert!(docker.no_cache && docker.json);
        assert_eq!(docker.builder_image.as_deref(), Some("b"));
        assert_eq!(docker.runtime_image.as_deref(), Some("r"));
        assert_eq!(docker.budget.as_deref(), Some("6MB"));
        assert_eq!(docker.build_flags, ["--load", "--cache-from=type=gha"]);
        assert_eq!(docker.profile.as_deref(), Some("release"));
        assert!(docker.check_cache && docker.check_version_bump);
        assert_eq!(docker.platforms, [Platform::Amd64, Platform::Arm64]);
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for (line, message) in [
            (
                "build",
                "unexpected argument \"build\": the commands are `docker` and `plan`",
            ),
            ("docker --frobnicate", "invalid option '--frobnicate'"),
            ("docker --tag", "--tag needs a value"),
            (
                "docker --platform linux/s390x",
                "unsupported platform \"linux/s390x\"",
            ),
            (
                "docker --check-version-bump",
                "--check-version-bump needs --check-cache",
            ),
        ] {
            let error = format!("{:#}", parse_str(line).unwrap_err());
            assert!(error.contains(message), "{line}: {error}");
        }
        assert!(matches!(parse_str("").unwrap(), Command::Help));
        assert!(matches!(parse_str("docker --help").unwrap(), Command::Help));
    }
}
