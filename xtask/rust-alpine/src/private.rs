//! Private dependencies: git over SSH (the user's SSH agent, forwarded with `--ssh default`),
//! authenticated registries and HTTPS git with a token (the `credentials` secret). Only the
//! Dockerfile's `cook` step, the one that fetches, mounts them; nothing derived from a credential
//! is written to a layer, and none is ever printed.
//!
//! On the host (`cargo xtask docker`), [`Access::check`] reads Cargo.lock and the project's
//! `.cargo/config.toml`, and stops before the build when a credential is missing, naming the fix.
//! In the build (`rust-alpine cook`), [`fetch_environment`] turns the secret and the forwarded
//! agent into a cargo configuration for that run (`--config FILE`: the registries' tokens,
//! `net.git-fetch-with-cli`) and git's environment: ssh checks host keys against the config's
//! `net.ssh.known-hosts` (cargo's own setting), never with checking turned off; an HTTPS token
//! is in git's credential store. No credential is in an environment variable.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use anyhow::bail;
use toml_edit::{DocumentMut, Item};

/// The id of the secret, in the Dockerfile's cook step and in `--secret id=...`.
pub const SECRET_ID: &str = "credentials";
/// Where BuildKit mounts it.
pub const SECRET_PATH: &str = "/run/secrets/credentials";
/// The HTTPS git token (any host of a `git+https` source in Cargo.lock), and the user name
/// sent with it (default `x-access-token`, which GitHub and Gitea take; GitLab: `oauth2`).
pub const GIT_TOKEN: &str = "RUST_ALPINE_GIT_TOKEN";
pub const GIT_USER: &str = "RUST_ALPINE_GIT_USER";

/// The project's cargo configurations, as the planner copies them into the recipe.
const CONFIGS: [&str; 2] = [".cargo/config.toml", ".cargo/config"];

/// Whether a git URL is fetched over SSH: `ssh://...`, `git+ssh://...` or the scp-like
/// `user@host:path`.
pub fn is_ssh(url: &str) -> bool {
    let url = url.strip_prefix("git+").unwrap_or(url);
    if url.starts_with("ssh://") {
        return true;
    }
    if url.contains("://") {
        return false;
    }
    // scp-like: `git@host:org/crate.git` (no scheme, a colon before any slash).
    match (url.find(':'), url.find('/')) {
        (Some(colon), slash) => {
            slash.is_none_or(|slash| colon < slash) && url[..colon].contains('@')
        }
        (None, _) => false,
    }
}

/// `url` without a password (`ssh://user:secret@host/...` is `ssh://user:***@host/...`), for
/// a message.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        _ => url.to_owned(),
    }
}

/// `host` (and `port` when not 22) of an SSH URL: `[host]:port` as known_hosts writes it.
pub fn ssh_host(url: &str) -> Option<String> {
    let url = url.strip_prefix("git+").unwrap_or(url);
    let (authority, port) = match url.strip_prefix("ssh://") {
        Some(rest) => {
            let authority = rest.split(['/', '?', '#']).next()?;
            let authority = authority.rsplit('@').next()?;
            match authority.rsplit_once(':') {
                Some((host, port)) if !authority.ends_with(']') => {
                    (host.to_owned(), Some(port.to_owned()))
                }
                _ => (authority.to_owned(), None),
            }
        }
        None => {
            let (authority, _) = url.split_once(':')?;
            (authority.rsplit('@').next()?.to_owned(), None)
        }
    };
    let host = authority.trim_start_matches('[').trim_end_matches(']');
    Some(match port.filter(|port| port != "22") {
        Some(port) => format!("[{host}]:{port}"),
        None => host.to_owned(),
    })
}

/// The `source` of every package of a Cargo.lock, once each, in order.
fn lock_sources(lock: &str) -> anyhow::Result<Vec<String>> {
    let doc = crate::edit::parse(lock, "Cargo.lock")?;
    let mut sources: Vec<String> = Vec::new();
    for package in doc
        .get("package")
        .and_then(Item::as_array_of_tables)
        .into_iter()
        .flatten()
    {
        if let Some(source) = package.get("source").and_then(Item::as_str)
            && !sources.iter().any(|known| known == source)
        {
            sources.push(source.to_owned());
        }
    }
    Ok(sources)
}

