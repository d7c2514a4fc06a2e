//! The smoke test: the image's own binary, run in locked-down containers that are always
//! removed (on success, on failure, and on Ctrl-C).

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use crate::{
    budget::format_size,
    elf,
    engine::{self, Engine, Image, Running},
    project::{self, Project},
    report::Check,
    sbom,
};
use anyhow::{Context, bail, ensure};

/// `docker stop` must finish well inside its 10 s grace period: the binary handles SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(2);
const HEALTHY_LIMIT: Duration = Duration::from_secs(30);

/// What the smoke test found.
pub struct Outcome {
    pub steps: Vec<Check>,
    /// The size of the binary in the image, when it could be read.
    pub binary_bytes: Option<u64>,
    /// How much of it is debug info (`.debug_*` sections).
    pub debug_bytes: Option<u64>,
    /// The crates its embedded dependency list names (cargo-auditable), when it has one.
    pub sbom_crates: Option<usize>,
    /// What else the image ships (the other binaries, `include`, zoneinfo): each path in the
    /// image and its size, as found there.
    pub shipped: Vec<(String, u64)>,
}

pub struct Smoke<'a> {
    pub engine: &'a Engine,
    pub tag: &'a str,
    pub image: &'a Image,
    pub project: &'a Project,
}

impl Smoke<'_> {
    /// Every check, in order; a failed step does not stop the others.
    pub fn run(&self) -> Outcome {
        let mut binary = None;
        let mut sbom_crates = None;
        let mut steps = vec![
            Check::timed("user", || self.user()),
            Check::timed("labels", || self.labels()),
            Check::timed("binary", || {
                let (bytes, detail) = self.binary()?;
                binary = Some(bytes);
                Ok(detail)
            }),
        ];
        if let Some(bytes) = &binary {
            steps.push(Check::timed("sbom", || {
                let (count, detail) = sbom::check(bytes)?;
                sbom_crates = Some(count);
                Ok(detail)
            }));
        }
        steps.push(Check::timed("version", || self.version()));
        let mut shipped = Vec::new();
        for (index, bin) in self.project.bins.iter().skip(1) {
            let path = format!("/{bin}");
            steps.push(Check::timed(&path, || {
                let (bytes, detail) = self.static_binary(&path)?;
                let version = &self.project.members[*index].version;
                let stdout =
                    self.engine
                        .run_once(&["--entrypoint", &path], self.tag, &["--version"])?;
                let version = check_version(&stdout, version)?;
                shipped.push((path.clone(), bytes.len() as u64));
                Ok(format!("{detail}; {version}"))
            }));
        }
        for include in &self.project.include {
            let path = format!("/{}", include.trim_end_matches('/'));
            steps.push(Check::timed(&path, || {
                let tar = self.engine.copy_out_tar(self.tag, &path)?;
                let found = check_tree(&tar, &self.project.root.join(include))?;
                shipped.push((path.clone(), found.bytes));
                Ok(found.to_string())
            }));
        }
        if self.project.zoneinfo {
            steps.push(Check::timed("zoneinfo", || {
                let path = format!("/{}", project::ZONEINFO);
                let tar = self.engine.copy_out_tar(self.tag, &path)?;
                let (bytes, detail) = check_zoneinfo(&tar)?;
                shipped.push((path, bytes));
                Ok(detail)
            }));
        }
        // Only a binary that implements it: any other may take `self-check` for an argument.
        if self.project.self_check {
            steps.push(Check::timed("self-check", || self.self_check()));
        }
        if self.image.has_healthcheck() || self.project.service.is_some() {
            steps.extend(self.service());
        }
        Outcome {
            steps,
            debug_bytes: binary
                .as_deref()
                .map(|bytes| elf::debug_info_bytes(bytes).unwrap_or(0)),
            binary_bytes: binary.map(|bytes| bytes.len() as u64),
            sbom_crates,
            shipped,
        }
    }

    fn user(&self) -> anyhow::Result<String> {
        ensure!(
            !self.image.runs_as_root(),
            "the image runs as root: add `USER 10001:10001` to the final stage"
        );
        Ok(format!("runs as {}", self.image.user()))
    }

    fn labels(&self) -> anyhow::Result<String> {
        check_labels_have_values(self.image.labels())?;
        let key = "org.opencontainers.image.version";
        let version = self.image.label(key).unwrap_or("(none)");
        ensure!(
            version == self.project.package().version,
            "label {key} is {version} but Cargo.toml says {}: build with \
             --build-arg VERSION={}",
            self.project.package().version,
            self.project.package().version
        );
        Ok(format!("{key}={version}"))
    }

    /// Copies the binary out of the image and checks that it is static; returns its bytes.
    fn binary(&self) -> anyhow::Result<(Vec<u8>, String)> {
        let Some(path) = self.image.binary() else {
            bail!("the image has no ENTRYPOINT: set ENTRYPOINT [\"/<binary>\"]");
        };
        self.static_binary(path)
    }

    /// Copies the binary at `path` out of the image and checks that it is static and of the
    /// image's platform; returns its bytes.
    fn static_binary(&self, path: &str) -> anyhow::Result<(Vec<u8>, String)> {
        let bytes = self.engine.copy_out(self.tag, path)?;
        if let Some(interpreter) = elf::interpreter(&bytes)? {
            bail!(
                "{path} is dynamically linked (needs {interpreter}): build for the platform's \
                 musl target with target-feature=+crt-static"
            );
        }
        let (arch, platform) = (elf::architecture(&bytes)?, self.image.architecture());
        ensure!(
            platform.is_empty() || arch == platform,
            "{path} is an {arch} binary in a {platform} image: the builder must compile for \
             the target platform (TARGETARCH), not for the machine it runs on"
        );
        let mut detail = format!(
            "{path}, {arch}, {}, static",
            format_size(bytes.len() as u64)
        );
        let debug = elf::debug_info_bytes(&bytes)?;
        if debug > 0 {
            detail.push_str(&format!(", {} of debug info", format_size(debug)));
        }
        Ok((bytes, detail))
    }

    fn run_once(&self, args: &[&str]) -> anyhow::Result<String> {
        self.engine.run_once(&[], self.tag, args)
    }

    /// Proves the image ships the real binary, not a placeholder from a cached layer.
    fn version(&self) -> anyhow::Result<String> {
        let stdout = self.run_once(&["--version"])?;
        check_version(&stdout, &self.project.package().version)
    }

    fn self_check(&self) -> anyhow::Result<String> {
        let stdout = self.run_once(&["self-check"])?;
        let facts = parse_facts(&stdout);
        check_self(&facts)
    }

    /// The service: healthy (by the image's HEALTHCHECK, else by answering its health path),
    /// answering from the host, stopping fast.
    fn service(&self) -> Vec<Check> {
        let (port, health) = match &self.project.service {
            Some((port, health)) => (*port, health.as_str()),
            None => match self.image.tcp_port() {
                Some(port) => (port, "/health"),
                None => {
                    let fail = Check::timed("healthy", || {
                        bail!("the image has a HEALTHCHECK but no EXPOSE")
                    });
                    return vec![fail];
                }
            },
        };
        // The port is published where the engine runs: on this machine's loopback, or, for a
        // remote engine (DOCKER_HOST=tcp://... or ssh://..., a context naming one), on that
        // host's interfaces, and reached at the host the endpoint names.
        let remote = self
            .engine
            .endpoint()
            .as_deref()
            .and_then(engine::remote_host);
        let (publish, host) = match &remote {
            Some(host) => (port.to_string(), host.clone()),
            None => (format!("127.0.0.1::{port}"), "127.0.0.1".to_owned()),
        };
        let container = match Running::start(
            self.engine,
            "service",
            self.tag,
            &["--publish", &publish, "--health-interval", "1s"],
        ) {
            Ok(container) => container,
            Err(error) => {
                return vec![Check::timed("healthy", || {
                    Err(error).context("starting the service")
                })];
            }
        };
        let host_port = || -> anyhow::Result<u16> {
            let inspected = container.inspect()?;
            inspected
                .host_port(port)
                .with_context(|| format!("port {port} is not published"))
        };
        let healthy = Check::timed("healthy", || {
            if self.image.has_healthcheck() {
                self.wait_healthy(&container)
            } else {
                wait_answering(&container, &host, &host_port, health)
            }
        });
        if !healthy.ok {
            return vec![healthy];
        }
        let get = Check::timed(&format!("GET {health}"), || {
            http_get(&host, host_port()?, health)
        });
        // A client that never finishes its request (slowloris) must not hold up the stop: the
        // service's shutdown deadline closes it. Kept open until the stop below is done.
        let mut held = None;
        let half_sent = Check::timed("half-sent request", || {
            let (stream, detail) = open_half_sent_request(&host, host_port()?, health)?;
            held = Some(stream);
            Ok(detail)
        });
        let stop = Check::timed("stop", || {
            let started = Instant::now();
            container.stop()?;
            let took = started.elapsed();
            let exit_code = container.inspect()?.exit_code();
            check_stop(took, exit_code)
        });
        drop(held);
        vec![healthy, get, half_sent, stop]
    }

    fn wait_healthy(&self, container: &Running) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            container.run_healthcheck();
            let inspected = container.inspect()?;
            if !inspected.running() {
                bail!(
                    "the container {} (exit code {}) before it became healthy; its output:\n{}",
                    inspected.status(),
                    inspected.exit_code(),
                    container.logs()
                );
            }
            let Some(health) = inspected.health_status() else {
                bail!("the engine reports no health state: does the image have a HEALTHCHECK?");
            };
            match health {
                "healthy" => {
                    return Ok(format!("after {:.1} s", started.elapsed().as_secs_f64()));
                }
                "unhealthy" => bail!(
                    "HEALTHCHECK reports unhealthy (last probe: {}); output:\n{}",
                    inspected.last_probe().unwrap_or_default(),
                    container.logs()
                ),
                _ if started.elapsed() > HEALTHY_LIMIT => bail!(
                    "not healthy after {} s (last probe: {}); output:\n{}",
                    HEALTHY_LIMIT.as_secs(),
                    inspected.last_probe().unwrap_or_else(|| "none yet".into()),
                    container.logs()
                ),
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }
}

