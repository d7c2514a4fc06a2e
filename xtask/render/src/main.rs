//! `cargo generate`, pinned: the same CLI and engine as cargo-generate's own binary.
//!
//! `cargo install cargo-generate` does not build on every toolchain we support (its lockfile
//! needs a newer rustc), so the repository builds the engine as a library at a pinned version
//! and the xtask runs this binary as `render generate --path ... --name ...`.

use clap::Parser;

fn main() {
    env_logger::builder()
        .format(cargo_generate::log_formatter)
        .filter_level(log::LevelFilter::Info)
        .parse_default_env()
        .format_timestamp(None)
        .format_target(false)
        .format_module_path(false)
        .format_level(false)
        .target(env_logger::Target::Stdout)
        .init();
    let cargo_generate::Cli::Generate(args) = cargo_generate::Cli::parse();
    if cargo_generate::generate(args).is_err() {
        // cargo-generate has already printed the error.
        std::process::exit(1);
    }
}