/// A git source's URL without the lock's `git+` prefix, query and revision.
fn git_url(source: &str) -> Option<&str> {
    let url = source.strip_prefix("git+")?;
    Some(url.split(['?', '#']).next().unwrap_or(url))
}

/// A registry declared in `.cargo/config.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub name: String,
    /// `sparse+https://...` or a git index URL, as written.
    pub index: String,
    /// Its `credential-provider`, or the config's `registry.global-credential-providers`.
    pub provider: bool,
}

impl Registry {
    /// `CARGO_REGISTRIES_<NAME>_TOKEN`.
    pub fn token_var(&self) -> String {
        format!(
            "CARGO_REGISTRIES_{}_TOKEN",
            self.name.to_uppercase().replace('-', "_")
        )
    }

    /// Whether Cargo.lock's `source` is this registry's.
    fn is_source(&self, source: &str) -> bool {
        let source = source.strip_prefix("registry+").unwrap_or(source);
        source.trim_end_matches('/') == self.index.trim_end_matches('/')
    }
}

/// The registries a `[source.*] replace-with` of the configuration `doc` names: crates.io's
/// crates (Cargo.lock still says crates.io) come from there.
fn replacements(doc: &DocumentMut) -> Vec<String> {
    doc.get("source")
        .and_then(Item::as_table_like)
        .into_iter()
        .flat_map(|table| table.iter())
        .filter_map(|(_, source)| Some(source.get("replace-with")?.as_str()?.to_owned()))
        .collect()
}

/// The registries of the configuration `doc`.
fn registries(doc: &DocumentMut) -> Vec<Registry> {
    let global = doc
        .get("registry")
        .and_then(|registry| registry.get("global-credential-providers"))
        .is_some();
    doc.get("registries")
        .and_then(Item::as_table_like)
        .into_iter()
        .flat_map(|table| table.iter())
        .filter_map(|(name, registry)| {
            Some(Registry {
                name: name.to_owned(),
                index: registry.get("index")?.as_str()?.to_owned(),
                provider: global || registry.get("credential-provider").is_some(),
            })
        })
        .collect()
}

/// The `net.ssh.known-hosts` lines of the configuration `doc`.
fn known_hosts(doc: &DocumentMut) -> Vec<String> {
    doc.get("net")
        .and_then(|net| net.get("ssh"))
        .and_then(|ssh| ssh.get("known-hosts"))
        .and_then(Item::as_array)
        .into_iter()
        .flatten()
        .filter_map(|line| line.as_str().map(str::to_owned))
        .collect()
}

/// Whether a known_hosts line names `host` (`host` or `[host]:port`, a plain pattern list).
fn names_host(line: &str, host: &str) -> bool {
    let mut fields = line.split_whitespace();
    let mut patterns = fields.next().unwrap_or("");
    if patterns.starts_with('@') {
        patterns = fields.next().unwrap_or("");
    }
    // A hashed entry (`|1|...`) cannot be read: taken as naming it, ssh checks it.
    patterns.starts_with('|') || patterns.split(',').any(|pattern| pattern == host)
}

/// The project's (or the recipe's) cargo configurations, parsed.
fn configs(root: &Path) -> anyhow::Result<Vec<(PathBuf, DocumentMut)>> {
    let mut found = Vec::new();
    for name in CONFIGS {
        let path = root.join(name);
        if let Ok(text) = fs::read_to_string(&path) {
            let doc = crate::edit::parse(&text, name)?;
            found.push((path, doc));
        }
    }
    Ok(found)
}

/// What the image build needs to fetch the project's private dependencies.
#[derive(Debug, Default)]
pub struct Access {
    /// Forward the SSH agent (`--ssh default`).
    pub ssh: bool,
    /// The `credentials` secret's lines: tokens, never printed.
    pub settings: Vec<(String, String)>,
    /// What to tell the user (names only: registries, hosts).
    pub notes: Vec<String>,
    /// A private source is on this machine's loopback: only the host's network reaches it.
    pub loopback: bool,
}

/// Whether a URL or host names this machine's loopback.
fn is_loopback(url: &str) -> bool {
    ["localhost", "127.0.0.", "[::1]"]
        .iter()
        .any(|host| url.contains(host))
}

