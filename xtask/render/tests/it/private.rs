//! Private dependencies in the image build, against real servers on this machine's loopback
//! (the build runs on the host's network, as `cargo xtask docker` decides by itself): a crate
//! fetched with git over SSH (OpenSSH's sshd, a key of the test's own in an ssh-agent) and one
//! from an authenticated sparse registry (`auth-required`, a server that checks the
//! `Authorization` header). The build forwards the agent and hands the token over as a secret;
//! without either it stops before the build with the fix; neither the token, the key nor the
//! agent's path is in the build's output, the report, the image's history or the image.
//!
//! Needs `RUST_ALPINE_DOCKER=1` (see docker.rs) and OpenSSH (`/usr/sbin/sshd`, `ssh-agent`,
//! `ssh-keygen`) and git: `.ci/run` installs openssh-server.

use std::{
    collections::BTreeMap,
    env, fs,
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use crate::{
    docker::{
        E2e, assert_good_report, cache_checks, cached, enabled, leftover_containers, parse_report,
        xtask_docker_env,
    },
    support::{heavy, step},
};

/// A process of the test's own, stopped (by its id) when dropped.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program args...` in `dir`; its stdout, or an error with everything it printed.
fn run(dir: &Path, program: &str, args: &[&str], vars: &[(&str, &str)]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(vars.iter().copied())
        .output()
        .map_err(|error| format!("cannot run {program}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} {} failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

fn wait_for(what: &str, ready: impl Fn() -> bool) -> Result<(), String> {
    let started = Instant::now();
    while !ready() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("{what} not ready within 10 s"));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A crate of our own, `name` 0.1.0, whose `answer()` is `answer`, in `dir`.
fn write_crate(dir: &Path, name: &str, answer: u32) {
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
             description = \"private\"\nlicense = \"MIT\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    fs::write(
        dir.join("src/lib.rs"),
        format!("pub fn answer() -> u32 {{\n    {answer}\n}}\n"),
    )
    .unwrap();
}

/// An SSH git server on loopback (sshd as a foreground process with a config and host key of
/// its own) serving a bare repository of the crate `vault`, and an ssh-agent holding the one
/// key it accepts.
struct SshGit {
    _sshd: Stopped,
    _agent: Stopped,
    /// The agent's socket (`SSH_AUTH_SOCK`).
    socket: String,
    /// `ssh://user@127.0.0.1:port/.../vault.git`
    url: String,
    /// The known_hosts line of the server's host key.
    known_host: String,
    /// A line of the private key's body, to look for where it must never be.
    key_line: String,
}

fn ssh_git(dir: &Path) -> Result<SshGit, String> {
    let keygen = |name: &str| {
        let file = dir.join(name);
        run(
            dir,
            "ssh-keygen",
            &[
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                name,
                "-f",
                file.to_str().unwrap(),
            ],
            &[],
        )
    };
    keygen("host_key")?;
    keygen("deploy_key")?;
    fs::copy(dir.join("deploy_key.pub"), dir.join("authorized_keys")).unwrap();
    let port = free_port();
    let config = dir.join("sshd_config");
    fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPidFile {dir}/sshd.pid\nStrictModes no\n\
             UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    // sshd run by root wants its privilege separation directory (the Debian service makes it).
    let _ = fs::create_dir_all("/run/sshd");
    let log = fs::File::create(dir.join("sshd.log")).unwrap();
    let sshd = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stderr(log)
        .spawn()
        .map_err(|error| format!("cannot run /usr/sbin/sshd (openssh-server): {error}"))?;
    let sshd = Stopped(sshd);
    wait_for("sshd", || TcpStream::connect(("127.0.0.1", port)).is_ok()).map_err(|error| {
        format!(
            "{error}: {}",
            fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        )
    })?;

    // The private crate, in a bare repository.
    let work = dir.join("vault");
    write_crate(&work, "vault", 7);
    let bare = dir.join("vault.git");
    let git = |args: &[&str]| {
        let mut all = vec![
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.invalid",
        ];
        all.extend(args);
        run(&work, "git", &all, &[])
    };
    git(&[
        "init",
        "--quiet",
        "--bare",
        "--initial-branch",
        "main",
        bare.to_str().unwrap(),
    ])?;
    git(&["init", "--quiet", "--initial-branch", "main"])?;
    git(&["add", "."])?;
    git(&["commit", "--quiet", "-m", "vault 0.1.0"])?;
    git(&["push", "--quiet", bare.to_str().unwrap(), "main"])?;

    let socket = dir.join("agent.sock");
    let agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&socket)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot run ssh-agent: {error}"))?;
    let agent = Stopped(agent);
    wait_for("ssh-agent", || socket.exists())?;
    let socket = socket.to_str().unwrap().to_owned();
    run(
        dir,
        "ssh-add",
        &["-q", dir.join("deploy_key").to_str().unwrap()],
        &[("SSH_AUTH_SOCK", &socket)],
    )?;
    let user = run(dir, "id", &["-un"], &[])?.trim().to_owned();
    let host_key = fs::read_to_string(dir.join("host_key.pub")).unwrap();
    let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
    let key = fs::read_to_string(dir.join("deploy_key")).unwrap();
    Ok(SshGit {
        _sshd: sshd,
        _agent: agent,
        url: format!("ssh://{user}@127.0.0.1:{port}{}", bare.display()),
        known_host: format!("[127.0.0.1]:{port} {}", host_key.join(" ")),
        key_line: key.lines().nth(1).unwrap().to_owned(),
        socket,
    })
}

/// An `auth-required` sparse registry on loopback serving the crate `ledger`: static files
/// behind a server that answers 401 to a request without one of `tokens` in `Authorization`.
struct Registry {
    index: String,
    /// Every request: its path and whether it was authorized.
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

fn registry(dir: &Path, tokens: Vec<String>) -> Result<Registry, String> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let work = dir.join("ledger");
    write_crate(&work, "ledger", 42);
    run(
        &work,
        &env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()),
        &[
            "package",
            "--quiet",
            "--no-verify",
            "--allow-dirty",
            "--offline",
        ],
        &[],
    )?;
    let file = fs::read(work.join("target/package/ledger-0.1.0.crate")).unwrap();
    let sum = run(
        &work,
        "sha256sum",
        &["target/package/ledger-0.1.0.crate"],
        &[],
    )?;
    let sum = sum.split_whitespace().next().unwrap().to_owned();
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    files.insert(
        "/index/config.json".into(),
        format!(
            "{{\"dl\":\"http://127.0.0.1:{port}/dl\",\"api\":\"http://127.0.0.1:{port}\",\
             \"auth-required\":true}}"
        )
        .into_bytes(),
    );
    files.insert(
        "/index/le/dg/ledger".into(),
        format!(
            "{{\"name\":\"ledger\",\"vers\":\"0.1.0\",\"deps\":[],\"cksum\":\"{sum}\",\
             \"features\":{{}},\"yanked\":false}}\n"
        )
        .into_bytes(),
    );
    files.insert("/dl/ledger/0.1.0/download".into(), file);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &files, &tokens, &log);
        }
    });
    Ok(Registry {
        index: format!("sparse+http://127.0.0.1:{port}/index/"),
        seen,
    })
}

