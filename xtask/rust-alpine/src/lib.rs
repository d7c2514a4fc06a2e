//! rust-alpine: tiny static musl images for Rust projects. A project's `xtask/` calls [`main`]
//! (or [`run`] with its own arguments); the image build runs the same commands through the
//! `rust-alpine` binary. The modules below the commands are public for the repository's own
//! tests and bench only: they are not part of the semver surface.

#[doc(hidden)]
pub mod budget;
#[doc(hidden)]
pub mod buildlog;
mod cache;
mod compile;
mod docker;
#[doc(hidden)]
pub mod edit;
mod elf;
#[doc(hidden)]
pub mod engine;
mod flags;
mod image;
mod mounts;
mod plan;
mod platform;
mod private;
mod project;
mod report;
mod sbom;
#[doc(hidden)]
pub mod sccache;
mod selection;
mod smoke;
mod tool;
#[doc(hidden)]
pub mod upgrade;
mod vendor;

use std::process::ExitCode;

/// Runs the command named by the process's arguments (`cargo xtask docker ...`), prints any
/// error, and returns the exit code: what a project's `xtask/src/main.rs` hands over to.
pub fn main() -> ExitCode {
    run(std::env::args_os().skip(1))
}

/// Runs one command from its arguments (without the program name); see [`main`].
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let flags = match flags::parse(args) {
        Ok(flags) => flags,
        Err(error) => {
            eprintln!("error: {error:#}\n\n{}", flags::HELP);
            return ExitCode::from(2);
        }
    };
    let result = match flags {
        flags::Command::Help => {
            println!("{}", flags::HELP);
            Ok(())
        }
        flags::Command::Docker(docker) => docker.run(),
        flags::Command::Plan { src, out } => {
            anyhow::Context::context(plan::run(&src, &out), "rust-alpine plan")
        }
        flags::Command::Toolchain => image::toolchain(),
        flags::Command::Auditable { root, cache } => image::auditable(&root, &cache),
        flags::Command::Cook { recipe, cache } => image::cook(&recipe, &cache),
        flags::Command::Build {
            recipe,
            out,
            entrypoint,
        } => image::build(&recipe, &out, entrypoint.as_deref()),
        flags::Command::Upgrade { to } => upgrade::run(to.as_deref()),
        flags::Command::Cargo(args) => {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            compile::cargo(&args, &[])
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The exit code of the version `upgrade --to` ran, which said why itself.
        Err(error) if error.downcast_ref::<upgrade::Exit>().is_some() => {
            let upgrade::Exit(code) = error.downcast_ref().unwrap();
            ExitCode::from(*code)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