/// Without a HEALTHCHECK in the image: healthy once `GET health` answers 200 from the host.
fn wait_answering(
    container: &Running,
    host: &str,
    host_port: &dyn Fn() -> anyhow::Result<u16>,
    health: &str,
) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        let inspected = container.inspect()?;
        if !inspected.running() {
            bail!(
                "the container {} (exit code {}) before it answered GET {health}; its output:\n{}",
                inspected.status(),
                inspected.exit_code(),
                container.logs()
            );
        }
        let answer = host_port().and_then(|port| http_get(host, port, health));
        match answer {
            Ok(_) => return Ok(format!("after {:.1} s", started.elapsed().as_secs_f64())),
            Err(error) if started.elapsed() > HEALTHY_LIMIT => bail!(
                "GET {health} did not answer 200 within {} s (last: {error:#}); output:\n{}",
                HEALTHY_LIMIT.as_secs(),
                container.logs()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// What a shipped tree holds.
#[derive(Debug, PartialEq)]
pub struct Tree {
    pub files: usize,
    pub bytes: u64,
}

impl std::fmt::Display for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let files = match self.files {
            1 => "1 file".to_owned(),
            count => format!("{count} files"),
        };
        write!(
            f,
            "{files}, {}, read-only, as in the project",
            format_size(self.bytes)
        )
    }
}

