//! The container engine (docker, or podman), and every call made to it: which program, is it
//! usable, building images (with hints for known failures), running and removing containers
//! (never left behind), and what it says about images and containers (`inspect` JSON).

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Command, Output, Stdio},
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;
use xshell::{Cmd, Shell, cmd};

// A sibling module, here and wherever this file is compiled (the repository's bench and tests).
use super::buildlog;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Docker,
    Podman,
}

#[derive(Debug)]
pub struct Engine {
    pub program: String,
    pub flavor: Flavor,
    sh: Shell,
}

/// How long `version` may take: it answers in well under a second when the daemon is up, and
/// a program that is no engine (`DOCKER=/usr/bin/yes`) or an unreachable daemon never would.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// What `check` learned about the engine's server.
#[derive(Debug, Default)]
pub struct Server {
    /// `amd64`, `arm64`: the architecture containers run on natively (not necessarily this
    /// machine's: DOCKER_HOST may name another one); `None` when `version` does not say.
    pub arch: Option<String>,
}

/// What a command printed, stdout then stderr.
fn printed(output: &Output) -> String {
    let (stdout, stderr) = (&output.stdout, &output.stderr);
    format!(
        "{}{}",
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    )
}

/// The first 200 characters of `text`, for an error message.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// Runs a clean-up command whose failure changes nothing (the thing is gone already).
fn best_effort(command: Cmd) {
    let quiet = command.quiet().ignore_stdout().ignore_stderr();
    let _ = quiet.ignore_status().run();
}

impl Engine {
    /// `--engine`, else `$DOCKER`, else `docker`.
    pub fn choose(flag: Option<String>) -> anyhow::Result<Engine> {
        let from_env = || {
            std::env::var("DOCKER")
                .ok()
                .filter(|value| !value.is_empty())
        };
        let program = flag
            .or_else(from_env)
            .unwrap_or_else(|| "docker".to_owned());
        // A program path may contain a space; a program *and arguments* is refused, with the
        // environment variable that does what the arguments were for.
        if program.contains(char::is_whitespace) && !Path::new(&program).exists() {
            bail!("{}", arguments_not_split(&program));
        }
        let flavor = match program.rsplit('/').next().unwrap_or("").contains("podman") {
            true => Flavor::Podman,
            false => Flavor::Docker,
        };
        Ok(Engine {
            program,
            flavor,
            sh: Shell::new()?,
        })
    }