impl Access {
    /// Reads the project at `root` (Cargo.lock, `.cargo/config.toml`), with `var` the
    /// environment and `credentials` cargo's credentials file (`$CARGO_HOME/credentials.toml`).
    /// Fails, with the fix, when a source needs what is not there.
    pub fn check(
        root: &Path,
        var: impl Fn(&str) -> Option<String>,
        credentials: Option<&str>,
    ) -> anyhow::Result<Access> {
        let mut access = Access::default();
        let Ok(lock) = fs::read_to_string(root.join("Cargo.lock")) else {
            return Ok(access);
        };
        let sources = lock_sources(&lock)?;
        let configs = configs(root)?;
        let registries: Vec<Registry> = configs
            .iter()
            .flat_map(|(_, doc)| registries(doc))
            .collect();
        let known: Vec<String> = configs
            .iter()
            .flat_map(|(_, doc)| known_hosts(doc))
            .collect();
        let replacing: Vec<String> = configs
            .iter()
            .flat_map(|(_, doc)| replacements(doc))
            .collect();
        let credentials = credentials
            .map(|text| crate::edit::parse(text, "credentials.toml"))
            .transpose()
            .ok()
            .flatten();

        // git over SSH: the agent, and the hosts' keys.
        let ssh_urls: Vec<&str> = sources
            .iter()
            .filter_map(|source| git_url(source))
            .filter(|url| is_ssh(url))
            .collect();
        if let Some(first) = ssh_urls.first().map(|url| redacted(url)) {
            let socket = var("SSH_AUTH_SOCK").filter(|socket| !socket.is_empty());
            if socket.is_none_or(|socket| !Path::new(&socket).exists()) {
                bail!(
                    "Cargo.lock has dependencies fetched with git over SSH ({first}) and no SSH \
                     agent is running (SSH_AUTH_SOCK is unset or names no socket): the image build \
                     forwards your agent to the step that fetches (`--ssh default`), never a key \
                     file. Start one and add the key: `eval \"$(ssh-agent)\" && ssh-add \
                     ~/.ssh/id_ed25519` (CI: a deploy key in an agent, e.g. \
                     webfactory/ssh-agent)"
                );
            }
            let mut hosts: Vec<String> = ssh_urls.iter().filter_map(|url| ssh_host(url)).collect();
            hosts.dedup();
            let unknown: Vec<&String> = hosts
                .iter()
                .filter(|host| !known.iter().any(|line| names_host(line, host)))
                .collect();
            if let Some(host) = unknown.first() {
                let (name, port) = match host.strip_prefix('[').and_then(|h| h.split_once("]:")) {
                    Some((name, port)) => (name.to_owned(), format!("-p {port} ")),
                    None => (host.to_string(), String::new()),
                };
                bail!(
                    "Cargo.lock has dependencies fetched with git over SSH from {host}, whose host \
                     key the build cannot check: the image build checks host keys against \
                     `net.ssh.known-hosts` in .cargo/config.toml (cargo's own setting), and it \
                     lists none for {host}. Add the key, after checking its fingerprint with the \
                     host's owner:\n  ssh-keyscan {port}{name}   (prints the lines)\n  \
                     [net.ssh]\n  known-hosts = [\"{host} ssh-ed25519 AAAA...\"]"
                );
            }
            access.ssh = true;
            access.loopback |= hosts.iter().any(|host| is_loopback(host));
            access.notes.push(format!(
                "git over SSH ({}): forwarding the SSH agent to the step that fetches (--ssh \
                 default)",
                hosts.join(", ")
            ));
        }

        // Registries: a token for each that Cargo.lock uses.
        for registry in registries.iter().filter(|registry| {
            sources.iter().any(|source| registry.is_source(source))
                || replacing.contains(&registry.name)
        }) {
            let name = &registry.name;
            access.loopback |= is_loopback(&registry.index);
            let var_name = registry.token_var();
            let token = var(&var_name)
                .filter(|token| !token.is_empty())
                .or_else(|| {
                    credentials
                        .as_ref()?
                        .get("registries")?
                        .get(name.as_str())?
                        .get("token")?
                        .as_str()
                        .map(str::to_owned)
                });
            match token {
                Some(token) => {
                    access.settings.push((var_name, token));
                    access.notes.push(format!(
                        "registry {name}: its token goes to the step that fetches (a secret)"
                    ));
                }
                None if registry.provider => bail!(
                    "Cargo.lock has crates from the registry `{name}`, which needs a token \
                     (.cargo/config.toml gives it a credential provider), and none is set: \
                     export {var_name}=<token> (or run `cargo login --registry {name}`); the \
                     image build gets it as a secret, in no layer"
                ),
                None => access.notes.push(format!(
                    "registry {name}: no token ({var_name} is unset): fetched without one"
                )),
            }
        }

        // HTTPS git with a token.
        let https_git = sources
            .iter()
            .filter_map(|source| git_url(source))
            .any(|url| url.starts_with("https://"));
        if let Some(token) = var(GIT_TOKEN).filter(|token| !token.is_empty())
            && https_git
        {
            access.settings.push((GIT_TOKEN.to_owned(), token));
            if let Some(user) = var(GIT_USER).filter(|user| !user.is_empty()) {
                access.settings.push((GIT_USER.to_owned(), user));
            }
            access.notes.push(format!(
                "git over HTTPS: {GIT_TOKEN} goes to the step that fetches (a secret)"
            ));
        }
        Ok(access)
    }

