//! `cargo xtask test`: the repository's test command. First the gates on the repository's own
//! code (`cargo fmt --check`, `cargo clippy`), then `cargo test --workspace --locked`, with the
//! optional suites it runs named up front and the time it took at the end.

use std::{env, time::Instant};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::flags;

impl flags::Test {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let docker = Docker::from_env();
        if env::var("CI").is_ok_and(|ci| ci == "true") && !docker.enabled {
            bail!(
                "CI=true but RUST_ALPINE_DOCKER is not 1: CI must build and run the images, and there a missing engine is a failure, not a skip; set RUST_ALPINE_DOCKER=1"
            );
        }
        gates(sh)?;
        eprintln!("suites:");
        eprintln!(
            "  tidy, answers, matrix (each kind x runtime: fmt, clippy, tests, dependency tree): enabled"
        );
        eprintln!("  docker e2e: {}", docker.describe());

        let started = Instant::now();
        let cargo = crate::cargo();
        let args = self.args;
        let result = cmd!(sh, "{cargo} test --workspace --locked -- {args...}").run();
        let elapsed = started.elapsed().as_secs_f64();
        result.with_context(|| {
            format!("tests failed after {elapsed:.1} s; the failing test's output is above")
        })?;
        eprintln!("all tests passed in {elapsed:.1} s");
        Ok(())
    }
}

/// The repository's own Rust code is formatted and lint-free; rendered projects are checked
/// the same way by the matrix test.
fn gates(sh: &Shell) -> anyhow::Result<()> {
    let cargo = crate::cargo();
    cmd!(sh, "{cargo} fmt --all --check")
        .run()
        .context("the repository's code is not formatted as `cargo fmt` would: run `cargo fmt`")?;
    cmd!(
        sh,
        "{cargo} clippy --workspace --all-targets --locked -- -D warnings"
    )
    .run()
    .context(
        "`cargo clippy` found problems in the repository's code (above): fix them, `cargo clippy --fix` applies the suggested ones",
    )?;
    Ok(())
}

/// The Docker e2e suite's switches, read by `xtask/render/tests/it/docker.rs` as well.
struct Docker {
    enabled: bool,
    engine: String,
    builder_image: Option<String>,
    /// The linux/arm64 test's builder (cross-compiles for aarch64 too).
    multiarch_image: Option<String>,
}

impl Docker {
    fn from_env() -> Docker {
        Docker {
            enabled: env::var("RUST_ALPINE_DOCKER").is_ok_and(|value| value == "1"),
            engine: env::var("DOCKER").unwrap_or_else(|_| "docker".to_owned()),
            builder_image: env::var("RUST_ALPINE_BUILDER_IMAGE")
                .ok()
                .filter(|image| !image.is_empty()),
            multiarch_image: env::var("RUST_ALPINE_BUILDER_IMAGE_MULTIARCH")
                .ok()
                .filter(|image| !image.is_empty()),
        }
    }

    fn describe(&self) -> String {
        if !self.enabled {
            return "skipped (set RUST_ALPINE_DOCKER=1 to build and run the images)".to_owned();
        }
        let mut image = match &self.builder_image {
            Some(image) => format!("builder image {image} (RUST_ALPINE_BUILDER_IMAGE)"),
            None => "the Dockerfile's builder image".to_owned(),
        };
        if let Some(multiarch) = &self.multiarch_image {
            image.push_str(&format!(
                ", arm64 builder image {multiarch} (RUST_ALPINE_BUILDER_IMAGE_MULTIARCH)"
            ));
        }
        format!("enabled (engine: {} ($DOCKER), {image})", self.engine)
    }
}
