//! sccache, the compile cache that outlives the machine (opt-in): the `sccache` secret the image
//! build gets from the standard `SCCACHE_*` variables, and what the build log says sccache did.
//! Std only: the repository's bench and tests compile this file too.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::PathBuf,
    sync::Mutex,
};

/// Besides `SCCACHE_*`, the variables sccache's backends read their credentials from: the
/// GitHub Actions cache service's, S3's, Alibaba OSS's. Handed over only with `SCCACHE_*`.
const CREDENTIALS: &[&str] = &[
    "ACTIONS_CACHE_URL",
    "ACTIONS_RESULTS_URL",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_CACHE_SERVICE_V2",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
];

/// The settings the build gets, from `vars` (the environment): every `SCCACHE_*` variable and,
/// when there is one, the backends' credentials. Empty: no sccache, the build is as without.
pub fn settings(vars: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, value)| !value.is_empty() && !name.is_empty())
        .collect();
    vars.sort();
    if !vars.iter().any(|(name, _)| name.starts_with("SCCACHE_")) {
        return Vec::new();
    }
    vars.retain(|(name, _)| name.starts_with("SCCACHE_") || CREDENTIALS.contains(&name.as_str()));
    vars
}

/// A backend on this machine's loopback (`redis://127.0.0.1:6379`, `localhost:11211`) is only
/// reachable from the build's steps on the host's network.
pub fn needs_host_network(settings: &[(String, String)]) -> bool {
    settings.iter().any(|(name, value)| {
        name.starts_with("SCCACHE_")
            && ["localhost", "127.0.0.", "[::1]"]
                .iter()
                .any(|host| value.contains(host))
    })
}

/// The secret files of this process that still exist (for a Ctrl-C handler).
static WRITTEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A build secret (`sccache`, or `credentials` for private dependencies): a file only its
/// owner can read, removed when this value is dropped (and by [`remove_secrets`] on Ctrl-C).
#[derive(Debug)]
pub struct Secret {
    pub path: PathBuf,
    /// The id the Dockerfile mounts it by.
    pub id: &'static str,
}

impl Secret {
    /// The `sccache` secret: `settings` as `NAME=VALUE` lines, mode 0600.
    pub fn write(settings: &[(String, String)]) -> io::Result<Secret> {
        Secret::write_as("sccache", settings)
    }

    /// The secret `id`: `settings` as `NAME=VALUE` lines, mode 0600.
    pub fn write_as(id: &'static str, settings: &[(String, String)]) -> io::Result<Secret> {
        let mut text = String::new();
        for (name, value) in settings {
            if value.contains(['\n', '\r']) {
                return Err(io::Error::other(format!(
                    "{name} holds a line break, which the {id} secret (NAME=VALUE lines) \
                     cannot carry"
                )));
            }
            text.push_str(&format!("{name}={value}\n"));
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("xtask-{id}-{}-{nanos}.env", std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        if let Ok(mut written) = WRITTEN.lock() {
            written.push(path.clone());
        }
        let secret = Secret { path, id };
        file.write_all(text.as_bytes())?;
        Ok(secret)
    }

    /// What the engine's `build` gets: the secret, and the host's network when the backend
    /// is on its loopback.
    pub fn build_args(&self, host_network: bool) -> Vec<String> {
        let mut args = vec![
            "--secret".to_owned(),
            format!("id={},src={}", self.id, self.path.display()),
        ];
        if host_network {
            args.push("--network=host".to_owned());
        }
        args
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        if let Ok(mut written) = WRITTEN.lock() {
            written.retain(|path| *path != self.path);
        }
    }
}

/// Removes the secret files this process wrote and has not removed yet (no destructor runs in
/// a Ctrl-C handler).
pub fn remove_secrets() {
    for path in WRITTEN.lock().map(|w| w.clone()).unwrap_or_default() {
        let _ = fs::remove_file(path);
    }
}

/// What sccache did in one build: the sum of the `sccache stats:` line each step that compiled
/// printed (docker/sccache.sh).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    /// Calls sccache never caches: binaries, cargo's probes of rustc.
    pub not_cacheable: u64,
    /// `redis`, `s3`, `gha`, `local`, ...: the kind of the cache location, never its address.
    pub backend: String,
}

/// The marker of the line docker/sccache.sh prints.
const MARKER: &str = "sccache stats: ";

/// The build's sccache statistics, from its log; `None` when no step ran under sccache.
pub fn stats<'a>(log: impl IntoIterator<Item = &'a str>) -> Option<Stats> {
    let mut total: Option<Stats> = None;
    for line in log {
        let Some((_, fields)) = line.split_once(MARKER) else {
            continue;
        };
        let mut step = Stats::default();
        let mut complete = true;
        for field in fields.split_whitespace() {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let count = value.parse::<u64>();
            match (key, count) {
                ("hits", Ok(count)) => step.hits = count,
                ("misses", Ok(count)) => step.misses = count,
                ("not-cacheable", Ok(count)) => step.not_cacheable = count,
                ("backend", _) => step.backend = value.to_owned(),
                ("hits" | "misses" | "not-cacheable", Err(_)) => complete = false,
                _ => {}
            }
        }
        // A step header quoting the script (`hits=%d`) is no step's statistics.
        if !complete {
            continue;
        }
        let total = total.get_or_insert_with(Stats::default);
        total.hits += step.hits;
        total.misses += step.misses;
        total.not_cacheable += step.not_cacheable;
        if total.backend.is_empty() {
            total.backend = step.backend;
        }
    }
    total
}