/// The files of a tar archive (`docker cp ... -`), each checked readable and not writable by
/// the runtime user (owned by root, no write bit for group or others); symlinks are skipped.
fn read_tar(tar: &[u8]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut archive = tar::Archive::new(tar);
    let mut files = Vec::new();
    for entry in archive.entries().context("reading the copied files")? {
        let mut entry = entry?;
        let header = entry.header();
        let path = entry.path()?.display().to_string();
        let kind = header.entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            continue;
        }
        let (mode, uid) = (header.mode()?, header.uid()?);
        let readable = match kind.is_dir() {
            true => mode & 0o005 == 0o005,
            false => mode & 0o004 != 0,
        };
        ensure!(
            uid == 0 && mode & 0o022 == 0 && readable,
            "{path} is owned by uid {uid} with mode {mode:o}: shipped files must be readable \
             and not writable by the runtime user (root's, 0644/0755)"
        );
        if kind.is_file() {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            files.push((path, bytes));
        }
    }
    Ok(files)
}

/// Checks a shipped tree against the project's `local` copy: the same files, the same sizes.
fn check_tree(tar: &[u8], local: &std::path::Path) -> anyhow::Result<Tree> {
    let files = read_tar(tar)?;
    let shipped = Tree {
        files: files.len(),
        bytes: files.iter().map(|(_, bytes)| bytes.len() as u64).sum(),
    };
    let expected = local_tree(local)?;
    ensure!(
        shipped == expected,
        "the image has {} files ({} bytes) where the project has {} ({} bytes) at {}: \
         a .dockerignore rule leaves some out?",
        shipped.files,
        shipped.bytes,
        expected.files,
        expected.bytes,
        local.display()
    );
    Ok(shipped)
}

