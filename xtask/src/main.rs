//! `cargo xtask`: the repository's own tasks as plain Rust. `flags.rs` holds the command line;
//! each command lives in the module named after it.

mod bench;
mod flags;
mod lock;
mod render;
mod serve;
mod test;

use std::path::{Path, PathBuf};

use xshell::Shell;

fn main() -> anyhow::Result<()> {
    let cmd = flags::parse(std::env::args_os().skip(1))?;
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match cmd {
        flags::XtaskCmd::Help => {
            print!("{}", flags::HELP);
            Ok(())
        }
        flags::XtaskCmd::Test(cmd) => cmd.run(&sh),
        flags::XtaskCmd::Lock(cmd) => cmd.run(&sh),
        flags::XtaskCmd::Render(cmd) => cmd.run(&sh),
        flags::XtaskCmd::Registry(cmd) => cmd.run(&sh),
        flags::XtaskCmd::Bench(cmd) => cmd.run(&sh),
    }
}

/// The repository root: the parent of this package.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// The cargo that runs `cargo xtask` (it sets `$CARGO`), so every step uses one toolchain.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