impl Stats {
    /// Hits among the compiles sccache can cache (hits and misses).
    pub fn hit_rate(&self) -> Option<f64> {
        let cacheable = self.hits + self.misses;
        (cacheable > 0).then(|| self.hits as f64 / cacheable as f64)
    }

    /// `412 hits, 3 misses (99%), backend redis`
    pub fn summary(&self) -> String {
        let rate = self.hit_rate().map_or(String::new(), |rate| {
            format!(" ({:.0}% hits)", rate * 100.0)
        });
        format!(
            "{} hits, {} misses{rate}, {} not cacheable, backend {}",
            self.hits,
            self.misses,
            self.not_cacheable,
            if self.backend.is_empty() {
                "unknown"
            } else {
                &self.backend
            }
        )
    }

    /// A warning when most cacheable compiles missed: what a first build does, and what a
    /// rebuild must not.
    pub fn warning(&self) -> Option<String> {
        let rate = self.hit_rate()?;
        if self.hits + self.misses < 10 || rate >= 0.5 {
            return None;
        }
        Some(format!(
            "sccache: only {:.0}% of {} cacheable compiles hit the {} cache. A first build fills \
             the cache; if this is a rebuild, the usual causes: different paths (sccache keys on \
             absolute paths: the Dockerfile's WORKDIR, CARGO_HOME or CARGO_TARGET_DIR changed), \
             different rustflags, profile or cargo config (RUSTFLAGS, --profile, \
             .cargo/config.toml), another toolchain (a new --builder-image or Rust release), or \
             settings that name another cache (SCCACHE_*_KEY_PREFIX, bucket, SCCACHE_GHA_VERSION)",
            rate * 100.0,
            self.hits + self.misses,
            if self.backend.is_empty() {
                "shared"
            } else {
                &self.backend
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn settings_are_sccache_variables_and_then_credentials() {
        for (environment, expected) in [
            // No SCCACHE_*: no sccache, and credentials alone are never handed over.
            (
                vec![("AWS_SECRET_ACCESS_KEY", "k"), ("PATH", "/bin")],
                vec![],
            ),
            (
                vec![
                    ("SCCACHE_REDIS_ENDPOINT", "redis://127.0.0.1:6379"),
                    ("PATH", "/bin"),
                ],
                vec![("SCCACHE_REDIS_ENDPOINT", "redis://127.0.0.1:6379")],
            ),
            (
                vec![
                    ("ACTIONS_RUNTIME_TOKEN", "t"),
                    ("SCCACHE_GHA_ENABLED", "true"),
                    ("HOME", "/root"),
                    ("ACTIONS_RESULTS_URL", "https://results/"),
                ],
                vec![
                    ("ACTIONS_RESULTS_URL", "https://results/"),
                    ("ACTIONS_RUNTIME_TOKEN", "t"),
                    ("SCCACHE_GHA_ENABLED", "true"),
                ],
            ),
            // Set but empty is unset.
            (vec![("SCCACHE_BUCKET", "")], vec![]),
        ] {
            assert_eq!(
                settings(vars(&environment)),
                vars(&expected),
                "{environment:?}"
            );
        }
    }

    #[test]
    fn a_loopback_backend_needs_the_host_network() {
        for (value, host) in [
            ("redis://127.0.0.1:6379", true),
            ("tcp://localhost:11211", true),
            ("http://[::1]:8080/", true),
            ("redis://cache.internal:6379", false),
            ("https://s3.eu-west-1.amazonaws.com", false),
        ] {
            let settings = vars(&[("SCCACHE_ENDPOINT", value)]);
            assert_eq!(needs_host_network(&settings), host, "{value}");
        }
        // Credentials are no endpoint.
        let settings = vars(&[
            ("SCCACHE_GHA_ENABLED", "true"),
            ("ACTIONS_RESULTS_URL", "http://127.0.0.1/"),
        ]);
        assert!(!needs_host_network(&settings));
    }

    #[test]
    fn the_secret_is_private_and_removed_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let secret = Secret::write(&vars(&[("SCCACHE_REDIS_ENDPOINT", "redis://h:1")])).unwrap();
        let path = secret.path.clone();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "SCCACHE_REDIS_ENDPOINT=redis://h:1\n"
        );
        assert_eq!(
            secret.build_args(true),
            [
                "--secret".to_owned(),
                format!("id=sccache,src={}", path.display()),
                "--network=host".to_owned()
            ]
        );
        drop(secret);
        assert!(!path.exists());
        assert!(Secret::write(&vars(&[("SCCACHE_X", "a\nb")])).is_err());
    }

    #[test]
    fn stats_are_summed_over_the_steps_of_a_build() {
        for (log, expected) in [
            ("#12 3.2 Compiling demo v0.1.0\n", None),
            (
                "#9 41.0 sccache stats: hits=10 misses=2 not-cacheable=5 backend=redis\n\
                 #14 88.1 sccache stats: hits=95 misses=0 not-cacheable=9 backend=redis\n\
                 #17 9.9 sccache stats: hits=0 misses=0 not-cacheable=3 backend=redis\n",
                Some((105, 2, 17, "redis")),
            ),
            // A step header that quotes the script, and a plain (non-BuildKit) log.
            (
                "#7 [builder 2/9] RUN echo \"sccache stats: hits=%d misses=%d backend=%s\"\n\
                 sccache stats: hits=3 misses=1 not-cacheable=0 backend=gha\n",
                Some((3, 1, 0, "gha")),
            ),
        ] {
            let expected = expected.map(
                |(hits, misses, not_cacheable, backend): (u64, u64, u64, &str)| Stats {
                    hits,
                    misses,
                    not_cacheable,
                    backend: backend.to_owned(),
                },
            );
            assert_eq!(stats(log.lines()), expected, "{log}");
        }
    }

    #[test]
    fn a_collapsed_hit_rate_is_warned_about() {
        for (hits, misses, warned) in [
            (0, 120, true),
            (40, 60, true),
            (60, 40, false),
            (120, 0, false),
            // Too few compiles to tell.
            (0, 5, false),
            (0, 0, false),
        ] {
            let stats = Stats {
                hits,
                misses,
                not_cacheable: 3,
                backend: "redis".into(),
            };
            let warning = stats.warning();
            assert_eq!(warning.is_some(), warned, "{hits} hits, {misses} misses");
            if let Some(warning) = warning {
                for cause in ["paths", "rustflags", "toolchain"] {
                    assert!(warning.contains(cause), "{warning}");
                }
            }
        }
        let stats = Stats {
            hits: 412,
            misses: 3,
            not_cacheable: 20,
            backend: "redis".into(),
        };
        assert_eq!(
            stats.summary(),
            "412 hits, 3 misses (99% hits), 20 not cacheable, backend redis"
        );
    }
}