    /// Fails, saying how to fix it, when the engine is missing, its daemon does not answer, or
    /// `version` does not finish within [`VERSION_TIMEOUT`].
    pub fn check(&self) -> anyhow::Result<Server> {
        let program = &self.program;
        let output = match output_within(program, &["version"], VERSION_TIMEOUT) {
            Ok(Some(output)) => output,
            Ok(None) => bail!(
                "`{program} version` did not finish within {} s (stopped it): `{program}` is \
                 not docker or podman, or its daemon does not answer; point DOCKER (or \
                 --engine) at docker or podman, and DOCKER_HOST (or DOCKER_CONTEXT, \
                 CONTAINER_HOST) at a running engine",
                VERSION_TIMEOUT.as_secs()
            ),
            Err(error) => bail!(
                "container engine `{program}` not found ({error}): install Docker \
                 (https://docs.docker.com/engine/install/) or Podman, or choose the engine \
                 with DOCKER=/path/to/docker or --engine"
            ),
        };
        // Docker prints its client's version even when the daemon is down; a program that is
        // no engine at all (`DOCKER=/bin/true`) prints no version whatever its exit status.
        if !looks_like_engine(&String::from_utf8_lossy(&output.stdout)) {
            bail!(
                "`{program}` is not a container engine: `{program} version` exited with {} and \
                 printed {:?} instead of Docker's or Podman's version report; point DOCKER (or \
                 --engine) at docker or podman",
                output.status,
                excerpt(printed(&output).trim())
            );
        }
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let reason = stderr.trim().lines().last().unwrap_or("no output");
            match self.flavor {
                Flavor::Docker => bail!(
                    "the Docker daemon is not reachable through `{program}`: {reason}\n\
                     start it (`sudo systemctl start docker`, or `sudo dockerd &`), or point \
                     DOCKER_HOST at a running engine"
                ),
                Flavor::Podman => bail!(
                    "`{program} version` failed: {reason}\nfor a remote podman service, set \
                     CONTAINER_HOST (e.g. unix:///run/podman/podman.sock, \
                     ssh://user@host/run/podman/podman.sock)"
                ),
            }
        }
        Ok(Server {
            arch: server_arch(&String::from_utf8_lossy(&output.stdout)),
        })
    }

    /// Where the engine's daemon is: `DOCKER_HOST`, else the docker context's endpoint
    /// (`DOCKER_CONTEXT`, else the current one); for podman `CONTAINER_HOST`. `None` when it
    /// cannot be told (then it is taken to be this machine).
    pub fn endpoint(&self) -> Option<String> {
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        match self.flavor {
            Flavor::Podman => env("CONTAINER_HOST"),
            Flavor::Docker => env("DOCKER_HOST").or_else(|| {
                let program = &self.program;
                let format = concat!("{", "{.Endpoints.docker.Host}}");
                let inspect = cmd!(self.sh, "{program} context inspect --format {format}");
                inspect.quiet().ignore_stderr().read().ok()
            }),
        }
    }

    /// The image `tag` names. Says nothing on the terminal: a missing image is an ordinary
    /// answer (the first build), and the engine's complaint is in the error.
    pub fn image(&self, tag: &str) -> anyhow::Result<Image> {
        let program = &self.program;
        let output = cmd!(self.sh, "{program} image inspect {tag}")
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("running `{program} image inspect {tag}`"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!("inspecting image {tag}: {}", stderr.trim());
        }
        parse_image(&String::from_utf8_lossy(&output.stdout))
    }

    /// The image's layers, largest first, without the empty ones: `(bytes, instruction)`.
    pub fn largest_layers(&self, tag: &str) -> anyhow::Result<Vec<(u64, String)>> {
        let mut layers = self.history(tag)?;
        layers.retain(|(size, _)| *size > 0);
        layers.sort_by_key(|layer| std::cmp::Reverse(layer.0));
        Ok(layers)
    }

    /// Every layer of the image's history, newest first, with the instruction that made it
    /// untruncated: `(bytes, instruction)`.
    pub fn history(&self, tag: &str) -> anyhow::Result<Vec<(u64, String)>> {
        let program = &self.program;
        // Go template braces, kept apart so that no template engine mistakes them for its own.
        let format = concat!("{", "{.Size}}\t{", "{.CreatedBy}}");
        let history = cmd!(
            self.sh,
            "{program} history --no-trunc --human=false --format {format} {tag}"
        );
        let text = history
            .quiet()
            .read()
            .with_context(|| format!("listing the layers of {tag}"))?;
        Ok(parse_history(&text))
    }

    /// Removes an image by tag or id, unless the engine refuses (it is still in use).
    pub fn remove_image(&self, image: &str) {
        let program = &self.program;
        best_effort(cmd!(self.sh, "{program} rmi {image}"));
    }

    /// `run --rm` of `tag` with the locked-down flags and `options`, then `args`; the output
    /// when it exits 0.
    pub fn run_once(&self, options: &[&str], tag: &str, args: &[&str]) -> anyhow::Result<String> {
        let program = &self.program;
        let container = Running::name(self, "run");
        let name = &container.name;
        let flavored = self.run_flags();
        let output = cmd!(
            self.sh,
            "{program} run --rm --name {name} {LOCKED_DOWN...} {flavored...} {options...} {tag} {args...}"
        )
        .quiet()
        .ignore_status()
        .output()?;
        if !output.status.success() {
            let (args, status) = (args.join(" "), output.status);
            let printed = printed(&output);
            bail!(
                "`{args}` exited with {status}; its output:\n{printed}{}",
                run_hint(&printed)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// What this engine's `run` needs besides [`LOCKED_DOWN`]. Podman sets its own default
    /// ulimits (nofile 1048576 and nproc 4194304 as root), and runc cannot start a container
    /// when they exceed what podman may have (a container or CI runner: "error setting rlimit
    /// type 7"); the bound is not always the hard limit podman runs under (a sandbox here
    /// refused nproc above 32768 with a hard limit of 96362). A local podman is given modest
    /// limits, ample for a smoke test, never above this process's own; a remote one keeps its
    /// defaults.
    fn run_flags(&self) -> Vec<String> {
        let remote = ["CONTAINER_HOST", "CONTAINER_CONNECTION"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
        match self.flavor {
            Flavor::Podman if !remote => {
                ulimit_flags(&std::fs::read_to_string("/proc/self/limits").unwrap_or_default())
            }
            _ => Vec::new(),
        }
    }

    /// Flags the engine's `build` needs. Docker: the plain progress log (what `buildlog`
    /// reads). Podman: the Docker image format, as the OCI one has no HEALTHCHECK (buildah drops
    /// it with a warning, and the service's health would never be known).
    pub fn build_flags(&self) -> &'static [&'static str] {
        match self.flavor {
            Flavor::Docker => &["--progress=plain"],
            Flavor::Podman => &["--format", "docker"],
        }
    }

    /// The file at `path` in the image `tag`, copied out through a created (never started)
    /// container.
    /// A stopped container of `tag` to copy files out of, removed when dropped.
    fn created(&self, tag: &str) -> anyhow::Result<Running<'_>> {
        let program = &self.program;
        let container = Running::name(self, "copy");
        let name = &container.name;
        cmd!(self.sh, "{program} create --name {name} {tag}")
            .quiet()
            .ignore_stdout()
            .run()
            .context("creating a container to copy from")?;
        Ok(container)
    }

    /// `path` of the image (a file or a tree) as a tar archive, owners and modes as they are
    /// in the image.
    pub fn copy_out_tar(&self, tag: &str, path: &str) -> anyhow::Result<Vec<u8>> {
        let (program, container) = (&self.program, self.created(tag)?);
        let name = &container.name;
        let output = cmd!(self.sh, "{program} cp {name}:{path} -")
            .quiet()
            .ignore_status()
            .output()?;
        if !output.status.success() {
            bail!(
                "{path} is not in the image: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(output.stdout)
    }

    /// The file at `path` of the image.
    pub fn copy_out(&self, tag: &str, path: &str) -> anyhow::Result<Vec<u8>> {
        let (program, container) = (&self.program, self.created(tag)?);
        let name = &container.name;
        let dir = self.sh.create_temp_dir()?;
        let local = dir.path().join("copied");
        cmd!(self.sh, "{program} cp {name}:{path} {local}")
            .quiet()
            .run()
            .with_context(|| format!("copying {path} out of the image"))?;
        Ok(std::fs::read(&local)?)
    }
}

/// What `image inspect` says about an image (Docker's and Podman's JSON alike).
#[derive(Debug)]
pub struct Image(Value);

impl Image {
    fn text(&self, pointer: &str) -> &str {
        self.0
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn id(&self) -> &str {
        self.text("/Id")
    }

    pub fn size(&self) -> u64 {
        self.0["Size"].as_u64().unwrap_or(0)
    }

    /// `amd64`, `arm64`, ...: the platform the image was built for ("" when not said).
    pub fn architecture(&self) -> &str {
        self.text("/Architecture")
    }

    pub fn user(&self) -> &str {
        self.text("/Config/User")
    }

    /// Root is "", "root", "0" or "0:<group>".
    pub fn runs_as_root(&self) -> bool {
        matches!(
            self.user().split(':').next(),
            Some("" | "root" | "0") | None
        )
    }

    /// A service image has a HEALTHCHECK; a command-line tool has none. Docker says
    /// `Config.Healthcheck`, podman 4 `Healthcheck`.
    pub fn has_healthcheck(&self) -> bool {
        self.0["Config"]["Healthcheck"].is_object() || self.0["Healthcheck"].is_object()
    }

    /// The first exposed TCP port: the service's.
    pub fn tcp_port(&self) -> Option<u16> {
        let ports = self.0["Config"]["ExposedPorts"].as_object()?;
        ports
            .keys()
            .find_map(|key| key.strip_suffix("/tcp")?.parse().ok())
    }

    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        let labels = self.0["Config"]["Labels"].as_object().into_iter().flatten();
        labels.map(|(key, value)| (key.as_str(), value.as_str().unwrap_or("")))
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The path of the binary the image runs.
    pub fn binary(&self) -> Option<&str> {
        self.0["Config"]["Entrypoint"][0].as_str()
    }
}

/// What `container inspect` says about a container.
#[derive(Debug)]
pub struct ContainerInfo(Value);

impl ContainerInfo {
    pub fn status(&self) -> &str {
        self.0["State"]["Status"].as_str().unwrap_or("")
    }

    pub fn running(&self) -> bool {
        self.0["State"]["Running"].as_bool().unwrap_or(false)
    }

    pub fn exit_code(&self) -> i64 {
        self.0["State"]["ExitCode"].as_i64().unwrap_or(-1)
    }

    /// Docker says `Health`, podman 4 `Healthcheck`.
    fn health(&self) -> &Value {
        let state = &self.0["State"];
        if state["Health"].is_object() {
            &state["Health"]
        } else {
            &state["Healthcheck"]
        }
    }

    /// `starting`, `healthy`, `unhealthy`; `None` without a HEALTHCHECK.
    pub fn health_status(&self) -> Option<&str> {
        self.health()["Status"].as_str()
    }

    /// What the last health probe printed, for error messages.
    pub fn last_probe(&self) -> Option<String> {
        let log = self.health()["Log"].as_array()?.last()?;
        let output = log["Output"].as_str().unwrap_or("").trim();
        Some(format!("exit {}: {output}", log["ExitCode"]))
    }

    /// The host port published for the container's `port`/tcp.
    pub fn host_port(&self, port: u16) -> Option<u16> {
        let bindings = &self.0["NetworkSettings"]["Ports"][format!("{port}/tcp")];
        bindings[0]["HostPort"].as_str()?.parse().ok()
    }
}

/// Runs `program args` and returns its output, or `None` when it did not exit within `limit`
/// (it is killed then). xshell 0.2 has no timeout, hence std::process here; like xshell, no
/// shell is involved and the arguments are passed as they are. Each stream keeps its first
/// 64 KiB: a program that prints forever (`yes`) then gets EPIPE instead of filling memory.
fn output_within(program: &str, args: &[&str], limit: Duration) -> std::io::Result<Option<Output>> {
    const KEEP: u64 = 64 * 1024;
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so that a wrapper script's children are stopped with it.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn()?;
    fn keep(stream: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(stream) = stream {
                let _ = stream.take(KEEP).read_to_end(&mut kept);
            }
            kept
        })
    }
    let (stdout, stderr) = (keep(child.stdout.take()), keep(child.stderr.take()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            #[cfg(unix)]
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    };
    // Both readers end at the child's exit (or after 64 KiB); a grandchild that inherited
    // the pipes could hold them open, so they are not waited for past the limit.
    let join = |reader: thread::JoinHandle<Vec<u8>>| {
        while !reader.is_finished() && started.elapsed() <= limit {
            thread::sleep(Duration::from_millis(20));
        }
        match reader.is_finished() {
            true => reader.join().unwrap_or_default(),
            false => Vec::new(),
        }
    };
    Ok(Some(Output {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    }))
}

/// Why `DOCKER="docker --context x"` is refused, and the environment variable to use instead.
pub fn arguments_not_split(value: &str) -> String {
    let mut words = value.split_whitespace();
    let program = words.next().unwrap_or("docker");
    let words: Vec<&str> = words.collect();
    // `--flag value` and `--flag=value` alike.
    let value_of = |names: &[&str]| -> Option<String> {
        words.iter().enumerate().find_map(|(at, word)| {
            let (name, inline) = match word.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (*word, None),
            };
            names
                .contains(&name)
                .then(|| inline.or_else(|| words.get(at + 1).map(|v| v.to_string())))
                .flatten()
        })
    };
    let podman = program.rsplit('/').next().unwrap_or("").contains("podman");
    let instead = if podman {
        if let Some(url) = value_of(&["--url"]) {
            format!("CONTAINER_HOST={url} DOCKER={program}")
        } else if let Some(name) = value_of(&["--connection", "-c"]) {
            format!("CONTAINER_CONNECTION={name} DOCKER={program}")
        } else {
            format!(
                "CONTAINER_HOST=<url> DOCKER={program} (CONTAINER_HOST or CONTAINER_CONNECTION \
                 makes podman remote)"
            )
        }
    } else if let Some(context) = value_of(&["--context", "-c"]) {
        format!("DOCKER_CONTEXT={context} DOCKER={program}")
    } else if let Some(host) = value_of(&["--host", "-H"]) {
        format!("DOCKER_HOST={host} DOCKER={program}")
    } else {
        format!(
            "DOCKER={program} with DOCKER_CONTEXT (a docker context), DOCKER_HOST (a remote \
             daemon) or CONTAINER_HOST (a remote podman service)"
        )
    };
    format!(
        "engine {value:?} is a program with arguments, but DOCKER and --engine name only the \
         program (arguments are not split); pass the arguments' meaning through the \
         environment instead: {instead}"
    )
}

/// The architecture of the engine's server from `version`: its last `OS/Arch:` line (Docker
/// prints the client's, then the server's; local podman prints one).
pub fn server_arch(version_output: &str) -> Option<String> {
    let line = version_output
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("OS/Arch:"))
        .next_back()?;
    let arch = line.trim().rsplit('/').next()?;
    (!arch.is_empty()).then(|| arch.to_owned())
}

/// The host to reach a remote engine's published ports on: `tcp://10.0.0.5:2376` and
/// `ssh://me@build-box` name one; a unix socket, a named pipe or a loopback address is this
/// machine (`None`).
pub fn remote_host(endpoint: &str) -> Option<String> {
    let (scheme, rest) = endpoint.split_once("://")?;
    if !matches!(scheme, "tcp" | "ssh" | "http" | "https") {
        return None;
    }
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(ipv6) => ipv6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let local = matches!(host, "" | "localhost" | "::1") || host.starts_with("127.");
    (!local).then(|| host.to_owned())
}

/// `--ulimit` flags for podman's containers: 10000 open files and 4096 processes, or this
/// process's hard limits where they are lower (`/proc/self/limits`, "" when unreadable).
pub fn ulimit_flags(proc_limits: &str) -> Vec<String> {
    let mut flags = Vec::new();
    for (row, name, ample) in [
        ("Max open files", "nofile", 10_000),
        ("Max processes", "nproc", 4096),
    ] {
        let hard = proc_limits
            .lines()
            .find_map(|line| line.strip_prefix(row))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|hard| hard.parse::<u64>().ok());
        let limit = hard.map_or(ample, |hard| hard.min(ample));
        flags.extend(["--ulimit".to_owned(), format!("{name}={limit}:{limit}")]);
    }
    flags
}