fn local_tree(path: &std::path::Path) -> anyhow::Result<Tree> {
    let meta =
        std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_file() {
        return Ok(Tree {
            files: 1,
            bytes: meta.len(),
        });
    }
    let mut tree = Tree { files: 0, bytes: 0 };
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let sub = local_tree(&entry?.path())?;
            tree.files += sub.files;
            tree.bytes += sub.bytes;
        }
    }
    Ok(tree)
}

/// The zone database is there and readable, and zones resolve (through the links Debian's
/// tzdata has, `UTC` -> `Etc/UTC`) to TZif files.
fn check_zoneinfo(tar: &[u8]) -> anyhow::Result<(u64, String)> {
    let files = read_tar(tar)?;
    let links = tar_links(tar)?;
    let bytes = files.iter().map(|(_, bytes)| bytes.len() as u64).sum();
    for zone in ["UTC", "Europe/Berlin", "America/New_York"] {
        let mut path = format!("zoneinfo/{zone}");
        for _ in 0..8 {
            match links.iter().find(|(link, _)| *link == path) {
                Some((link, target)) => path = resolve(link, target),
                None => break,
            }
        }
        let Some((_, data)) = files.iter().find(|(file, _)| *file == path) else {
            bail!(
                "TZ={zone} does not resolve: /{}/{zone} is missing",
                project::ZONEINFO
            );
        };
        ensure!(
            data.starts_with(b"TZif"),
            "/{}/{zone} is not a TZif file",
            project::ZONEINFO
        );
    }
    Ok((
        bytes,
        format!(
            "TZ=UTC, Europe/Berlin, America/New_York resolve; {} zone files, {}",
            files.len(),
            format_size(bytes)
        ),
    ))
}

/// The symbolic links of a tar archive: (path, target).
fn tar_links(tar: &[u8]) -> anyhow::Result<Vec<(String, String)>> {
    let mut links = Vec::new();
    for entry in tar::Archive::new(tar).entries()? {
        let entry = entry?;
        if entry.header().entry_type().is_symlink()
            && let Some(target) = entry.link_name()?
        {
            links.push((
                entry.path()?.display().to_string(),
                target.display().to_string(),
            ));
        }
    }
    Ok(links)
}

/// A link's target as a path of the archive: relative to the link's directory.
fn resolve(link: &str, target: &str) -> String {
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// `--version` must print the package's version as a word of its own: the template's apps
/// print `NAME X.Y.Z`, others `NAME X.Y.Z (rev abc)` or `X.Y.Z`, under a binary name that need
/// not be the package's.
pub fn check_version(stdout: &str, version: &str) -> anyhow::Result<String> {
    let first = stdout.trim().lines().next().unwrap_or("").trim();
    let found = stdout
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .any(|word| word == version || word.strip_prefix('v') == Some(version));
    ensure!(
        found,
        "`--version` printed {:?}, which does not contain version {version} (Cargo.toml's): \
         the image does not run the binary built from these sources (a stale build layer?); \
         rebuild with --no-cache",
        stdout.trim()
    );
    Ok(first.to_owned())
}

/// `key: value` lines, as the binary's `self-check` prints them.
pub fn parse_facts(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim(), value.trim()))
        .collect()
}

