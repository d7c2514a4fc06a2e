//! The command line of `cargo xtask`, in one place.

use std::{ffi::OsString, path::PathBuf};

use anyhow::{Context, bail};

use crate::{budget, platform::Platform};

pub const HELP: &str = "\
usage: cargo xtask docker [OPTIONS]
       cargo xtask upgrade [--to VERSION]
       cargo xtask plan SRC OUT   (the Dockerfile's dependency planner: see src/plan.rs)

The Dockerfile's build stages run (as `rust-alpine COMMAND`, installed in the builder):
  toolchain               the Rust target of TARGETARCH and its C toolchain, the runtime user
  auditable ROOT CACHE    install cargo-auditable (pinned) under ROOT, target dir CACHE
  cook RECIPE CACHE       compile the dependencies of the plan in RECIPE, in the cache mount CACHE
  build RECIPE OUT [ENTRYPOINT]
                          compile the sources under cargo auditable; OUT becomes the image's
                          files: the binaries (the entrypoint's at ENTRYPOINT), `include`, zoneinfo
  cargo ARGS...           cargo under the compile cache (sccache with the `sccache` secret)

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
  --features LIST         build the image with these features too (comma-separated,
                          repeatable; `member/name` for another member's), added to the
                          settings' `features`; reaches the planner as --build-arg FEATURES
  --no-default-features   build the image without the default features
  --all-features          build the image with every feature
  --profile NAME          cargo profile to ship (default: the Dockerfile's, `container`;
                          `release` is the smallest binary, fat LTO, slower to rebuild)
  --check-cache           after the build, prove the layer cache works: rebuild a copy of the
                          build context untouched (nothing may compile), with a source-only
                          change and with a comment added to the manifest (only this crate
                          may compile); report crates and seconds
  --check-version-bump    with --check-cache, also rebuild with the package version bumped
                          (no dependency may compile)
  --budget SIZE           override [workspace.metadata.docker] size-budget, e.g. \"6 MB\"
  --cache-mounts DIR      carry the build's cache mounts (every cargo target directory of the
                          Dockerfile) between machines: fill the empty ones from DIR before the
                          build, write them to DIR after it; for a CI cache to keep (Docker)
  --json                  print the report as JSON on stdout (build output goes to stderr)
  -h, --help              this help

upgrade: brings the files rust-alpine owns (Dockerfile, .dockerignore, .cargo/config.toml, the
workflows) to the version xtask/Cargo.toml pins, keeping your edits (three-way merge; conflicts
are left with markers and named, with a non-zero exit)
  --to VERSION            pin rust-alpine =VERSION in xtask/Cargo.toml first, then run that
                          version's upgrade";

#[derive(Debug)]
pub enum Command {
    Help,
    Docker(Docker),
    /// The Dockerfile's dependency planner: the build context, and where the plan goes.
    Plan {
        src: PathBuf,
        out: PathBuf,
    },
    /// The image build's commands (`image` module).
    Toolchain,
    Auditable {
        root: PathBuf,
        cache: PathBuf,
    },
    Cook {
        recipe: PathBuf,
        cache: PathBuf,
    },
    Build {
        recipe: PathBuf,
        out: PathBuf,
        /// The path the Dockerfile's ENTRYPOINT runs (`/NAME` of the entrypoint's binary when
        /// not given).
        entrypoint: Option<String>,
    },
    Cargo(Vec<String>),
    /// `upgrade [--to VERSION]`.
    Upgrade {
        to: Option<String>,
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
    /// A one-off feature selection (`--features`, `--no-default-features`, `--all-features`).
    pub features: Vec<String>,
    pub no_default_features: bool,
    pub all_features: bool,
    /// Where the build's cache mounts are restored from and saved to (`mounts`).
    pub cache_mounts: Option<PathBuf>,
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
        Some(Value(command)) if command == "upgrade" => {
            let mut to = None;
            while let Some(arg) = parser.next()? {
                match arg {
                    Long("to") => to = value(&mut parser, "to")?,
                    Short('h') | Long("help") => return Ok(Command::Help),
                    other => bail!(
                        "{}; usage: cargo xtask upgrade [--to VERSION]",
                        other.unexpected()
                    ),
                }
            }
            return Ok(Command::Upgrade { to });
        }
        Some(Value(command)) if command == "toolchain" => {
            if parser.next()?.is_some() {
                bail!("usage: rust-alpine toolchain");
            }
            return Ok(Command::Toolchain);
        }
        Some(Value(command)) if command == "cargo" => {
            let args = parser
                .raw_args()?
                .map(lexopt::ValueExt::string)
                .collect::<Result<_, _>>()?;
            return Ok(Command::Cargo(args));
        }
        Some(Value(command))
            if command == "auditable" || command == "cook" || command == "build" =>
        {
            let usage = match command.to_str() {
                Some("auditable") => "usage: rust-alpine auditable ROOT CACHE",
                Some("cook") => "usage: rust-alpine cook RECIPE CACHE",
                _ => "usage: rust-alpine build RECIPE OUT [ENTRYPOINT]",
            };
            let first: PathBuf = parser.value().context(usage)?.into();
            let second: PathBuf = parser.value().context(usage)?.into();
            let entrypoint = match parser.next()? {
                None => None,
                Some(Value(path)) if command == "build" => Some(lexopt::ValueExt::string(path)?),
                Some(_) => bail!(usage),
            };
            if entrypoint.is_some() && parser.next()?.is_some() {
                bail!(usage);
            }
            return Ok(match command.to_str() {
                Some("auditable") => Command::Auditable {
                    root: first,
                    cache: second,
                },
                Some("cook") => Command::Cook {
                    recipe: first,
                    cache: second,
                },
                _ => Command::Build {
                    recipe: first,
                    out: second,
                    entrypoint,
                },
            });
        }
        Some(other) => bail!(
            "{}: the commands are `docker`, `upgrade` and `plan` (and the image build's: see --help)",
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
            Long("features") | Short('F') => {
                let list = value(&mut parser, "features")?.unwrap_or_default();
                docker.features.extend(
                    list.split([',', ' '])
                        .filter(|feature| !feature.is_empty())
                        .map(str::to_owned),
                );
            }
            Long("no-default-features") => docker.no_default_features = true,
            Long("all-features") => docker.all_features = true,
            Long("check-cache") => docker.check_cache = true,
            Long("check-version-bump") => docker.check_version_bump = true,
            Long("no-cache") => docker.no_cache = true,
            Long("json") => docker.json = true,
            Long("cache-mounts") => {
                docker.cache_mounts = value(&mut parser, "cache-mounts")?.map(PathBuf::from)
            }
            Short('h') | Long("help") => return Ok(Command::Help),
            other => bail!("{}", other.unexpected()),
        }
    }
    if docker.check_version_bump && !docker.check_cache {
        bail!("--check-version-bump needs --check-cache");
    }
    if docker.no_cache && docker.cache_mounts.is_some() {
        bail!(
            "--no-cache starts every cache mount empty (BuildKit), which --cache-mounts is there \
             to avoid: use one or the other"
        );
    }
    if let Some(tag) = &docker.tag {
        check_tag(tag).context("--tag")?;
    }
    if let Some(profile) = &docker.profile {
        check_profile_name(profile).context("--profile")?;
    }
    if let Some(budget) = &docker.budget {
        budget::parse_budget(budget).context("--budget")?;
    }
    Ok(Command::Docker(docker))
}

fn value(parser: &mut lexopt::Parser, name: &str) -> anyhow::Result<Option<String>> {
    let value = parser
        .value()
        .with_context(|| format!("--{name} needs a value"))?;
    Ok(Some(lexopt::ValueExt::string(value)?))
}

/// Checks an image reference as `docker build --tag` takes it, by Docker's grammar
/// (github.com/distribution/reference): `[host[:port]/]path[:tag]`, the path components
/// lowercase `[a-z0-9]` joined by `.`, `_`, `__` or dashes, the tag `[A-Za-z0-9_][A-Za-z0-9_.-]`
/// up to 128 characters. A digest names an image the engine has not built yet: refused.
pub fn check_tag(reference: &str) -> anyhow::Result<()> {
    let refuse = |rule: &str| -> anyhow::Result<()> {
        bail!("invalid image tag {reference:?}: {rule}; e.g. `--tag my-app:1.0`")
    };
    if reference.is_empty() {
        return refuse("it is empty");
    }
    let (name_and_tag, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        if let Err(rule) = check_digest(digest) {
            return refuse(&rule);
        }
        return refuse(
            "a digest (`@sha256:...`) cannot be given to a build, the engine computes it; \
             remove `@...`",
        );
    }
    // The tag is after the last `:` that comes after the last `/` (a registry's port is before).
    let last_slash = name_and_tag.rfind('/').map_or(0, |at| at + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(at) => (
            &name_and_tag[..last_slash + at],
            Some(&name_and_tag[last_slash + at + 1..]),
        ),
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag
        && let Err(rule) = check_tag_part(tag)
    {
        return refuse(&rule);
    }
    if name.len() > 255 {
        return refuse("the name is longer than 255 characters");
    }
    let mut components: Vec<&str> = name.split('/').collect();
    // Docker's rule: the first of several components is a registry host when it has a `.` or a
    // `:`, is `localhost`, or has an upper-case letter.
    if components.len() > 1 {
        let first = components[0];
        let is_host = first.contains(['.', ':'])
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase());
        if is_host {
            if let Err(rule) = check_host(first) {
                return refuse(&rule);
            }
            components.remove(0);
        }
    }
    for component in components {
        if let Err(rule) = check_path_component(component) {
            return refuse(&rule);
        }
    }
    Ok(())
}

/// A name component: `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn check_path_component(component: &str) -> Result<(), String> {
    let rule = "name components are lower-case letters and digits, separated by `.`, `_`, `__` \
                or `-` (not at either end), and joined by `/`";
    if component.is_empty() {
        return Err(format!("an empty name component; {rule}"));
    }
    if let Some(bad) = component
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("{bad:?} is not allowed in a name; {rule}"));
    }
    let mut rest = component;
    let mut expect_alnum = true;
    while !rest.is_empty() {
        let alnum = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        if expect_alnum {
            if alnum == 0 {
                return Err(format!(
                    "{component:?} has a separator in the wrong place; {rule}"
                ));
            }
            rest = &rest[alnum..];
        } else {
            let separator = rest
                .find(|c: char| c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            let ok = matches!(&rest[..separator], "." | "_" | "__")
                || rest[..separator].chars().all(|c| c == '-');
            if !ok || separator == rest.len() {
                return Err(format!(
                    "{component:?} has a separator in the wrong place; {rule}"
                ));
            }
            rest = &rest[separator..];
        }
        expect_alnum = !expect_alnum;
    }
    Ok(())
}