/// A hint for a container that would not start, when the reason is a known one.
fn run_hint(printed: &str) -> &'static str {
    if printed.contains("error setting rlimit") {
        "\nthe engine asked for more open files or processes than it may have here: set \
         `default_ulimits` in containers.conf (e.g. \"nofile=10000:10000\"), or raise the hard \
         limits of the engine's service"
    } else {
        ""
    }
}

/// `docker version` and `podman version` both print `Version:` lines; a program that merely
/// exits 0 (`/bin/true`) or echoes its arguments does not.
pub fn looks_like_engine(version_output: &str) -> bool {
    version_output
        .lines()
        .any(|line| line.trim_start().starts_with("Version:"))
}

/// The first object of an `inspect` answer (a JSON array).
fn first(json: &str, what: &str) -> anyhow::Result<Value> {
    let mut items: Vec<Value> =
        serde_json::from_str(json).with_context(|| format!("reading `{what} inspect` JSON"))?;
    match items.is_empty() {
        true => bail!("the engine returned no {what}"),
        false => Ok(items.swap_remove(0)),
    }
}

pub fn parse_image(json: &str) -> anyhow::Result<Image> {
    first(json, "image").map(Image)
}

pub fn parse_container(json: &str) -> anyhow::Result<ContainerInfo> {
    first(json, "container").map(ContainerInfo)
}