/// musl, jemalloc, and a CA bundle that loads: what a static TLS-capable image needs.
pub fn check_self(facts: &[(&str, &str)]) -> anyhow::Result<String> {
    let fact = |key: &str| {
        facts
            .iter()
            .find(|(name, _)| *name == key)
            .map_or("(missing)", |(_, value)| *value)
    };
    let mut problems = Vec::new();
    if fact("libc") != "musl" {
        problems.push(format!("libc is {}, expected musl", fact("libc")));
    }
    if fact("allocator") != "jemalloc" {
        problems.push(format!(
            "allocator is {}, expected jemalloc",
            fact("allocator")
        ));
    }
    let roots: usize = fact("ca_roots").parse().unwrap_or(0);
    if roots == 0 {
        let errors: Vec<&str> = facts
            .iter()
            .filter(|(key, _)| *key == "ca_error")
            .map(|(_, value)| *value)
            .collect();
        problems.push(format!(
            "no CA roots loaded ({}): copy a CA bundle to /etc/ssl/certs/ca-certificates.crt",
            if errors.is_empty() {
                "no error reported".to_owned()
            } else {
                errors.join("; ")
            }
        ));
    }
    ensure!(problems.is_empty(), "{}", problems.join("; "));
    Ok(format!("musl, jemalloc, {roots} CA roots"))
}

/// A label without a value says nothing and hides that the value was never passed.
pub fn check_labels_have_values<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> anyhow::Result<()> {
    let empty: Vec<&str> = labels
        .into_iter()
        .filter(|(_, value)| value.trim().is_empty())
        .map(|(key, _)| key)
        .collect();
    ensure!(
        empty.is_empty(),
        "label(s) without a value: {}; leave a label out of the Dockerfile unless its value is \
         known (pass it with `--label` instead)",
        empty.join(", ")
    );
    Ok(())
}

pub fn check_stop(took: Duration, exit_code: i64) -> anyhow::Result<String> {
    let seconds = took.as_secs_f64();
    ensure!(
        took <= STOP_LIMIT,
        "`stop` took {seconds:.1} s (limit {} s): the process ignores SIGTERM, or waits for a \
         client that holds a connection, so the engine killed it after the grace period; as \
         PID 1 it must handle SIGTERM itself, and stop within a deadline",
        STOP_LIMIT.as_secs()
    );
    ensure!(
        exit_code == 0,
        "exited with code {exit_code} after SIGTERM, expected 0"
    );
    Ok(format!("{seconds:.1} s, exit 0"))
}

