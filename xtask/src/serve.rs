//! `cargo xtask registry`: packages the crate and serves it until interrupted; see
//! [`xtask::registry`].

use anyhow::Context;
use xshell::Shell;
use xtask::registry::{self, Registry};

use crate::flags;

impl flags::Registry {
    pub(crate) fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let work = sh.current_dir().join("target/registry");
        let package = registry::package(&sh.current_dir(), &work)?;
        eprintln!(
            "packaged {} {} (sha256 {})",
            registry::CRATE,
            package.version,
            package.checksum
        );
        let registry = Registry::serve(vec![package], self.port)?;
        let config = work.join("cargo-config.toml");
        std::fs::write(&config, registry.cargo_config())
            .with_context(|| format!("writing {}", config.display()))?;
        eprintln!(
            "serving it on 127.0.0.1:{}, every other crate from crates.io. A project rendered \
             from this checkout builds with it when cargo reads {}: copy it to .cargo/config.toml \
             in a directory above the project (`cargo xtask render` into that directory), or run \
             `cargo --config {} xtask docker` (and the same for other cargo commands) in the \
             project. Its `[env]` hands the index to the image build. Ctrl-C stops.",
            registry.port,
            config.display(),
            config.display()
        );
        println!("{}", registry.index());
        let (stop, stopped) = std::sync::mpsc::channel();
        ctrlc::set_handler(move || {
            let _ = stop.send(());
        })
        .context("installing the Ctrl-C handler")?;
        let _ = stopped.recv();
        Ok(())
    }
}