pub fn parse_history(text: &str) -> Vec<(u64, String)> {
    text.lines()
        .filter_map(|line| {
            let (size, created_by) = line.split_once('\t')?;
            Some((size.trim().parse().ok()?, created_by.trim().to_owned()))
        })
        .collect()
}

// ---- builds ----

/// Builds images with the engine, always with the same arguments.
pub struct Builder<'a> {
    pub engine: &'a Engine,
    pub args: Vec<String>,
}

impl Builder<'_> {
    /// Builds the context `dir` as `tag`, streaming the engine's output to stderr (stdout is
    /// kept for `--json`); returns that output. Failures people hit most get a hint.
    pub fn build(&self, dir: &Path, tag: &str) -> anyhow::Result<Vec<String>> {
        self.build_showing(dir, tag, |line| eprintln!("{line}"))
    }

    /// [`Builder::build`], giving each line of the engine's output to `show`.
    pub fn build_showing(
        &self,
        dir: &Path,
        tag: &str,
        mut show: impl FnMut(&str),
    ) -> anyhow::Result<Vec<String>> {
        let (program, args) = (&self.engine.program, &self.args);
        let command = cmd!(
            self.engine.sh,
            "{program} build --tag {tag} {args...} {dir}"
        );
        eprintln!("$ {command}");
        let mut command: Command = command.env("DOCKER_BUILDKIT", "1").into();
        let mut child = command
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running `{program} build`"))?;
        let mut log = Vec::new();
        for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
            let line = line?;
            show(&line);
            log.push(line);
        }
        let status = child.wait()?;
        if !status.success() {
            return Err(build_failed(program, status, &log));
        }
        Ok(log)
    }
}

