//! Runs cargo inside the image build: as it is, or under sccache when the build has the
//! `sccache` secret (a file of `SCCACHE_*` settings and the backend's credentials, mounted at
//! /run/secrets/sccache for the step alone: in no layer, no cache key, no log).
//!
//! sccache is the builder image's when it has one, else the release pinned here, checked
//! against its SHA-256 and kept in a temporary directory removed after the step. After cargo,
//! one `sccache stats:` line reports hits and misses (the backend's kind, never its location:
//! an endpoint URL may hold a password); `cargo xtask docker` sums them (`sccache` module).

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::{Command, ExitStatus},
};

use anyhow::{Context, bail};

/// Where BuildKit mounts the `sccache` secret.
const SECRET: &str = "/run/secrets/sccache";
/// The sccache release used when the builder image has none.
const SCCACHE_VERSION: &str = "0.16.0";
const SCCACHE_SHA256_X86_64: &str =
    "aec995a83ad3dff3d14b6314e08858b7b73d35ca85a5bcf3d3a9ec07dee35588";
const SCCACHE_SHA256_AARCH64: &str =
    "f73a5c39f96bb6ebb89cc7915cf182260d4cbf30765322c5e793d0fe8bd80784";

/// Runs `cargo args...` (with `vars` set), under sccache when the build has the secret.
/// An error when cargo fails, with its exit status.
pub fn cargo(args: &[&str], vars: &[(&str, &Path)]) -> anyhow::Result<()> {
    let vars: Vec<(&str, &std::ffi::OsStr)> = vars
        .iter()
        .map(|(name, value)| (*name, value.as_os_str()))
        .collect();
    cargo_env(args, &vars)
}

/// [`cargo`] with any variables (the fetch step's credentials: set for cargo alone, never
/// printed).
pub fn cargo_env(args: &[&str], vars: &[(&str, &std::ffi::OsStr)]) -> anyhow::Result<()> {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.args(args);
    for (name, value) in vars {
        command.env(name, value);
    }
    let status = match settings(Path::new(SECRET))? {
        None => command.status().context("cannot run cargo")?,
        Some(settings) => under_sccache(command, &settings)?,
    };
    if !status.success() {
        bail!("cargo {} failed ({status})", args.first().unwrap_or(&""));
    }
    Ok(())
}