    /// What the engine's `build` gets: the agent (the secret's own flags come with it).
    pub fn build_args(&self) -> Vec<String> {
        match self.ssh {
            true => vec!["--ssh".to_owned(), "default".to_owned()],
            false => Vec::new(),
        }
    }
}

/// `$CARGO_HOME/credentials.toml` (`cargo login`'s), if there is one.
pub fn cargo_credentials() -> Option<String> {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))?;
    fs::read_to_string(home.join("credentials.toml")).ok()
}

// ---- in the image build ----

/// What cargo fetches with in the cook step: a cargo configuration file (`--config`: the
/// registry tokens, git's CLI) and git's environment (ssh with a known_hosts file, a credential
/// store), in a temporary directory only root can read, removed when this is dropped, before
/// the step ends: never in the layer. No credential is in the environment, which build
/// scripts and the compile cache (sccache hashes `CARGO_*` variables) would see.
#[derive(Debug, Default)]
pub struct Fetch {
    /// Arguments for cargo: `--config FILE`.
    pub args: Vec<String>,
    /// git's environment: no credential, only where they are.
    pub vars: Vec<(String, String)>,
    dir: Option<PathBuf>,
    /// Whether git needs its CLI and ssh in the builder.
    pub needs_git: bool,
}

impl Drop for Fetch {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

impl Fetch {
    /// The private directory, created on first use.
    fn dir(&mut self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        use std::os::unix::fs::DirBuilderExt;
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = env::temp_dir().join(format!("rust-alpine-fetch-{}-{count}", std::process::id()));
        fs::DirBuilder::new().mode(0o700).create(&dir)?;
        self.dir = Some(dir.clone());
        Ok(dir)
    }