/// `host[:port]`: DNS labels (letters, digits, inner dashes) joined by `.`, or `[IPv6]`.
fn check_host(domain: &str) -> Result<(), String> {
    let (host, port) = match domain.rfind(':') {
        // Not a colon of `[IPv6]`.
        Some(at) if !domain[at..].contains(']') => (&domain[..at], Some(&domain[at + 1..])),
        _ => (domain, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!(
            "registry {domain:?} has a port that is not a number; write host:port, e.g. \
             localhost:5000/my-app"
        ));
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let ok = match host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
    {
        Some(ipv6) => !ipv6.is_empty() && ipv6.chars().all(|c| c.is_ascii_hexdigit() || c == ':'),
        None => host.split('.').all(label_ok),
    };
    match ok {
        true => Ok(()),
        false => Err(format!(
            "registry host {host:?} is not a host name: labels of letters, digits and inner \
             `-`, joined by `.`"
        )),
    }
}

/// The tag after `:`: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag_part(tag: &str) -> Result<(), String> {
    let rule = "a tag is 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`";
    let first_ok = tag
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = tag
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    match (tag.is_empty(), first_ok && rest_ok && tag.len() <= 128) {
        (true, _) => Err(format!("nothing after the `:`; {rule}")),
        (false, true) => Ok(()),
        (false, false) => Err(format!("the tag {tag:?} is not one; {rule}")),
    }
}

