//! The command line of `cargo xtask`, in one place.

use std::ffi::OsString;

use anyhow::{Context, bail};

pub const HELP: &str = "\
usage: cargo xtask docker [OPTIONS]

Builds the image, smoke-tests it in a locked-down container and checks its size budget.

options:
  --engine PROGRAM        container engine (default: $DOCKER, else `docker`; `podman` works too)
  --tag TAG               image tag (default: <package>:<version>)
  --no-cache              build without the engine's layer cache
  --builder-image IMAGE   base of the build stages (default: the Dockerfile's BUILDER_IMAGE)
  --runtime-image IMAGE   base of the final stage, for alpine and distroless (mirrors)
  --build-flag ARG        extra argument for the engine's build, repeatable
                          (e.g. --build-flag=--load --build-flag=--cache-from=type=gha)
  --budget SIZE           override [workspace.metadata.docker] size-budget, e.g. \"6 MB\"
  --json                  print the report as JSON on stdout (build output goes to stderr)
  -h, --help              this help";

#[derive(Debug)]
pub enum Command {
    Help,
    Docker(Docker),
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
    pub json: bool,
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<Command> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut docker = Docker::default();
    match parser.next()? {
        None | Some(Short('h') | Long("help")) => return Ok(Command::Help),
        Some(Value(command)) if command == "docker" => {}
        Some(other) => bail!("{}: the only command is `docker`", other.unexpected()),
    }
    while let Some(arg) = parser.next()? {
        match arg {
            Long("engine") => docker.engine = value(&mut parser, "engine")?,
            Long("tag") => docker.tag = value(&mut parser, "tag")?,
            Long("builder-image") => docker.builder_image = value(&mut parser, "builder-image")?,
            Long("runtime-image") => docker.runtime_image = value(&mut parser, "runtime-image")?,
            Long("budget") => docker.budget = value(&mut parser, "budget")?,
            Long("build-flag") => docker.build_flags.extend(value(&mut parser, "build-flag")?),
            Long("no-cache") => docker.no_cache = true,
            Long("json") => docker.json = true,
            Short('h') | Long("help") => return Ok(Command::Help),
            other => bail!("{}", other.unexpected()),
        }
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
             --budget 6MB --json --build-flag=--load --build-flag --cache-from=type=gha",
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
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for (line, message) in [
            (
                "build",
                "unexpected argument \"build\": the only command is `docker`",
            ),
            ("docker --frobnicate", "invalid option '--frobnicate'"),
            ("docker --tag", "--tag needs a value"),
        ] {
            let error = format!("{:#}", parse_str(line).unwrap_err());
            assert!(error.contains(message), "{line}: {error}");
        }
        assert!(matches!(parse_str("").unwrap(), Command::Help));
        assert!(matches!(parse_str("docker --help").unwrap(), Command::Help));
    }
}