    fn write(&mut self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir()?.join(name);
        fs::write(&path, text)?;
        Ok(path)
    }
}

/// In the cook step, working in the recipe's skeleton `dir`: what lets cargo fetch the private
/// sources of its Cargo.lock, from `settings` (the secret's lines) and `ssh_socket` (the
/// forwarded agent, `SSH_AUTH_SOCK`).
pub fn fetch_environment(
    dir: &Path,
    settings: &[(String, String)],
    ssh_socket: Option<&str>,
) -> anyhow::Result<Fetch> {
    let mut fetch = Fetch::default();
    let lock = fs::read_to_string(dir.join("Cargo.lock")).unwrap_or_default();
    let sources = lock_sources(&lock)?;
    let configs = configs(dir)?;
    let registries: Vec<Registry> = configs
        .iter()
        .flat_map(|(_, doc)| registries(doc))
        .collect();
    let setting = |name: &str| {
        settings
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    // cargo's configuration for this run: the tokens, written as TOML (escaped as it must be).
    let mut config = DocumentMut::new();
    for registry in &registries {
        if let Some(token) = setting(&registry.token_var()) {
            config["registries"][registry.name.as_str()]["token"] = toml_edit::value(token);
        }
    }
    if let Some(table) = config.get_mut("registries").and_then(Item::as_table_mut) {
        table.set_implicit(true);
    }
    let urls: Vec<&str> = sources
        .iter()
        .filter_map(|source| git_url(source))
        .collect();
    let mut git_config: Vec<(&str, String)> = Vec::new();
    if let Some(first) = urls.iter().find(|url| is_ssh(url)).map(|url| redacted(url)) {
        if ssh_socket.is_none_or(|socket| !Path::new(socket).exists()) {
            bail!(
                "Cargo.lock has dependencies fetched with git over SSH ({first}) and this build \
                 has no SSH agent: build with `--ssh default` (docker build; an agent running, \
                 its key added), which `cargo xtask docker` passes by itself"
            );
        }
        let known: Vec<String> = configs
            .iter()
            .flat_map(|(_, doc)| known_hosts(doc))
            .collect();
        if known.is_empty() {
            bail!(
                "Cargo.lock has dependencies fetched with git over SSH ({first}) and \
                 .cargo/config.toml lists no host key (`[net.ssh] known-hosts = [...]`): add \
                 the lines `ssh-keyscan HOST` prints (host-key checking stays on)"
            );
        }
        let file = fetch.write("known_hosts", &(known.join("\n") + "\n"))?;
        fetch.vars.push((
            "GIT_SSH_COMMAND".to_owned(),
            format!(
                "ssh -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null \
                 -o StrictHostKeyChecking=yes -o BatchMode=yes",
                file.display()
            ),
        ));
        fetch.needs_git = true;
    }
    if let Some(token) = setting(GIT_TOKEN) {
        let user = setting(GIT_USER).unwrap_or_else(|| "x-access-token".to_owned());
        // git's own store: `https://user:token@host` lines, one per host of an HTTPS source.
        let mut lines: Vec<String> = urls
            .iter()
            .filter_map(|url| url.strip_prefix("https://"))
            .filter_map(|rest| rest.split('/').next())
            .map(|host| host.rsplit('@').next().unwrap_or(host))
            .map(|host| format!("https://{}:{}@{host}", encode(&user), encode(&token)))
            .collect();
        lines.dedup();
        if !lines.is_empty() {
            let file = fetch.write("git-credentials", &(lines.join("\n") + "\n"))?;
            git_config.push((
                "credential.helper",
                format!("store --file={}", file.display()),
            ));
            fetch.needs_git = true;
        }
    }
    for (n, (key, value)) in git_config.iter().enumerate() {
        fetch
            .vars
            .push((format!("GIT_CONFIG_KEY_{n}"), (*key).to_owned()));
        fetch
            .vars
            .push((format!("GIT_CONFIG_VALUE_{n}"), value.clone()));
    }
    if !git_config.is_empty() {
        fetch
            .vars
            .push(("GIT_CONFIG_COUNT".to_owned(), git_config.len().to_string()));
    }
    if fetch.needs_git {
        // cargo's git CLI: the agent, known_hosts and credential helpers work as with git.
        config["net"]["git-fetch-with-cli"] = toml_edit::value(true);
    }
    if !config.is_empty() {
        let file = fetch.write("cargo-config.toml", &config.to_string())?;
        fetch.args = vec!["--config".to_owned(), file.display().to_string()];
    }
    Ok(fetch)
}

/// `text` percent-encoded for the user or password of a URL (git's credential store).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_urls_and_their_hosts() {
        for (url, ssh, host) in [
            (
                "ssh://git@github.com/org/crate.git",
                true,
                Some("github.com"),
            ),
            (
                "git+ssh://git@127.0.0.1:2222/srv/crate.git",
                true,
                Some("[127.0.0.1]:2222"),
            ),
            ("ssh://git@host:22/crate.git", true, Some("host")),
            ("git@gitlab.com:org/crate.git", true, Some("gitlab.com")),
            ("https://github.com/org/crate.git", false, None),
            ("git+https://user@host/x:y", false, None),
            ("/local/path:x", false, None),
        ] {
            assert_eq!(is_ssh(url), ssh, "{url}");
            if ssh {
                assert_eq!(ssh_host(url).as_deref(), host, "{url}");
            }
        }
    }

    const LOCK: &str = r#"version = 4

[[package]]
name = "app"
version = "0.1.0"

[[package]]
name = "secret-crate"
version = "0.1.0"
source = "git+ssh://git@127.0.0.1:2222/srv/secret-crate.git?branch=main#0123456789abcdef"

[[package]]
name = "private-dep"
version = "1.0.0"
source = "sparse+http://127.0.0.1:8080/index/"
checksum = "00"

[[package]]
name = "serde"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;