/// The secret's `NAME=VALUE` lines, or `None` without a secret. Lines are taken as they are,
/// never evaluated and never printed; a line that is no setting is skipped with a warning that
/// does not show it.
pub fn settings(secret: &Path) -> anyhow::Result<Option<Vec<(String, String)>>> {
    let text = match fs::read_to_string(secret) {
        Ok(text) if !text.trim().is_empty() => text,
        _ => return Ok(None),
    };
    let mut settings = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let valid = line.split_once('=').filter(|(name, _)| {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        match valid {
            Some((name, value)) => settings.push((name.to_owned(), value.to_owned())),
            None => eprintln!(
                "rust-alpine: ignored a line of the {} secret: not NAME=VALUE",
                secret.file_name().unwrap_or_default().to_string_lossy()
            ),
        }
    }
    Ok(Some(settings))
}

fn under_sccache(
    mut command: Command,
    settings: &[(String, String)],
) -> anyhow::Result<ExitStatus> {
    let temp = TempDir::new()?;
    let lookup = |name: &str| {
        settings
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let sccache = match on_path("sccache") {
        Some(sccache) => sccache,
        None => download(&temp.0)?,
    };
    let mut server = Command::new(&sccache);
    for (name, value) in settings {
        server.env(name, value);
        command.env(name, value);
    }
    // A server of its own for this step, on a socket: under `--network=host` a TCP port could be
    // another build's (or the host's own sccache).
    let socket = temp.0.join("server.sock");
    // jemalloc's Makefile runs the preprocessor once more per object (`$(CC) -MM`) for
    // dependency files that a one-off build never reads, and sccache cannot cache those runs:
    // with CC_MM empty they are skipped (about 200, 3 s of a warm dependency build).
    let makeflags = match lookup("MAKEFLAGS").or_else(|| env::var("MAKEFLAGS").ok()) {
        Some(flags) if !flags.is_empty() => format!("{flags} CC_MM="),
        _ => "CC_MM=".to_owned(),
    };
    for process in [&mut server, &mut command] {
        process
            .env("SCCACHE_SERVER_UDS", &socket)
            .env("RUSTC_WRAPPER", &sccache)
            .env("MAKEFLAGS", &makeflags);
    }
    let started = server
        .arg("--start-server")
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot start sccache")?;
    if !started.success() {
        bail!(
            "sccache --start-server failed ({started}): check the SCCACHE_* settings of the sccache secret"
        );
    }
    let status = command.status().context("cannot run cargo");
    let stats = Command::new(&sccache)
        .arg("--show-stats")
        .env("SCCACHE_SERVER_UDS", &socket)
        .output();
    if let Ok(stats) = stats {
        println!("{}", stats_line(&String::from_utf8_lossy(&stats.stdout)));
    }
    let _ = Command::new(&sccache)
        .arg("--stop-server")
        .env("SCCACHE_SERVER_UDS", &socket)
        .output();
    status
}

/// The one line `cargo xtask docker` reads from `sccache --show-stats`.
fn stats_line(stats: &str) -> String {
    let (mut hits, mut misses, mut other, mut backend) = (0u64, 0u64, 0u64, String::new());
    for line in stats.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let number = |at: usize| words.get(at).and_then(|word| word.parse::<u64>().ok());
        match words.as_slice() {
            ["Cache", "hits", ..] => hits = number(2).unwrap_or(hits),
            ["Cache", "misses", ..] => misses = number(2).unwrap_or(misses),
            ["Non-cacheable", "calls", ..] => other = number(2).unwrap_or(other),
            ["Cache", "location", kind, ..] => {
                backend = kind
                    .to_lowercase()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect()
            }
            _ => {}
        }
    }
    format!("sccache stats: hits={hits} misses={misses} not-cacheable={other} backend={backend}")
}

/// Downloads the pinned sccache release into `dir`, checked against its SHA-256.
fn download(dir: &Path) -> anyhow::Result<PathBuf> {
    let (arch, sum) = match env::consts::ARCH {
        "x86_64" => ("x86_64", SCCACHE_SHA256_X86_64),
        "aarch64" => ("aarch64", SCCACHE_SHA256_AARCH64),
        other => bail!("no sccache release for {other}: use a builder image that has sccache"),
    };
    let release = format!("sccache-v{SCCACHE_VERSION}-{arch}-unknown-linux-musl");
    let url = format!(
        "https://github.com/mozilla/sccache/releases/download/v{SCCACHE_VERSION}/{release}.tar.gz"
    );
    let archive = dir.join("sccache.tar.gz");
    let fetched = if on_path("curl").is_some() {
        Command::new("curl")
            .args([
                "--fail",
                "--silent",
                "--show-error",
                "--location",
                "--retry",
                "3",
                "--output",
            ])
            .arg(&archive)
            .arg(&url)
            .status()
    } else if on_path("wget").is_some() {
        Command::new("wget")
            .args(["--quiet", "--output-document"])
            .arg(&archive)
            .arg(&url)
            .status()
    } else {
        bail!(
            "the builder image has neither sccache nor curl or wget to download it: use a builder \
             image that has sccache"
        )
    };
    if !fetched.context("downloading sccache")?.success() {
        bail!(
            "downloading {url} failed: use a builder image that has sccache, or one that can reach GitHub"
        );
    }
    let check = Command::new("sha256sum")
        .args(["--check", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let line = format!("{sum}  {}\n", archive.display());
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(line.as_bytes())?;
            child.wait()
        })
        .context("checking sccache's SHA-256 (sha256sum)")?;
    if !check.success() {
        bail!("{url} does not have the pinned SHA-256 {sum}: refusing to run it");
    }
    let unpacked = Command::new("tar")
        .args(["--extract", "--gzip", "--file"])
        .arg(&archive)
        .arg("--directory")
        .arg(dir)
        .arg(format!("{release}/sccache"))
        .status()
        .context("unpacking sccache")?;
    if !unpacked.success() {
        bail!("unpacking {release}.tar.gz failed ({unpacked})");
    }
    Ok(dir.join(release).join("sccache"))
}

/// `program`'s path on `$PATH`, like `command -v`.
pub fn on_path(program: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// A directory of this process, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let path = env::temp_dir().join(format!("rust-alpine-{}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_taken_as_they_are_and_bad_lines_skipped() {
        let dir = TempDir::new().unwrap();
        let secret = dir.0.join("secret");
        assert_eq!(settings(&secret).unwrap(), None);
        fs::write(&secret, "\n").unwrap();
        assert_eq!(settings(&secret).unwrap(), None);
        fs::write(
            &secret,
            "# comment\nSCCACHE_REDIS=redis://u:p@h:1/0\n1BAD=x\nno equals\nA-B=c\nEMPTY=\n",
        )
        .unwrap();
        assert_eq!(
            settings(&secret).unwrap().unwrap(),
            [
                ("SCCACHE_REDIS".to_owned(), "redis://u:p@h:1/0".to_owned()),
                ("EMPTY".to_owned(), String::new())
            ]
        );
    }

    #[test]
    fn stats_line_reads_sccache_show_stats() {
        let stats = "Compile requests                    408\n\
                     Cache hits                          400\n\
                     Cache hits (Rust)                   400\n\
                     Cache misses                          8\n\
                     Non-cacheable calls                  12\n\
                     Cache location                  Redis, name: redis://secret@host\n";
        assert_eq!(
            stats_line(stats),
            "sccache stats: hits=400 misses=8 not-cacheable=12 backend=redis"
        );
        assert_eq!(
            stats_line(""),
            "sccache stats: hits=0 misses=0 not-cacheable=0 backend="
        );
    }
}