fn answer(
    stream: TcpStream,
    files: &BTreeMap<String, Vec<u8>>,
    tokens: &[String],
    seen: &Mutex<Vec<(String, bool)>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut authorized = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorized = tokens.iter().any(|token| token == value.trim());
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    seen.lock().unwrap().push((path.clone(), authorized));
    let mut stream = stream;
    let (status, body): (&str, &[u8]) = match (authorized, files.get(&path)) {
        (false, _) => ("401 Unauthorized", b"token required"),
        (true, Some(body)) => ("200 OK", body),
        (true, None) => ("404 Not Found", b"not found"),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)
}

/// The builder image for this test: `RUST_ALPINE_BUILDER_IMAGE` (unset: the Dockerfile's
/// default, rust:1.96-bookworm, whose rustup cargo checks out git dependencies), with this
/// test's cargo (rustup's, libgit2 built in) in place of Debian's, when that image has Debian's:
/// Debian's cargo-web, linked to libgit2 1.5, fetches a git dependency and then fails to check
/// it out ("invalid version 0 on git_proxy_options"), over SSH or not.
fn builder_with_a_git_capable_cargo(engine: &str) -> Result<Option<String>, String> {
    let Some(base) = env::var("RUST_ALPINE_BUILDER_IMAGE")
        .ok()
        .filter(|image| !image.is_empty())
    else {
        return Ok(None);
    };
    let version = run(
        Path::new("/"),
        engine,
        &["run", "--rm", &base, "cargo", "--version"],
        &[],
    )?;
    if !version.contains("built from a source tarball") {
        return Ok(Some(base));
    }
    let cargo = run(Path::new("/"), "rustup", &["which", "cargo"], &[])?;
    let dir = tempfile::tempdir().unwrap();
    fs::copy(cargo.trim(), dir.path().join("cargo")).map_err(|error| error.to_string())?;
    fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {base}\nCOPY --chmod=0755 cargo /usr/bin/cargo\n"),
    )
    .unwrap();
    let tag = format!("{base}-rustup-cargo");
    run(
        dir.path(),
        engine,
        &["build", "--quiet", "--tag", &tag, "."],
        &[("DOCKER_BUILDKIT", "1")],
    )?;
    Ok(Some(tag))
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// One project depending on both private crates builds with the agent and the token, and
/// fails before the build, with the fix, without either; nothing of them leaks; a new token
/// keeps the dependency layer; a source change compiles one crate.
#[test]
fn private_dependencies_build_with_the_agent_and_a_token_and_leak_nothing() {
    if !enabled("private_dependencies_build_with_the_agent_and_a_token_and_leak_nothing") {
        return;
    }
    let _heavy = heavy();
    let tag = "e2e-private";
    let servers = tempfile::tempdir().unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let token = format!("tok-{nanos}-first");
    let second = format!("tok-{nanos}-second");
    let git = step(tag, "sshd with a bare repository, ssh-agent", || {
        ssh_git(servers.path())
    });
    let registry = step(tag, "auth-required sparse registry", || {
        registry(servers.path(), vec![token.clone(), second.clone()])
    });

    let e2e = E2e::render("cli", "e2e-private");
    let root = &e2e.project.path;
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let manifest = manifest.replacen(
        "[dependencies]\n",
        &format!(
            "[dependencies]\nvault = {{ git = \"{}\", branch = \"main\" }}\n\
             ledger = {{ version = \"0.1\", registry = \"private\" }}\n",
            git.url
        ),
        1,
    );
    fs::write(root.join("Cargo.toml"), manifest).unwrap();
    let config = root.join(".cargo/config.toml");
    let mut text = fs::read_to_string(&config).unwrap_or_default();
    text.push_str(&format!(
        "\n[registries.private]\nindex = \"{}\"\ncredential-provider = \"cargo:token\"\n\n\
         [net.ssh]\nknown-hosts = [\"{}\"]\n",
        registry.index, git.known_host
    ));
    fs::write(&config, text).unwrap();
    let main = root.join("src/main.rs");
    let source = fs::read_to_string(&main).unwrap();
    let arm = "        [\"--version\" | \"-V\"] =>";
    assert!(
        source.contains(arm),
        "the test no longer finds the --version arm"
    );
    fs::write(
        &main,
        source.replacen(
            arm,
            &format!(
                "        [\"private\"] => println!(\"vault {{}} ledger {{}}\", vault::answer(), \
                 ledger::answer()),\n{arm}"
            ),
            1,
        ),
    )
    .unwrap();
    // The lock, on the host, as its user would make it: the agent, the token, the host key.
    let known_hosts = servers.path().join("known_hosts");
    fs::write(&known_hosts, format!("{}\n", git.known_host)).unwrap();
    let ssh = format!(
        "ssh -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
        known_hosts.display()
    );
    step(tag, "cargo fetch (Cargo.lock with both)", || {
        run(
            root,
            &env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()),
            &["fetch", "--quiet"],
            &[
                ("SSH_AUTH_SOCK", git.socket.as_str()),
                ("CARGO_REGISTRIES_PRIVATE_TOKEN", token.as_str()),
                ("CARGO_NET_GIT_FETCH_WITH_CLI", "true"),
                ("GIT_SSH_COMMAND", ssh.as_str()),
            ],
        )
    });

    let builder = step(
        tag,
        "a builder whose cargo checks out git dependencies",
        || builder_with_a_git_capable_cargo(&e2e.engine.program),
    );
    let docker = |what: &str, args: &[&str], vars: &[(&str, &str)]| -> Output {
        let mut all: Vec<&str> = args.to_vec();
        if let Some(builder) = &builder {
            all.extend(["--builder-image", builder.as_str()]);
        }
        step(tag, what, || Ok(xtask_docker_env(&e2e, &all, vars)))
    };
    let secrets = [
        token.as_str(),
        second.as_str(),
        git.key_line.as_str(),
        git.socket.as_str(),
    ];
    let assert_no_secret = |what: &str, bytes: &[u8]| {
        for secret in secrets {
            assert!(!contains(bytes, secret), "a credential is in {what}");
        }
    };

    // Without the agent, or without the token: no build, and the fix.
    for (what, vars, fix) in [
        (
            "without an SSH agent",
            [
                ("SSH_AUTH_SOCK", ""),
                ("CARGO_REGISTRIES_PRIVATE_TOKEN", token.as_str()),
            ],
            "ssh-add",
        ),
        (
            "without the registry's token",
            [
                ("SSH_AUTH_SOCK", git.socket.as_str()),
                ("CARGO_REGISTRIES_PRIVATE_TOKEN", ""),
            ],
            "export CARGO_REGISTRIES_PRIVATE_TOKEN=<token>",
        ),
    ] {
        let output = docker(&format!("cargo xtask docker {what}"), &[], &vars);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(fix), "{what}: {stderr}");
        assert!(
            !stderr.contains(" build --tag "),
            "{what}: a build started: {stderr}"
        );
        assert_no_secret("the output of a refused build", &output.stderr);
    }

    // With both: the image builds, runs the private code, and passes the cache checks.
    let vars = [
        ("SSH_AUTH_SOCK", git.socket.as_str()),
        ("CARGO_REGISTRIES_PRIVATE_TOKEN", token.as_str()),
    ];
    let output = docker(
        "cargo xtask docker --check-cache (agent, token)",
        &["--check-cache"],
        &vars,
    );
    let report = parse_report(&output);
    assert!(output.status.success(), "{report:#}");
    assert_good_report(&report, &e2e.name, "cli");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--ssh default"),
        "the agent was not forwarded"
    );
    assert!(
        stderr.contains("id=credentials,src="),
        "no credentials secret"
    );
    let name = e2e.name.as_str();
    assert_eq!(
        cache_checks(tag, &report),
        [
            ("touch", vec![]),
            ("source", vec![name]),
            ("comment edit", vec![name])
        ]
    );
    let ran = run(
        root,
        &e2e.engine.program,
        &["run", "--rm", &e2e.tag, "private"],
        &[],
    );
    assert_eq!(ran.unwrap().trim(), "vault 7 ledger 42");
    {
        let seen = registry.seen.lock().unwrap();
        assert!(
            seen.iter()
                .any(|(path, ok)| *ok && path.starts_with("/dl/ledger/")),
            "the build never downloaded ledger with the token: {seen:?}"
        );
    }

    // Nowhere: the build log (stderr), the report, the history, the image.
    assert_no_secret("the build's output", &output.stderr);
    assert_no_secret("the report", &output.stdout);
    let history = e2e.engine.history(&e2e.tag).unwrap();
    let history: String = history
        .into_iter()
        .map(|(_, created_by)| created_by + "\n")
        .collect();
    assert_no_secret("the image history", history.as_bytes());
    let saved = Command::new(&e2e.engine.program)
        .args(["save", &e2e.tag])
        .output()
        .expect("docker save");
    assert!(saved.status.success());
    assert_no_secret("the saved image", &saved.stdout);

    // A new token is no new dependency layer: secrets are not part of the cache key.
    let vars = [
        ("SSH_AUTH_SOCK", git.socket.as_str()),
        ("CARGO_REGISTRIES_PRIVATE_TOKEN", second.as_str()),
    ];
    let output = docker("cargo xtask docker (a new token)", &[], &vars);
    let report = parse_report(&output);
    assert!(output.status.success(), "{report:#}");
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(cached(&log, "rust-alpine cook"), Some(true), "{log}");
    assert_no_secret("the second build's output", &output.stderr);

    // Every layer, the builder stage's too (the dependency layer the cook step made): the same
    // build as the xtask ran, up to `builder`, without the agent and the secret (the steps are
    // cached: neither is part of a key), saved and searched.
    let command = log
        .lines()
        .find_map(|line| {
            line.strip_prefix("$ ")
                .filter(|line| line.contains(" build --tag "))
        })
        .expect("the xtask prints its build command");
    let builder_tag = format!("{}-builder", e2e.tag.replace(':', "-"));
    let mut words = command.split_whitespace().skip(2);
    let mut args = vec![
        "build".to_owned(),
        "--target".to_owned(),
        "builder".to_owned(),
    ];
    while let Some(word) = words.next() {
        match word {
            "--ssh" | "--secret" => {
                words.next();
            }
            "--tag" => {
                words.next();
                args.extend(["--tag".to_owned(), builder_tag.clone()]);
            }
            _ => args.push(word.to_owned()),
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let built = step(tag, "the builder stage, from the cache", || {
        run(
            Path::new("/"),
            &e2e.engine.program,
            &args,
            &[("DOCKER_BUILDKIT", "1")],
        )
    });
    assert_no_secret("the builder stage's build output", built.as_bytes());
    let saved = servers.path().join("builder.tar");
    let found = step(tag, "docker save of the builder stage, searched", || {
        let save = [
            "save",
            "--output",
            saved.to_str().unwrap(),
            builder_tag.as_str(),
        ];
        let grep = |patterns: &[&str]| {
            let file = servers.path().join("patterns");
            fs::write(&file, patterns.join("\n") + "\n").unwrap();
            // grep reads the multi-gigabyte file in pieces; exit 1: no match.
            Command::new("grep")
                .args(["--quiet", "--text", "--fixed-strings", "--file"])
                .arg(&file)
                .arg(&saved)
                .status()
                .expect("running grep")
                .code()
        };
        let result = run(Path::new("/"), &e2e.engine.program, &save, &[]).map(|_| {
            // The search sees the layers: the host key (not secret) the skeleton's config
            // carries is found.
            let control = git.known_host.split_whitespace().last().unwrap();
            (grep(&[control]), grep(&secrets))
        });
        let _ = fs::remove_file(&saved);
        e2e.engine.remove_image(&builder_tag);
        result
    });
    assert_eq!(found.0, Some(0), "the search found not even the host key");
    assert_eq!(
        found.1,
        Some(1),
        "a credential is in a layer of the builder stage"
    );
    assert_eq!(leftover_containers(&e2e.engine), "");
}