/// A failed `build`: its status, the first errors of its log, and a hint for the failures
/// people hit most.
fn build_failed(program: &str, status: std::process::ExitStatus, log: &[String]) -> anyhow::Error {
    anyhow::anyhow!(
        "`{program} build` failed ({status}){}{}",
        buildlog::first_errors(log),
        buildlog::build_hint(&log.join("\n"))
    )
}

impl Engine {
    /// Builds a Dockerfile of the xtask's own (`text`, not the project's) with the context `dir`:
    /// no tag, `args` before the context; returns the plain log (short: one step).
    pub fn build_text(
        &self,
        text: &str,
        dir: &Path,
        args: &[String],
    ) -> anyhow::Result<Vec<String>> {
        let program = &self.program;
        let scratch = self.sh.create_temp_dir()?;
        let file = scratch.path().join("Dockerfile");
        std::fs::write(&file, text)?;
        let output = cmd!(
            self.sh,
            "{program} build --progress=plain --file {file} {args...} {dir}"
        )
        .env("DOCKER_BUILDKIT", "1")
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("running `{program} build`"))?;
        let log: Vec<String> = String::from_utf8_lossy(&output.stderr)
            .lines()
            .map(str::to_owned)
            .collect();
        if !output.status.success() {
            return Err(build_failed(program, output.status, &log));
        }
        Ok(log)
    }
}

// ---- containers ----

/// Every container run gets these: what production should use, so the test proves it works.
pub const LOCKED_DOWN: [&str; 5] = [
    "--read-only",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
];