/// `algorithm:hex`, the hex at least 32 digits (`sha256:` followed by 64).
fn check_digest(digest: &str) -> Result<(), String> {
    let rule = "a digest is `algorithm:hex`, e.g. `sha256:` and 64 hex digits";
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(format!("the digest {digest:?} has no `:`; {rule}"));
    };
    let algorithm_ok = algorithm.split(['+', '.', '-', '_']).all(|part| {
        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && part.chars().all(|c| c.is_ascii_alphanumeric())
    });
    let hex_ok = hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit());
    match algorithm_ok && hex_ok {
        true => Ok(()),
        false => Err(format!("the digest {digest:?} is not one; {rule}")),
    }
}

/// Cargo's own rule for a profile name (cargo-util-schemas, `validate_profile_name`): letters,
/// digits, `_` and `-`; `debug`, `build-override`, `doc`, the names of cargo's commands and
/// directories, and `cargo*` (any case) are reserved. Whether the profile is defined is
/// cargo's to say (`docker::check_profile_defined`).
pub fn check_profile_name(name: &str) -> anyhow::Result<()> {
    let how = "name a profile of Cargo.toml (`container`, `release`, `dev`, or a [profile.NAME] of \
               your own)";
    if name.is_empty() {
        bail!("the profile name is empty; {how}");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-')))
    {
        bail!(
            "invalid character {bad:?} in profile name {name:?}: cargo allows letters, digits, \
             `_` and `-`; {how}"
        );
    }
    let lower = name.to_lowercase();
    if lower == "debug" {
        bail!(
            "profile name `debug` is reserved by cargo: the development profile is `dev` \
             (`--profile dev`, built into target/<target>/debug)"
        );
    }
    const RESERVED: [&str; 21] = [
        "build-override",
        "doc",
        "build",
        "check",
        "clean",
        "config",
        "fetch",
        "fix",
        "install",
        "metadata",
        "package",
        "publish",
        "report",
        "root",
        "run",
        "rust",
        "rustc",
        "rustdoc",
        "target",
        "tmp",
        "uninstall",
    ];
    if RESERVED.contains(&lower.as_str()) || lower.starts_with("cargo") {
        bail!("profile name {name:?} is reserved by cargo; {how}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> anyhow::Result<Command> {
        parse(line.split_whitespace().map(OsString::from))
    }

    #[test]
    fn cache_mounts_take_a_directory_and_exclude_no_cache() {
        let Command::Docker(docker) = parse_str("docker --cache-mounts .cache/mounts").unwrap()
        else {
            panic!("not docker")
        };
        assert_eq!(docker.cache_mounts, Some(PathBuf::from(".cache/mounts")));
        let error = parse_str("docker --no-cache --cache-mounts m").unwrap_err();
        assert!(
            error.to_string().contains("use one or the other"),
            "{error}"
        );
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
    fn bad_values_are_refused_naming_the_flag() {
        for (args, message) in [
            (
                &["--tag", "UPPER"][..],
                "--tag: invalid image tag \"UPPER\": 'U' is not allowed",
            ),
            (&["--tag", ""], "--tag: invalid image tag \"\": it is empty"),
            (
                &["--budget", "0"],
                "--budget: the size budget \"0\" is zero",
            ),
            (
                &["--budget", "-1MB"],
                "--budget: reading the size budget \"-1MB\"",
            ),
            (&["--budget", ""], "--budget: reading the size budget \"\""),
            (
                &["--budget", "lots"],
                "--budget: reading the size budget \"lots\"",
            ),
            (
                &["--profile", "debug"],
                "--profile: profile name `debug` is reserved",
            ),
            (
                &["--profile", "a.b"],
                "--profile: invalid character '.' in profile name",
            ),
        ] {
            let line: Vec<&str> = std::iter::once("docker")
                .chain(args.iter().copied())
                .collect();
            let error = format!("{:#}", parse(line.iter().map(OsString::from)).unwrap_err());
            assert!(error.starts_with(message), "{line:?}: {error}");
            if line[1] == "--budget" {
                assert!(error.contains("e.g. \"8 MB\""), "{error}");
            }
        }
    }

    #[test]
    fn tags_follow_the_reference_grammar() {
        for tag in [
            "demo",
            "demo:0.1.0",
            "demo:latest",
            "my-app:1.0",
            "my__app:_x",
            "a--b.c_d:T.1-2",
            "org/a--b.c_d",
            "ghcr.io/org/demo:1.2.3",
            "localhost:5000/demo:dev",
            "localhost/demo",
            "registry.example.com:443/a/b/c:v",
            "[::1]:5000/demo:1",
            "0:1",
        ] {
            check_tag(tag).unwrap_or_else(|error| panic!("{tag}: {error:#}"));
        }
        let long_tag = format!("demo:{}", "x".repeat(129));
        let digest = format!("demo@sha256:{}", "a".repeat(64));
        for (tag, rule) in [
            (
                "UPPER",
                "'U' is not allowed in a name; name components are lower-case",
            ),
            ("a b", "' ' is not allowed in a name"),
            (":x", "an empty name component"),
            ("", "it is empty"),
            ("demo:", "nothing after the `:`"),
            ("demo:.x", "the tag \".x\" is not one; a tag is 1 to 128"),
            ("demo:a+b", "the tag \"a+b\" is not one"),
            (long_tag.as_str(), "is not one; a tag is 1 to 128"),
            ("-demo", "separator in the wrong place"),
            ("demo-", "separator in the wrong place"),
            ("de...mo", "separator in the wrong place"),
            ("de___mo", "separator in the wrong place"),
            ("org//demo", "an empty name component"),
            ("demo/", "an empty name component"),
            ("localhost:x/demo", "has a port that is not a number"),
            ("bad_host.io/demo", "is not a host name"),
            ("demo@sha256:abc", "the digest \"sha256:abc\" is not one"),
            ("demo@abc", "has no `:`"),
            (
                digest.as_str(),
                "a digest (`@sha256:...`) cannot be given to a build",
            ),
        ] {
            let error = check_tag(tag).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("invalid image tag {tag:?}: ")),
                "{tag}: {error}"
            );
            assert!(error.contains(rule), "{tag}: {error}");
            assert!(error.ends_with("e.g. `--tag my-app:1.0`"), "{error}");
        }
    }

    #[test]
    fn profile_names_follow_cargo() {
        for name in [
            "dev",
            "release",
            "test",
            "bench",
            "container",
            "my_prof-1",
            "1abc",
            "x_",
        ] {
            check_profile_name(name).unwrap_or_else(|error| panic!("{name}: {error:#}"));
        }
        for (name, message) in [
            ("", "the profile name is empty"),
            ("a b", "invalid character ' ' in profile name \"a b\""),
            ("a.b", "invalid character '.'"),
            (
                "debug",
                "profile name `debug` is reserved by cargo: the development profile is `dev`",
            ),
            ("Debug", "profile name `debug` is reserved"),
            ("doc", "profile name \"doc\" is reserved by cargo"),
            ("build", "profile name \"build\" is reserved"),
            ("BUILD", "profile name \"BUILD\" is reserved"),
            (
                "build-override",
                "profile name \"build-override\" is reserved by cargo",
            ),
            ("cargo-x", "profile name \"cargo-x\" is reserved by cargo"),
            ("Cargo_x", "profile name \"Cargo_x\" is reserved by cargo"),
            ("tmp", "profile name \"tmp\" is reserved by cargo"),
        ] {
            let error = check_profile_name(name).unwrap_err().to_string();
            assert!(error.starts_with(message), "{name}: {error}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for (line, message) in [
            (
                "compile",
                "unexpected argument \"compile\": the commands are `docker`, `upgrade` and `plan`",
            ),
            ("build", "usage: rust-alpine build RECIPE OUT"),
            ("cook /recipe", "usage: rust-alpine cook RECIPE CACHE"),
            ("toolchain x", "usage: rust-alpine toolchain"),
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
        match parse_str("cargo build --locked --bin x").unwrap() {
            Command::Cargo(args) => assert_eq!(args, ["build", "--locked", "--bin", "x"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_str("docker --help").unwrap(), Command::Help));
        match parse_str("upgrade --to 0.2.0").unwrap() {
            Command::Upgrade { to } => assert_eq!(to.as_deref(), Some("0.2.0")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_str("upgrade").unwrap(),
            Command::Upgrade { to: None }
        ));
        let error = parse_str("upgrade --tag x").unwrap_err().to_string();
        assert!(
            error.contains("usage: cargo xtask upgrade [--to VERSION]"),
            "{error}"
        );
        assert!(parse_str("upgrade --to").is_err());
    }
}
