//! The container engine (docker, or podman), and every call made to it: which program, is it
//! usable, building images (with hints for known failures), running and removing containers
//! (never left behind), and what it says about images and containers (`inspect` JSON).

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Output, Stdio},
    sync::Mutex,
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

/// What a command printed, stdout then stderr.
fn printed(output: &Output) -> String {
    let (stdout, stderr) = (&output.stdout, &output.stderr);
    format!(
        "{}{}",
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    )
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

    /// Fails, saying how to fix it, when the engine is missing or its daemon does not answer.
    pub fn check(&self) -> anyhow::Result<()> {
        let program = &self.program;
        let output = match cmd!(self.sh, "{program} version")
            .quiet()
            .ignore_status()
            .output()
        {
            Ok(output) => output,
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
                printed(&output).trim()
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
                Flavor::Podman => bail!("`{program} version` failed: {reason}"),
            }
        }
        Ok(())
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
        let output = cmd!(
            self.sh,
            "{program} run --rm --name {name} {LOCKED_DOWN...} {options...} {tag} {args...}"
        )
        .quiet()
        .ignore_status()
        .output()?;
        if !output.status.success() {
            let (args, status) = (args.join(" "), output.status);
            bail!(
                "`{args}` exited with {status}; its output:\n{}",
                printed(&output)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The file at `path` in the image `tag`, copied out through a created (never started)
    /// container.
    pub fn copy_out(&self, tag: &str, path: &str) -> anyhow::Result<Vec<u8>> {
        let program = &self.program;
        let container = Running::name(self, "copy");
        let name = &container.name;
        cmd!(self.sh, "{program} create --name {name} {tag}")
            .quiet()
            .ignore_stdout()
            .run()
            .context("creating a container to copy from")?;
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

    /// A service image has a HEALTHCHECK; a command-line tool has none.
    pub fn has_healthcheck(&self) -> bool {
        self.0["Config"]["Healthcheck"].is_object()
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
            bail!(
                "`{program} build` failed ({status}){}{}",
                buildlog::first_errors(&log),
                buildlog::build_hint(&log.join("\n"))
            );
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
        cmd!(
            engine.sh,
            "{program} run --detach --name {name} {LOCKED_DOWN...} {args...} {tag}"
        )
        .quiet()
        .ignore_stdout()
        .run()?;
        Ok(running)
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
