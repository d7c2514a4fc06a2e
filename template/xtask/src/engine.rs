//! The container engine (docker, or podman), and every call made to it: which program, is it
//! usable, building images (with hints for known failures), running and removing containers
//! (never left behind), and what it says about images and containers (`inspect` JSON, serde).

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Command, Stdio},
    sync::Mutex,
};

use anyhow::{Context, bail};
use serde::Deserialize;
use xshell::{Shell, cmd};

use crate::buildlog;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Docker,
    Podman,
}

#[derive(Debug, Clone)]
pub struct Engine {
    pub program: String,
    pub flavor: Flavor,
}

impl Engine {
    /// `--engine`, else `$DOCKER`, else `docker`.
    pub fn choose(flag: Option<String>) -> Engine {
        let program = flag
            .or_else(|| {
                std::env::var("DOCKER")
                    .ok()
                    .filter(|value| !value.is_empty())
            })
            .unwrap_or_else(|| "docker".to_owned());
        let flavor = if program.rsplit('/').next().unwrap_or("").contains("podman") {
            Flavor::Podman
        } else {
            Flavor::Docker
        };
        Engine { program, flavor }
    }

    /// Fails, saying how to fix it, when the engine is missing or its daemon does not answer.
    pub fn check(&self, sh: &Shell) -> anyhow::Result<()> {
        let program = &self.program;
        let output = match cmd!(sh, "{program} version")
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
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !looks_like_engine(&stdout) {
            bail!(
                "`{program}` is not a container engine: `{program} version` exited with {} and \
                 printed {:?} instead of Docker's or Podman's version report; point DOCKER (or \
                 --engine) at docker or podman",
                output.status,
                format!("{stdout}{stderr}").trim()
            );
        }
        if !output.status.success() {
            let reason = stderr
                .trim()
                .lines()
                .last()
                .unwrap_or("no output")
                .to_owned();
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
    pub fn image(&self, sh: &Shell, tag: &str) -> anyhow::Result<Image> {
        let program = &self.program;
        let output = cmd!(sh, "{program} image inspect {tag}")
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("running `{program} image inspect {tag}`"))?;
        if !output.status.success() {
            bail!(
                "inspecting image {tag}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        parse_image(&String::from_utf8_lossy(&output.stdout))
    }

    pub fn container(&self, sh: &Shell, name: &str) -> anyhow::Result<ContainerInfo> {
        let program = &self.program;
        let json = cmd!(sh, "{program} container inspect {name}")
            .quiet()
            .read()
            .with_context(|| format!("inspecting container {name}"))?;
        parse_container(&json)
    }

    /// The image's layers, largest first: `(bytes, instruction)`.
    pub fn largest_layers(&self, sh: &Shell, tag: &str) -> anyhow::Result<Vec<(u64, String)>> {
        let program = &self.program;
        // Go template braces, kept apart so that no template engine mistakes them for its own.
        let format = concat!("{", "{.Size}}\t{", "{.CreatedBy}}");
        let text = cmd!(
            sh,
            "{program} history --no-trunc --human=false --format {format} {tag}"
        )
        .quiet()
        .read()
        .with_context(|| format!("listing the layers of {tag}"))?;
        Ok(parse_history(&text))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    pub id: String,
    pub size: u64,
    /// `amd64`, `arm64`, ...: the platform the image was built for.
    #[serde(default)]
    pub architecture: String,
    pub config: ImageConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageConfig {
    pub user: String,
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    pub healthcheck: Option<Healthcheck>,
    pub labels: Option<BTreeMap<String, String>>,
    pub entrypoint: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Healthcheck {
    pub test: Vec<String>,
}

impl Image {
    /// The first exposed TCP port: the service's.
    pub fn tcp_port(&self) -> Option<u16> {
        let ports = self.config.exposed_ports.as_ref()?;
        ports
            .keys()
            .find_map(|key| key.strip_suffix("/tcp")?.parse().ok())
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.config.labels.as_ref()?.get(name).map(String::as_str)
    }

    /// The path of the binary the image runs.
    pub fn binary(&self) -> Option<&str> {
        self.config.entrypoint.as_ref()?.first().map(String::as_str)
    }

    /// Root is "", "root", "0" or "0:<group>".
    pub fn runs_as_root(&self) -> bool {
        let user = self.config.user.split(':').next().unwrap_or("");
        matches!(user, "" | "root" | "0")
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInfo {
    pub state: State,
    #[serde(default)]
    pub network_settings: NetworkSettings,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub status: String,
    pub running: bool,
    pub exit_code: i64,
    /// Docker says `Health`, podman 4 `Healthcheck`.
    #[serde(alias = "Healthcheck")]
    pub health: Option<Health>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    #[serde(default)]
    pub log: Option<Vec<HealthLog>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthLog {
    pub exit_code: i64,
    pub output: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    pub ports: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    pub host_port: String,
}

impl ContainerInfo {
    /// The host port published for the container's `port`/tcp.
    pub fn host_port(&self, port: u16) -> Option<u16> {
        let bindings = self
            .network_settings
            .ports
            .as_ref()?
            .get(&format!("{port}/tcp"))?;
        bindings.as_ref()?.first()?.host_port.parse().ok()
    }

    /// What the last health probe printed, for error messages.
    pub fn last_probe(&self) -> Option<String> {
        let log = self.state.health.as_ref()?.log.as_ref()?.last()?;
        Some(format!("exit {}: {}", log.exit_code, log.output.trim()))
    }
}

/// `docker version` and `podman version` both print `Version:` lines; a program that merely
/// exits 0 (`/bin/true`) or echoes its arguments does not.
pub fn looks_like_engine(version_output: &str) -> bool {
    version_output
        .lines()
        .any(|line| line.trim_start().starts_with("Version:"))
}

fn first<T>(mut items: Vec<T>, what: &str) -> anyhow::Result<T> {
    if items.is_empty() {
        bail!("the engine returned no {what}");
    }
    Ok(items.swap_remove(0))
}

pub fn parse_image(json: &str) -> anyhow::Result<Image> {
    let images: Vec<Image> = serde_json::from_str(json).context("reading `image inspect` JSON")?;
    first(images, "image")
}

pub fn parse_container(json: &str) -> anyhow::Result<ContainerInfo> {
    let containers: Vec<ContainerInfo> =
        serde_json::from_str(json).context("reading `container inspect` JSON")?;
    first(containers, "container")
}

pub fn parse_history(text: &str) -> Vec<(u64, String)> {
    let mut layers: Vec<(u64, String)> = text
        .lines()
        .filter_map(|line| {
            let (size, created_by) = line.split_once('\t')?;
            Some((size.trim().parse().ok()?, created_by.trim().to_owned()))
        })
        .filter(|(size, _)| *size > 0)
        .collect();
    layers.sort_by_key(|layer| std::cmp::Reverse(layer.0));
    layers
}

// ---- builds ----

/// Builds images with the engine, always with the same arguments.
pub struct Builder<'a> {
    pub engine: &'a Engine,
    pub sh: &'a Shell,
    pub args: Vec<String>,
}

impl Builder<'_> {
    /// Builds the context `dir` as `tag`, streaming the engine's output to stderr (stdout is
    /// kept for `--json`); returns that output. Failures people hit most get a hint.
    pub fn build(&self, dir: &Path, tag: &str) -> anyhow::Result<Vec<String>> {
        let (program, args) = (&self.engine.program, &self.args);
        eprintln!(
            "$ {program} build --tag {tag} {} {}",
            args.join(" "),
            dir.display()
        );
        let mut command: Command = cmd!(self.sh, "{program} build --tag {tag} {args...} {dir}")
            .env("DOCKER_BUILDKIT", "1")
            .into();
        let mut child = command
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running `{program} build`"))?;
        let mut log = Vec::new();
        let mut stderr = std::io::stderr();
        for line in BufReader::new(child.stderr.take().expect("piped")).lines() {
            let line = line?;
            let _ = writeln!(stderr, "{line}");
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

    /// Removes an image by tag or id, unless the engine refuses (it is still in use).
    pub fn remove_image(&self, image: &str) {
        let program = &self.engine.program;
        let _ = cmd!(self.sh, "{program} rmi {image}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .ignore_status()
            .run();
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

/// On Ctrl-C, removes the containers this process created, then exits 130.
pub fn remove_containers_on_ctrl_c() {
    let installed = ctrlc::set_handler(|| {
        let live = LIVE.lock().map(|live| live.clone()).unwrap_or_default();
        if let Ok(sh) = Shell::new() {
            for (program, name) in &live {
                let _ = cmd!(sh, "{program} rm --force {name}")
                    .quiet()
                    .ignore_stdout()
                    .ignore_stderr()
                    .run();
            }
        }
        eprintln!("\ninterrupted: removed {} container(s)", live.len());
        std::process::exit(130);
    });
    if let Err(error) = installed {
        eprintln!("warning: containers may be left behind on Ctrl-C: {error}");
    }
}

/// A container name this process uses: the container is removed when this value is dropped
/// (and on Ctrl-C).
pub struct Running<'a> {
    engine: &'a Engine,
    sh: &'a Shell,
    pub name: String,
}

impl<'a> Running<'a> {
    pub fn name(engine: &'a Engine, sh: &'a Shell, purpose: &str) -> Running<'a> {
        let name = format!("xtask-{purpose}-{}", std::process::id());
        if let Ok(mut live) = LIVE.lock() {
            live.push((engine.program.clone(), name.clone()));
        }
        Running { engine, sh, name }
    }

    /// Starts `tag` in the background, locked down, with `args` for the engine's `run`.
    pub fn start(
        engine: &'a Engine,
        sh: &'a Shell,
        purpose: &str,
        tag: &str,
        args: &[&str],
    ) -> anyhow::Result<Running<'a>> {
        let running = Running::name(engine, sh, purpose);
        let (program, name) = (&engine.program, &running.name);
        cmd!(
            sh,
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
        cmd!(self.sh, "{program} stop --time 10 {name}")
            .quiet()
            .ignore_stdout()
            .run()?;
        Ok(())
    }

    pub fn logs(&self) -> String {
        let (program, name) = (&self.engine.program, &self.name);
        match cmd!(self.sh, "{program} logs {name}")
            .quiet()
            .ignore_status()
            .output()
        {
            Ok(output) => format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => format!("(no logs: {error})"),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let (program, name) = (&self.engine.program, &self.name);
        let _ = cmd!(self.sh, "{program} rm --force {name}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .ignore_status()
            .run();
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|(_, live_name)| live_name != name);
        }
    }
}

impl Engine {
    /// `run --rm` with the locked-down flags; the output when it exits 0.
    pub fn run_once(&self, sh: &Shell, tag: &str, args: &[&str]) -> anyhow::Result<String> {
        let program = &self.program;
        let container = Running::name(self, sh, "run");
        let name = &container.name;
        let output = cmd!(
            sh,
            "{program} run --rm --name {name} {LOCKED_DOWN...} {tag} {args...}"
        )
        .quiet()
        .ignore_status()
        .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!(
                "`{}` exited with {}; its output:\n{stdout}{stderr}",
                args.join(" "),
                output.status
            );
        }
        Ok(stdout)
    }

    /// The file at `path` in the image `tag`, copied out through a created (never started)
    /// container.
    pub fn copy_out(&self, sh: &Shell, tag: &str, path: &str) -> anyhow::Result<Vec<u8>> {
        let program = &self.program;
        let container = Running::name(self, sh, "copy");
        let name = &container.name;
        cmd!(sh, "{program} create --name {name} {tag}")
            .quiet()
            .ignore_stdout()
            .run()
            .context("creating a container to copy from")?;
        let dir = sh.create_temp_dir()?;
        let local = dir.path().join("copied");
        cmd!(sh, "{program} cp {name}:{path} {local}")
            .quiet()
            .run()
            .with_context(|| format!("copying {path} out of the image"))?;
        Ok(std::fs::read(&local)?)
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
        assert_eq!(image.size, 3_475_959);
        assert_eq!(image.tcp_port(), Some(8080));
        assert_eq!(image.binary(), Some("/demo"));
        assert_eq!(
            image.label("org.opencontainers.image.version"),
            Some("0.1.0")
        );
        assert!(!image.runs_as_root());
        assert_eq!(image.config.healthcheck.unwrap().test[2], "healthcheck");
    }

    #[test]
    fn a_cli_image_has_no_port_and_no_healthcheck() {
        let json = r#"[{"Id": "x", "Size": 1, "Config": {"User": "", "Labels": null,
                        "ExposedPorts": null, "Entrypoint": ["/x"]}}]"#;
        let image = parse_image(json).unwrap();
        assert_eq!(image.tcp_port(), None);
        assert!(image.config.healthcheck.is_none());
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
        assert_eq!(container.state.health.as_ref().unwrap().status, "unhealthy");
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
        assert_eq!(container.state.health.unwrap().status, "healthy");
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
    fn history_is_sorted_largest_first_without_empty_layers() {
        let text = "0\tCMD [\"serve\"]\n3253824\tCOPY /demo /demo # buildkit\n\
                    222000\tCOPY /etc/ssl/certs/ca-certificates.crt\n";
        let layers = parse_history(text);
        assert_eq!(layers.len(), 2);
        assert_eq!(
            layers[0],
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
        let engine = Engine::choose(Some("/usr/bin/podman".into()));
        assert_eq!(engine.flavor, Flavor::Podman);
        let engine = Engine::choose(Some("/usr/bin/docker".into()));
        assert_eq!(
            (engine.program.as_str(), engine.flavor),
            ("/usr/bin/docker", Flavor::Docker)
        );
    }
}
