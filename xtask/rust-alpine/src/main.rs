//! `cargo xtask`: this project's automation, in Rust (see `cargo xtask --help`).

mod budget;
mod buildlog;
mod cache;
mod docker;
mod edit;
mod elf;
mod engine;
mod flags;
mod mounts;
mod plan;
mod platform;
mod project;
mod report;
mod sbom;
mod sccache;
mod smoke;

use std::process::ExitCode;

fn main() -> ExitCode {
    let flags = match flags::parse(std::env::args_os().skip(1)) {
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
            anyhow::Context::context(plan::run(&src, &out), "cargo xtask plan")
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
