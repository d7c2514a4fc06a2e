//! {{description}}
//!
//! Start here: {% if kind == "service" %}`serve.rs` holds the routes and the server{% else %}`fetch.rs` holds the command{% endif %}; `main.rs` only
//! parses the command line. `self_check` reports what a container smoke test asserts.

use std::fmt;

{% if kind == "service" -%}
pub mod serve;
{%- else -%}
pub mod fetch;
{%- endif %}

// musl's allocator is slow under contention: the static musl build uses jemalloc. Host builds
// keep the system allocator, so they need no C toolchain for it.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The global allocator, named under the same `cfg` that installs it above.
pub const ALLOCATOR: &str = if cfg!(target_env = "musl") {
    "jemalloc"
} else {
    "system"
};

pub const NAME: &str = env!("CARGO_PKG_NAME");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Facts about this build that a container smoke test can assert, one `key: value` a line.
#[derive(Debug)]
pub struct SelfCheck {
    pub libc: &'static str,
    pub allocator: &'static str,
    /// CA roots the TLS stack loaded from the system bundle (`SSL_CERT_FILE` or /etc/ssl/certs).
    pub ca_roots: usize,
    pub ca_errors: Vec<String>,
}

pub fn self_check() -> SelfCheck {
    let certs = rustls_native_certs::load_native_certs();
    SelfCheck {
        libc: if cfg!(target_env = "musl") {
            "musl"
        } else if cfg!(target_env = "gnu") {
            "gnu"
        } else {
            "other"
        },
        allocator: ALLOCATOR,
        ca_roots: certs.certs.len(),
        ca_errors: certs.errors.iter().map(ToString::to_string).collect(),
    }
}

impl fmt::Display for SelfCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "name: {NAME}")?;
        writeln!(f, "version: {VERSION}")?;
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        writeln!(f, "profile: {profile}")?;
        writeln!(f, "libc: {}", self.libc)?;
        writeln!(f, "allocator: {}", self.allocator)?;
        writeln!(f, "ca_roots: {}", self.ca_roots)?;
        for error in &self.ca_errors {
            writeln!(f, "ca_error: {error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_check_prints_one_fact_a_line() {
        let check = SelfCheck {
            libc: "musl",
            allocator: "jemalloc",
            ca_roots: 3,
            ca_errors: vec!["no such file".into()],
        };
        let text = check.to_string();
        assert!(text.starts_with(&format!("name: {NAME}\nversion: {VERSION}\n")));
        let facts = "libc: musl\nallocator: jemalloc\nca_roots: 3\nca_error: no such file\n";
        assert!(text.ends_with(facts), "{text}");
    }
}