/// (engine program, container name) of the containers that exist right now.
static LIVE: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Removes the containers this process created and has not removed yet (for a Ctrl-C
/// handler, where no destructor runs); returns how many.
pub fn remove_live_containers() -> usize {
    let live = LIVE.lock().map(|live| live.clone()).unwrap_or_default();
    if let Ok(sh) = Shell::new() {
        for (program, name) in &live {
            best_effort(cmd!(sh, "{program} rm --force {name}"));
        }
    }
    live.len()
}

/// A container name this process uses: the container is removed when this value is dropped
/// (and on Ctrl-C).
pub struct Running<'a> {
    engine: &'a Engine,
    pub name: String,
}

impl<'a> Running<'a> {
    pub fn name(engine: &'a Engine, purpose: &str) -> Running<'a> {
        let name = format!("xtask-{purpose}-{}", std::process::id());
        if let Ok(mut live) = LIVE.lock() {
            live.push((engine.program.clone(), name.clone()));
        }
        Running { engine, name }
    }

    /// Starts `tag` in the background, locked down, with `args` for the engine's `run`.
    pub fn start(
        engine: &'a Engine,
        purpose: &str,
        tag: &str,
        args: &[&str],
    ) -> anyhow::Result<Running<'a>> {
        let running = Running::name(engine, purpose);
        let (program, name) = (&engine.program, &running.name);
        let flavored = engine.run_flags();
        let output = cmd!(
            engine.sh,
            "{program} run --detach --name {name} {LOCKED_DOWN...} {flavored...} {args...} {tag}"
        )
        .quiet()
        .ignore_status()
        .output()?;
        if !output.status.success() {
            let printed = printed(&output);
            bail!(
                "`{program} run` failed ({}): {}{}",
                output.status,
                printed.trim(),
                run_hint(&printed)
            );
        }
        Ok(running)
    }

    /// Runs the image's HEALTHCHECK now. Podman schedules health checks with systemd timers;
    /// without systemd (a container, most CI runners) they never run on their own, and the
    /// container stays `starting`. Docker runs them itself: nothing to do.
    pub fn run_healthcheck(&self) {
        if self.engine.flavor == Flavor::Podman {
            let (program, name) = (&self.engine.program, &self.name);
            best_effort(cmd!(self.engine.sh, "{program} healthcheck run {name}"));
        }
    }

    /// `stop` with the engine's usual 10 s grace period.
    pub fn stop(&self) -> anyhow::Result<()> {
        let (program, name) = (&self.engine.program, &self.name);
        let stop = cmd!(self.engine.sh, "{program} stop --time 10 {name}");
        stop.quiet().ignore_stdout().run()?;
        Ok(())
    }

    pub fn logs(&self) -> String {
        let (program, name) = (&self.engine.program, &self.name);
        match cmd!(self.engine.sh, "{program} logs {name}")
            .quiet()
            .ignore_status()
            .output()
        {
            Ok(output) => printed(&output),
            Err(error) => format!("(no logs: {error})"),
        }
    }