/// A connection to the published port; the error says what to check on a remote engine.
fn connect(host: &str, port: u16) -> anyhow::Result<(String, TcpStream)> {
    let address = match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    };
    let stream = TcpStream::connect_timeout(
        &std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
            .with_context(|| format!("resolving {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?,
        Duration::from_secs(5),
    );
    match stream {
        Ok(stream) => Ok((address, stream)),
        Err(error) if host != "127.0.0.1" => Err(error).with_context(|| {
            format!(
                "connecting to {address}, the port the remote engine published: let this \
                 machine reach {host}'s ports (firewall), or run `cargo xtask docker` on {host}"
            )
        }),
        Err(error) => Err(error).with_context(|| format!("connecting to {address}")),
    }
}

/// A plain HTTP/1.1 request: the xtask needs no HTTP client for one GET.
fn http_get(host: &str, port: u16, path: &str) -> anyhow::Result<String> {
    let (address, mut stream) = connect(host, port)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or("");
    ensure!(
        status.split_whitespace().nth(1) == Some("200"),
        "GET http://{address}{path} answered {status:?}"
    );
    Ok(format!("200 from {address}"))
}

/// Connects and sends a request head without its final blank line; the server must be left
/// waiting for the rest (no answer yet). Returns the open connection.
fn open_half_sent_request(
    host: &str,
    port: u16,
    path: &str,
) -> anyhow::Result<(TcpStream, String)> {
    let (address, mut stream) = connect(host, port)?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n").as_bytes())?;
    stream.set_read_timeout(Some(Duration::from_millis(300)))?;
    let mut answer = [0u8; 64];
    match stream.read(&mut answer) {
        Ok(0) => bail!("the service closed the connection at once"),
        Ok(read) => bail!(
            "the service answered a request it has not received yet: {:?}",
            String::from_utf8_lossy(&answer[..read])
        ),
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(error) => return Err(error).context("reading from the half-sent connection"),
    }
    Ok((stream, format!("held open on {address} during the stop")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_within_the_archive() {
        assert_eq!(resolve("zoneinfo/UTC", "Etc/UTC"), "zoneinfo/Etc/UTC");
        assert_eq!(
            resolve("zoneinfo/US/Eastern", "../America/New_York"),
            "zoneinfo/America/New_York"
        );
    }

    #[test]
    fn self_check_facts_are_parsed_and_judged() {
        let good = "name: demo\nversion: 0.1.0\nlibc: musl\nallocator: jemalloc\nca_roots: 146\n";
        assert_eq!(
            check_self(&parse_facts(good)).unwrap(),
            "musl, jemalloc, 146 CA roots"
        );

        let bad = "libc: gnu\nallocator: system\nca_roots: 0\nca_error: no such file\n";
        let error = check_self(&parse_facts(bad)).unwrap_err().to_string();
        assert_eq!(
            error,
            "libc is gnu, expected musl; allocator is system, expected jemalloc; no CA roots \
             loaded (no such file): copy a CA bundle to /etc/ssl/certs/ca-certificates.crt"
        );
        let error = check_self(&parse_facts("")).unwrap_err().to_string();
        assert!(
            error.starts_with("libc is (missing), expected musl"),
            "{error}"
        );
    }

    #[test]
    fn the_version_is_found_in_any_shape() {
        for (stdout, version) in [
            ("demo 0.1.0\n", "0.1.0"),
            ("fd 10.2.0\n", "10.2.0"),
            (
                "ripgrep 14.1.1 (rev 4649aa9700)\n\nfeatures:+pcre2\n",
                "14.1.1",
            ),
            ("tool v2.0.0-beta.1, built today", "2.0.0-beta.1"),
            ("3.4.5", "3.4.5"),
        ] {
            check_version(stdout, version).unwrap();
        }
        assert_eq!(
            check_version("ripgrep 14.1.1 (rev 4649aa9700)\nmore", "14.1.1").unwrap(),
            "ripgrep 14.1.1 (rev 4649aa9700)"
        );
        for (stdout, version) in [
            ("", "0.1.0"),
            ("demo 0.1.01", "0.1.0"),
            ("demo 10.1.0", "0.1.0"),
        ] {
            let error = check_version(stdout, version).unwrap_err().to_string();
            assert!(error.contains("a stale build layer?"), "{error}");
        }
    }

    #[test]
    fn labels_without_a_value_are_refused() {
        let labels = [
            ("org.opencontainers.image.version", "0.1.0"),
            ("org.opencontainers.image.source", ""),
        ];
        let error = check_labels_have_values(labels).unwrap_err().to_string();
        assert!(
            error.starts_with("label(s) without a value: org.opencontainers.image.source;"),
            "{error}"
        );
        check_labels_have_values(labels.into_iter().take(1)).unwrap();
    }

    #[test]
    fn stop_must_be_fast_and_clean() {
        assert_eq!(
            check_stop(Duration::from_millis(300), 0).unwrap(),
            "0.3 s, exit 0"
        );
        let slow = check_stop(Duration::from_secs(10), 137)
            .unwrap_err()
            .to_string();
        assert!(slow.contains("ignores SIGTERM"), "{slow}");
        let failed = check_stop(Duration::from_millis(100), 1)
            .unwrap_err()
            .to_string();
        assert_eq!(failed, "exited with code 1 after SIGTERM, expected 0");
    }
}