    const CONFIG: &str = r#"[registries.my-private]
index = "sparse+http://127.0.0.1:8080/index/"
credential-provider = "cargo:token"

[registries.unused]
index = "sparse+https://unused.example/"
credential-provider = "cargo:token"

[net.ssh]
known-hosts = ["[127.0.0.1]:2222 ssh-ed25519 AAAAC3Nza"]
"#;

    fn project(lock: &str, config: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("Cargo.lock"), lock).unwrap();
        if let Some(config) = config {
            fs::create_dir_all(dir.path().join(".cargo")).unwrap();
            fs::write(dir.path().join(".cargo/config.toml"), config).unwrap();
        }
        dir
    }

    #[test]
    fn a_project_with_both_gets_the_agent_and_the_token() {
        let dir = project(LOCK, Some(CONFIG));
        let socket = dir.path().join("agent.sock");
        fs::write(&socket, "").unwrap();
        let socket = socket.display().to_string();
        let var = |name: &str| match name {
            "SSH_AUTH_SOCK" => Some(socket.clone()),
            "CARGO_REGISTRIES_MY_PRIVATE_TOKEN" => Some("tok3n".to_owned()),
            _ => None,
        };
        let access = Access::check(dir.path(), var, None).unwrap();
        assert!(access.ssh);
        assert_eq!(
            access.settings,
            [(
                "CARGO_REGISTRIES_MY_PRIVATE_TOKEN".to_owned(),
                "tok3n".to_owned()
            )]
        );
        assert_eq!(access.build_args(), ["--ssh", "default"]);
        assert!(access.loopback);
        let notes = access.notes.join("\n");
        assert!(
            !notes.contains("tok3n") && !notes.contains(&socket),
            "{notes}"
        );
        assert!(
            notes.contains("[127.0.0.1]:2222") && notes.contains("my-private"),
            "{notes}"
        );
    }

    #[test]
    fn a_missing_credential_stops_the_build_with_the_fix() {
        let dir = project(LOCK, Some(CONFIG));
        let error = Access::check(dir.path(), |_| None, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("no SSH agent"), "{error}");
        assert!(error.contains("ssh-add"), "{error}");

        let socket = dir.path().join("agent.sock");
        fs::write(&socket, "").unwrap();
        let socket = socket.display().to_string();
        let agent = |name: &str| (name == "SSH_AUTH_SOCK").then(|| socket.clone());
        let error = Access::check(dir.path(), agent, None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("export CARGO_REGISTRIES_MY_PRIVATE_TOKEN=<token>"),
            "{error}"
        );
        // `cargo login`'s file is read too.
        let credentials = "[registries.my-private]\ntoken = \"from-login\"\n";
        let access = Access::check(dir.path(), agent, Some(credentials)).unwrap();
        assert_eq!(access.settings[0].1, "from-login");

        // Without the host's key, no build: host-key checking is never turned off.
        let config = CONFIG.replace("[127.0.0.1]:2222", "other.example");
        let dir = project(LOCK, Some(&config));
        let error = Access::check(dir.path(), agent, Some(credentials))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ssh-keyscan -p 2222 127.0.0.1"), "{error}");
        assert!(error.contains("known-hosts"), "{error}");
    }

    #[test]
    fn passwords_in_urls_are_never_shown() {
        assert_eq!(
            redacted("ssh://git:hunter2@host:22/org/x.git"),
            "ssh://git:***@host:22/org/x.git"
        );
        assert_eq!(redacted("ssh://git@host/x.git"), "ssh://git@host/x.git");
        assert_eq!(redacted("git@host:org/x.git"), "git@host:org/x.git");
    }

    #[test]
    fn a_mirror_that_replaces_crates_io_gets_its_token() {
        let lock = "version = 4\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.0\"\n\
                    source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        let config = "[source.crates-io]\nreplace-with = \"mirror\"\n\n\
                      [registries.mirror]\nindex = \"sparse+https://mirror.example/\"\n";
        let dir = project(lock, Some(config));
        let var = |name: &str| (name == "CARGO_REGISTRIES_MIRROR_TOKEN").then(|| "m".to_owned());
        let access = Access::check(dir.path(), var, None).unwrap();
        assert_eq!(
            access.settings,
            [("CARGO_REGISTRIES_MIRROR_TOKEN".to_owned(), "m".to_owned())]
        );
    }

    #[test]
    fn a_public_project_needs_nothing() {
        let lock = "version = 4\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.0\"\n\
                    source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        let dir = project(lock, None);
        let access = Access::check(dir.path(), |_| Some("x".into()), None).unwrap();
        assert!(!access.ssh && access.settings.is_empty() && access.notes.is_empty());
        assert!(access.build_args().is_empty() && !access.loopback);
    }

    #[test]
    fn the_cook_step_fetches_with_the_git_cli_and_checked_host_keys() {
        let dir = project(LOCK, Some(CONFIG));
        let settings = vec![
            (
                "CARGO_REGISTRIES_MY_PRIVATE_TOKEN".to_owned(),
                "tok\"3n".to_owned(),
            ),
            ("OTHER".to_owned(), "ignored".to_owned()),
        ];
        let error = fetch_environment(dir.path(), &settings, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("--ssh default"), "{error}");
        let socket = dir.path().join("agent.sock");
        fs::write(&socket, "").unwrap();
        let fetch = fetch_environment(dir.path(), &settings, socket.to_str()).unwrap();
        // No credential in the environment (build scripts and sccache see it).
        for (name, value) in &fetch.vars {
            assert!(
                !value.contains("3n") && !name.starts_with("CARGO_"),
                "{name}={value}"
            );
        }
        let get = |name: &str| {
            fetch
                .vars
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let ssh = get("GIT_SSH_COMMAND").unwrap();
        assert!(ssh.contains("StrictHostKeyChecking=yes"), "{ssh}");
        let known = ssh.split("UserKnownHostsFile=").nth(1).unwrap();
        let known = PathBuf::from(known.split_whitespace().next().unwrap());
        assert_eq!(
            fs::read_to_string(&known).unwrap(),
            "[127.0.0.1]:2222 ssh-ed25519 AAAAC3Nza\n"
        );
        // The tokens and the git CLI, in cargo's configuration for this run.
        assert_eq!(fetch.args[0], "--config");
        let config = PathBuf::from(&fetch.args[1]);
        let text = fs::read_to_string(&config).unwrap();
        let doc = crate::edit::parse(&text, "config").unwrap();
        assert_eq!(
            doc["registries"]["my-private"]["token"].as_str(),
            Some("tok\"3n")
        );
        assert_eq!(doc["net"]["git-fetch-with-cli"].as_bool(), Some(true));
        assert!(doc.get("OTHER").is_none());
        {
            use std::os::unix::fs::PermissionsExt;
            let dir = config.parent().unwrap();
            assert_eq!(
                fs::metadata(dir).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
        drop(fetch);
        assert!(
            !known.exists() && !config.exists(),
            "the files outlive the step"
        );
    }

    #[test]
    fn https_git_gets_a_credential_store_not_a_url_with_the_token() {
        let lock = "version = 4\n\n[[package]]\nname = \"x\"\nversion = \"0.1.0\"\n\
                    source = \"git+https://git.example/org/x.git#abc\"\n";
        let dir = project(lock, None);
        let var = |name: &str| (name == GIT_TOKEN).then(|| "t0k/+".to_owned());
        let access = Access::check(dir.path(), var, None).unwrap();
        assert_eq!(
            access.settings,
            [(GIT_TOKEN.to_owned(), "t0k/+".to_owned())]
        );
        let fetch = fetch_environment(dir.path(), &access.settings, None).unwrap();
        let vars: Vec<String> = fetch
            .vars
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        assert!(vars.contains(&"GIT_CONFIG_COUNT=1".to_owned()), "{vars:?}");
        assert!(vars.contains(&"GIT_CONFIG_KEY_0=credential.helper".to_owned()));
        assert!(vars.iter().all(|var| !var.contains("t0k")), "{vars:?}");
        let store = vars
            .iter()
            .find_map(|var| var.strip_prefix("GIT_CONFIG_VALUE_0=store --file="))
            .unwrap();
        assert_eq!(
            fs::read_to_string(store).unwrap(),
            "https://x-access-token:t0k%2F%2B@git.example\n"
        );
        let config = fs::read_to_string(&fetch.args[1]).unwrap();
        assert!(config.contains("git-fetch-with-cli = true"), "{config}");
    }
}
