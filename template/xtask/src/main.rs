//! `cargo xtask`: this project's automation. rust-alpine's commands (`cargo xtask --help`:
//! docker, plan, upgrade) come from the `rust-alpine` crate pinned in xtask/Cargo.toml; add
//! commands of your own to the `match` below.

use std::process::ExitCode;

// The match has a single arm until you add your own.
#[allow(clippy::match_single_binding)]
fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    match args.first().and_then(|command| command.to_str()) {
        // Your own commands, e.g. `Some("seed") => seed::run(&args[1..]),`.
        _ => rust_alpine::run(args),
    }
}
