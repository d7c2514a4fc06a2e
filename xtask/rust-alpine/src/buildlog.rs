//! What a build's log says: the crates cargo compiled, the errors that made it fail, and what
//! to do about the failures that have a known cause. Text in, text out (std only): the
//! repository's bench compiles this file too.

/// Crate names from cargo's `Compiling <name> v<version>` lines, in BuildKit's plain progress
/// log (`#17 0.372    Compiling demo v0.1.0 (/build)`) or cargo's own.
pub fn compiled_crates<'a>(log: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    log.into_iter()
        .filter_map(|line| {
            let rest = line.split_once("Compiling ")?.1;
            let mut words = rest.split_whitespace();
            let (name, version) = (words.next()?, words.next()?);
            let version = version.strip_prefix('v')?;
            version
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| name.to_owned())
        })
        .collect()
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
pub const EMULATION_HINT: &str = "this host cannot run binaries of that platform: register \
     qemu-user with binfmt_misc (Debian/Ubuntu: `apt-get install qemu-user-static binfmt-support`; \
     Docker Desktop has it; elsewhere `docker run --privileged --rm tonistiigi/binfmt --install arm64,amd64`)";

/// What to do about the build failures that have a known cause.
/// A build whose cargo could not reach a registry (the network off, or no route to it).
const NO_REGISTRY_HINT: &str = "cargo in the build could not reach a registry: the `tool` and \
     `auditable` stages install rust-alpine and cargo-auditable from one (crates.io, or \
     RUST_ALPINE_INDEX, a mirror), and a project that is not vendored downloads its crates; \
     without a network, vendor the project (`cargo vendor --sync xtask/Cargo.toml`) and build \
     on a builder that has both tools installed already (`docker build --target tool`, then \
     `--target auditable` on it, where there is a network: rust-alpine's README, vendored \
     sources)";

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
            // lib.rs: a failed plan prints "error: rust-alpine plan: <why>".
            "error: rust-alpine plan:",
            "the Dockerfile's planner (`rust-alpine plan`) refused the project: its error above \
             names the setting or file to fix; run `cargo xtask plan . /tmp/plan` to see it \
             without Docker",
        ),
        ("exec format error", EMULATION_HINT),
        // curl's errors 6 and 7, as cargo reports a registry it cannot reach.
        ("Couldn't resolve host name", NO_REGISTRY_HINT),
        ("Couldn't connect to server", NO_REGISTRY_HINT),
        (
            // Debian's cargo (cargo-web, linked to the system's libgit2 1.5) fetches a git
            // dependency and then fails to check it out.
            "invalid version 0 on git_proxy_options",
            "the builder image's cargo cannot check out git dependencies (Debian's cargo, \
             linked to libgit2 1.5): use a builder with rustup's cargo (rust:1.96-bookworm, \
             --builder-image)",
        ),
        (
            // cargo, for an `auth-required` registry without a token.
            "no token found for",
            "a private registry needs its token: export CARGO_REGISTRIES_<NAME>_TOKEN (`cargo \
             xtask docker` hands it to the build as the `credentials` secret; by hand: \
             `--secret id=credentials,src=FILE`, FILE of NAME=VALUE lines)",
        ),
        (
            "Host key verification failed",
            "the git host's key is not in `net.ssh.known-hosts` of .cargo/config.toml (the lines \
             `ssh-keyscan HOST` prints, checked with its owner)",
        ),
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
    fn compiled_crates_come_from_buildkit_and_plain_logs() {
        let log = "\
#17 0.372    Compiling demo v0.1.0 (/build)
#14 40.56    Compiling reqwest v0.12.28
   Compiling tokio v1.54.1
#17 21.81     Finished `release` profile [optimized] target(s) in 21.51s
#9 [builder 5/9] RUN echo Compiling everything
#12 1.0 warning: Compiling via v";
        assert_eq!(compiled_crates(log.lines()), ["demo", "reqwest", "tokio"]);
    }

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
        assert!(
            build_hint("Caused by:\n  invalid version 0 on git_proxy_options; class=Invalid (3)")
                .contains("rustup's cargo")
        );
        assert!(
            build_hint(
                "error: no token found for `private`, please run `cargo login --registry private`"
            )
            .contains("CARGO_REGISTRIES_<NAME>_TOKEN")
        );
        // The `tool` stage with --network=none, as cargo 1.96 reports it.
        let log = "error: download of config.json failed\n\nCaused by:\n  curl failed\n\n\
                   Caused by:\n  [6] Couldn't resolve host name (Could not resolve host: \
                   index.crates.io)";
        assert!(
            build_hint(log).contains("builder that has both tools installed"),
            "{log}"
        );
        assert_eq!(
            build_hint("error[E0425]: cannot find value `x` in this scope"),
            ""
        );
    }
}