    pub fn inspect(&self) -> anyhow::Result<ContainerInfo> {
        let (program, name) = (&self.engine.program, &self.name);
        let json = cmd!(self.engine.sh, "{program} container inspect {name}")
            .quiet()
            .read()
            .with_context(|| format!("inspecting container {name}"))?;
        parse_container(&json)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let (program, name) = (&self.engine.program, &self.name);
        best_effort(cmd!(self.engine.sh, "{program} rm --force {name}"));
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|(_, live_name)| live_name != name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = r#"[{
        "Id": "sha256:abc",
        "Size": 3475959,
        "Config": {
            "User": "10001:10001",
            "ExposedPorts": {"8080/tcp": {}},
            "Healthcheck": {"Test": ["CMD", "/demo", "healthcheck"], "Interval": 10000000000},
            "Labels": {"org.opencontainers.image.version": "0.1.0"},
            "Entrypoint": ["/demo"],
            "Env": ["PORT=8080"]
        }
    }]"#;

    #[test]
    fn reads_what_the_smoke_test_needs_from_an_image() {
        let image = parse_image(IMAGE).unwrap();
        assert_eq!((image.id(), image.size()), ("sha256:abc", 3_475_959));
        assert_eq!(image.tcp_port(), Some(8080));
        assert_eq!(image.binary(), Some("/demo"));
        assert_eq!(
            image.label("org.opencontainers.image.version"),
            Some("0.1.0")
        );
        assert!(!image.runs_as_root());
        assert!(image.has_healthcheck());
        assert_eq!(image.architecture(), "");
    }

    #[test]
    fn a_cli_image_has_no_port_and_no_healthcheck() {
        let json = r#"[{"Id": "x", "Size": 1, "Config": {"User": "", "Labels": null,
                        "ExposedPorts": null, "Entrypoint": ["/x"]}}]"#;
        let image = parse_image(json).unwrap();
        assert_eq!(image.tcp_port(), None);
        assert!(!image.has_healthcheck());
        assert_eq!(image.labels().count(), 0);
        assert!(image.runs_as_root());
    }

    #[test]
    fn podman_images_have_their_healthcheck_at_the_top() {
        let json = r#"[{"Id": "x", "Size": 1, "Architecture": "amd64",
                        "Config": {"User": "10001:10001", "Entrypoint": ["/demo"]},
                        "Healthcheck": {"Test": ["CMD", "/demo", "healthcheck"]}}]"#;
        let image = parse_image(json).unwrap();
        assert!(image.has_healthcheck());
        assert_eq!(image.architecture(), "amd64");
    }

    #[test]
    fn root_is_recognised_in_every_spelling() {
        for (user, root) in [
            ("", true),
            ("root", true),
            ("0", true),
            ("0:0", true),
            ("10001:10001", false),
            ("65532", false),
            ("app", false),
        ] {
            let json = serde_json::json!([{"Id": "x", "Size": 1, "Config": {"User": user}}]);
            let image = parse_image(&json.to_string()).unwrap();
            assert_eq!(image.runs_as_root(), root, "{user:?}");
        }
    }

    #[test]
    fn reads_health_and_published_port_from_a_container() {
        let json = r#"[{
            "State": {"Status": "running", "Running": true, "ExitCode": 0,
                      "Health": {"Status": "unhealthy", "FailingStreak": 3,
                                 "Log": [{"ExitCode": 1, "Output": "unhealthy: GET ...\n"}]}},
            "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}],
                                          "9090/tcp": null}}
        }]"#;
        let container = parse_container(json).unwrap();
        assert_eq!(container.health_status(), Some("unhealthy"));
        assert!(container.running());
        assert_eq!((container.status(), container.exit_code()), ("running", 0));
        assert_eq!(
            container.last_probe().unwrap(),
            "exit 1: unhealthy: GET ..."
        );
        assert_eq!(container.host_port(8080), Some(49153));
        assert_eq!(container.host_port(9090), None);
    }

    #[test]
    fn podman_health_is_read_too() {
        let json = r#"[{"State": {"Status": "running", "Running": true, "ExitCode": 0,
                                   "Healthcheck": {"Status": "healthy", "Log": null}}}]"#;
        let container = parse_container(json).unwrap();
        assert_eq!(container.health_status(), Some("healthy"));
        let json = r#"[{"State": {"Status": "exited", "Running": false, "ExitCode": 137}}]"#;
        let container = parse_container(json).unwrap();
        assert_eq!(container.health_status(), None);
        assert_eq!((container.running(), container.exit_code()), (false, 137));
    }

    #[test]
    fn engine_errors_are_reported() {
        assert!(
            parse_image("[]")
                .unwrap_err()
                .to_string()
                .contains("no image")
        );
        assert!(parse_container("not json").is_err());
    }

    #[test]
    fn history_has_every_layer_in_order() {
        let text = "0\tCMD [\"serve\"]\n3253824\tCOPY /demo /demo # buildkit\n\
                    222000\tCOPY /etc/ssl/certs/ca-certificates.crt\n";
        let layers = parse_history(text);
        assert_eq!(layers.len(), 3);
        assert_eq!(layers[0], (0, "CMD [\"serve\"]".to_owned()));
        assert_eq!(
            layers[1],
            (3_253_824, "COPY /demo /demo # buildkit".to_owned())
        );
    }

    #[test]
    fn only_a_container_engine_passes_for_one() {
        let docker = "Client: Docker Engine - Community\n Version:           27.5.1\n API version:       1.47\n";
        let podman = "Client:       Podman Engine\nVersion:      4.9.3\nAPI Version:  4.9.3\n";
        assert!(looks_like_engine(docker));
        assert!(looks_like_engine(podman));
        // DOCKER=/bin/true, DOCKER=/bin/echo
        assert!(!looks_like_engine(""));
        assert!(!looks_like_engine("version\n"));
    }

    #[test]
    fn version_is_stopped_at_the_limit() {
        let started = Instant::now();
        let output = output_within("sleep", &["10"], Duration::from_millis(300)).unwrap();
        assert!(output.is_none(), "{output:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // A program that prints forever stops at the first 64 KiB, and is no engine.
        let output = output_within("yes", &["version"], Duration::from_secs(10))
            .unwrap()
            .expect("yes ends on EPIPE");
        assert_eq!(output.stdout.len(), 64 * 1024);
        assert!(!looks_like_engine(&String::from_utf8_lossy(&output.stdout)));
        let output = output_within("echo", &["Version: 1"], Duration::from_secs(10))
            .unwrap()
            .unwrap();
        assert_eq!(
            (output.status.success(), output.stdout),
            (true, b"Version: 1\n".to_vec())
        );
        assert!(output_within("/nonexistent/docker", &[], Duration::from_secs(1)).is_err());
        assert_eq!(excerpt(&"version\n".repeat(1000)).len(), 203);
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn arguments_in_the_engine_name_are_refused_with_the_variable_to_use() {
        for (value, instead) in [
            ("docker --context x", "DOCKER_CONTEXT=x DOCKER=docker"),
            ("docker --context=prod", "DOCKER_CONTEXT=prod DOCKER=docker"),
            (
                "/usr/bin/docker -c ci",
                "DOCKER_CONTEXT=ci DOCKER=/usr/bin/docker",
            ),
            (
                "docker -H tcp://10.0.0.5:2376",
                "DOCKER_HOST=tcp://10.0.0.5:2376 DOCKER=docker",
            ),
            (
                "docker --host=ssh://me@box",
                "DOCKER_HOST=ssh://me@box DOCKER=docker",
            ),
            (
                "docker --debug",
                "DOCKER=docker with DOCKER_CONTEXT (a docker context), DOCKER_HOST",
            ),
            ("podman --remote", "CONTAINER_HOST=<url> DOCKER=podman"),
            (
                "podman --url unix:///run/p.sock",
                "CONTAINER_HOST=unix:///run/p.sock DOCKER=podman",
            ),
            ("podman -c box", "CONTAINER_CONNECTION=box DOCKER=podman"),
        ] {
            let error = Engine::choose(Some(value.into())).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("engine {value:?} is a program with arguments")),
                "{error}"
            );
            assert!(error.contains("arguments are not split"), "{error}");
            assert!(
                error.ends_with(&format!("instead: {instead}"))
                    || error.contains(&format!("instead: {instead} ")),
                "{value}: {error}"
            );
        }
    }

    #[test]
    fn the_server_architecture_is_the_last_one_version_prints() {
        let docker = "Client:\n Version: 27.5.1\n OS/Arch:  darwin/arm64\n\nServer:\n Engine:\n  \
                      Version: 27.5.1\n  OS/Arch:   linux/amd64\n";
        for (output, arch) in [
            (docker, Some("amd64")),
            (
                "Version:      4.3.1\nOS/Arch:      linux/arm64\n",
                Some("arm64"),
            ),
            ("Version: 1\n", None),
            ("OS/Arch:\n", None),
        ] {
            assert_eq!(server_arch(output).as_deref(), arch, "{output}");
        }
    }

    #[test]
    fn remote_engines_are_told_from_local_ones() {
        for (endpoint, host) in [
            ("unix:///var/run/docker.sock", None),
            ("npipe:////./pipe/docker_engine", None),
            ("tcp://127.0.0.1:2375", None),
            ("tcp://localhost:2375", None),
            ("tcp://[::1]:2375", None),
            ("", None),
            ("tcp://10.0.0.5:2376", Some("10.0.0.5")),
            ("tcp://build-box.lan", Some("build-box.lan")),
            ("ssh://me@build-box", Some("build-box")),
            (
                "ssh://me@build-box:2222/run/podman/podman.sock",
                Some("build-box"),
            ),
            ("tcp://[fd00::5]:2376", Some("fd00::5")),
        ] {
            assert_eq!(remote_host(endpoint).as_deref(), host, "{endpoint}");
        }
    }

    #[test]
    fn podman_gets_modest_limits_never_above_this_process() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             96362                96362                processes \n\
                      Max open files            1024                 20000                files     \n";
        let flags = [
            "--ulimit",
            "nofile=10000:10000",
            "--ulimit",
            "nproc=4096:4096",
        ];
        assert_eq!(ulimit_flags(limits), flags);
        assert_eq!(ulimit_flags(""), flags);
        let low = "Max processes             unlimited            unlimited            processes\n\
                   Max open files            1024                 4096                 files\n";
        let flags = [
            "--ulimit",
            "nofile=4096:4096",
            "--ulimit",
            "nproc=4096:4096",
        ];
        assert_eq!(ulimit_flags(low), flags);
        assert!(
            run_hint("Error: runc: ... error setting rlimit type 7: operation not permitted")
                .contains("default_ulimits")
        );
        assert_eq!(run_hint("exec format error"), "");
    }

    #[test]
    fn engine_is_chosen_by_flag_then_environment() {
        let engine = Engine::choose(Some("/usr/bin/podman".into())).unwrap();
        assert_eq!(engine.flavor, Flavor::Podman);
        let engine = Engine::choose(Some("/usr/bin/docker".into())).unwrap();
        assert_eq!(
            (engine.program.as_str(), engine.flavor),
            ("/usr/bin/docker", Flavor::Docker)
        );
    }
}
