//! `cargo xtask registry`: rust-alpine as a user's cargo gets it, before it is released. The
//! crate is packaged (`cargo package`, from a copy of the checkout without `.git`, so the
//! archive and its checksum depend on the files alone) and served from a sparse registry on
//! this machine's loopback that stands in for crates.io: this crate's versions from the
//! package, every other crate redirected to crates.io. A project's cargo uses it through
//! source replacement, from a cargo config file in a directory above the project
//! ([`Registry::cargo_config`]), so its locks keep saying crates.io and the checksum they pin is
//! the package's; the same file hands `RUST_ALPINE_INDEX` to `cargo xtask`, which passes it to
//! the image build (on the host's network). The tests render and build every project this way:
//! a file missing from the package fails them.

use std::{
    collections::BTreeMap,
    fs,
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The crate the registry serves from the checkout.
pub const CRATE: &str = "rust-alpine";
/// The name cargo knows the registry by (`CARGO_REGISTRIES_<NAME>_INDEX`).
pub const NAME: &str = "rust-alpine-dev";
const CRATES_IO_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

/// A packaged version of the crate.
#[derive(Clone)]
pub struct Package {
    pub version: String,
    /// The `.crate` archive, as `cargo package` wrote it.
    pub archive: PathBuf,
    /// Its SHA-256, hex: what a Cargo.lock pins.
    pub checksum: String,
    /// Its line in the sparse index.
    entry: String,
}

/// Packages the crate from the checkout `repo` into `work` (a copy of the checkout without
/// `.git` and `target`, then `cargo package`).
pub fn package(repo: &Path, work: &Path) -> anyhow::Result<Package> {
    let copy = work.join("checkout");
    if copy.exists() {
        fs::remove_dir_all(&copy).with_context(|| format!("removing {}", copy.display()))?;
    }
    copy_tree(repo, &copy)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let target = work.join("target");
    let output = Command::new(&cargo)
        .args([
            "package",
            "--quiet",
            "--no-verify",
            "--allow-dirty",
            "--package",
            CRATE,
        ])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(&copy)
        .output()
        .context("running cargo package")?;
    if !output.status.success() {
        bail!(
            "`cargo package --package {CRATE}` failed in a copy of the checkout; fix what it says \
             (a file the crate needs is missing from `include` in xtask/rust-alpine/Cargo.toml?):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata = Command::new(&cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(copy.join("xtask/rust-alpine/Cargo.toml"))
        .output()
        .context("running cargo metadata")?;
    if !metadata.status.success() {
        bail!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&metadata.stderr)
        );
    }
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout)?;
    let ours = metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|package| package["name"] == CRATE))
        .context("cargo metadata lists no rust-alpine package")?;
    let version = ours["version"].as_str().context("no version")?.to_owned();
    let archive = target.join(format!("package/{CRATE}-{version}.crate"));
    let bytes = fs::read(&archive).with_context(|| format!("reading {}", archive.display()))?;
    let checksum = format!("{:x}", Sha256::digest(&bytes));
    let entry = index_entry(ours, &checksum)?;
    Ok(Package {
        version,
        archive,
        checksum,
        entry,
    })
}

/// The package's line in a sparse index, from `cargo metadata`'s view of its manifest. Its
/// dependencies come from crates.io (`registry`), which the registry stands in for.
fn index_entry(package: &serde_json::Value, checksum: &str) -> anyhow::Result<String> {
    let deps = package["dependencies"]
        .as_array()
        .context("no dependencies in cargo metadata")?
        .iter()
        .map(|dep| {
            let (name, real) = match dep["rename"].as_str() {
                Some(rename) => (rename.to_owned(), dep["name"].clone()),
                None => (
                    dep["name"].as_str().unwrap_or_default().to_owned(),
                    serde_json::Value::Null,
                ),
            };
            serde_json::json!({
                "name": name,
                "package": real,
                "req": dep["req"],
                "features": dep["features"],
                "optional": dep["optional"],
                "default_features": dep["uses_default_features"],
                "target": dep["target"],
                "kind": dep["kind"].as_str().unwrap_or("normal"),
                "registry": dep["registry"].as_str().unwrap_or(CRATES_IO_INDEX),
            })
        })
        .collect::<Vec<_>>();
    let features = package["features"].clone();
    // Features naming `dep:x` or `x?/f` need the index's second format.
    let new_syntax = features.as_object().is_some_and(|features| {
        features
            .values()
            .flat_map(|values| values.as_array().into_iter().flatten())
            .any(|value| {
                value
                    .as_str()
                    .is_some_and(|value| value.starts_with("dep:") || value.contains("?/"))
            })
    });
    let mut entry = serde_json::json!({
        "name": CRATE,
        "vers": package["version"],
        "deps": deps,
        "cksum": checksum,
        "features": if new_syntax { serde_json::json!({}) } else { features.clone() },
        "yanked": false,
        "links": package["links"],
        "rust_version": package["rust_version"],
        "v": if new_syntax { 2 } else { 1 },
    });
    if new_syntax {
        entry["features2"] = features;
    }
    Ok(serde_json::to_string(&entry)?)
}

/// A registry serving `packages` on 127.0.0.1 until the process ends.
pub struct Registry {
    pub port: u16,
    pub packages: Vec<Package>,
    /// Part of the index URL that changes with the packages' contents, so that cargo and the
    /// image build never reuse a download or a build of an earlier package of the same version.
    key: String,
}

impl Registry {
    /// Serves `packages` on 127.0.0.1:`port` (0: any free port) from a background thread.
    pub fn serve(packages: Vec<Package>, port: u16) -> anyhow::Result<Registry> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .or_else(|_| TcpListener::bind(("127.0.0.1", 0)))
            .context("binding a port on 127.0.0.1")?;
        let port = listener.local_addr()?.port();
        let mut hasher = Sha256::new();
        for package in &packages {
            hasher.update(package.checksum.as_bytes());
        }
        let key = format!("{:x}", hasher.finalize())[..12].to_owned();
        let mut files = BTreeMap::new();
        let mut lines = String::new();
        for package in &packages {
            lines.push_str(&package.entry);
            lines.push('\n');
            let bytes = fs::read(&package.archive)
                .with_context(|| format!("reading {}", package.archive.display()))?;
            files.insert(format!("dl/{CRATE}/{}", package.version), bytes);
        }
        files.insert(format!("index/{}", index_path(CRATE)), lines.into_bytes());
        files.insert(
            "index/config.json".to_owned(),
            serde_json::to_vec(&serde_json::json!({
                "dl": format!("http://127.0.0.1:{port}/{key}/dl/{{crate}}/{{version}}"),
                "api": null,
            }))?,
        );
        let files = Arc::new(files);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let files = Arc::clone(&files);
                std::thread::spawn(move || {
                    let _ = respond(stream, &files);
                });
            }
        });
        Ok(Registry {
            port,
            packages,
            key,
        })
    }

    /// The index URL, as cargo takes it (`sparse+http://127.0.0.1:PORT/KEY/index/`).
    pub fn index(&self) -> String {
        format!("sparse+http://127.0.0.1:{}/{}/index/", self.port, self.key)
    }

    /// A cargo config that makes cargo take crates.io's crates from this registry (source
    /// replacement: locks still say crates.io) and sets `RUST_ALPINE_INDEX` for what
    /// `cargo run` starts (`cargo xtask docker` passes it to the image build). Cargo reads it as
    /// `.cargo/config.toml` in any directory above the project, or from `cargo --config FILE`.
    /// (Environment variables cannot do it: cargo ignores `[source]` settings from them.)
    pub fn cargo_config(&self) -> String {
        let index = self.index();
        format!(
            "# rust-alpine as packaged from a checkout (`cargo xtask registry`), for projects below this\n\
             # directory; every other crate comes from crates.io through it.\n\
             [source.crates-io]\nreplace-with = \"{NAME}\"\n\n\
             [source.{NAME}]\nregistry = \"{index}\"\n\n\
             [env]\nRUST_ALPINE_INDEX = \"{index}\"\n"
        )
    }

    /// Writes [`Registry::cargo_config`] as `dir/.cargo/config.toml`: projects below `dir` take
    /// rust-alpine from this registry.
    pub fn configure(&self, dir: &Path) -> anyhow::Result<()> {
        let config = dir.join(".cargo/config.toml");
        fs::create_dir_all(dir.join(".cargo"))?;
        fs::write(&config, self.cargo_config())
            .with_context(|| format!("writing {}", config.display()))
    }
}

/// Where a crate's file sits in an index: `1/a`, `2/ab`, `3/a/abc`, `ru/st/rust-alpine`.
fn index_path(name: &str) -> String {
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// Answers one request: a file of ours, else a redirect to crates.io (index or download), else
/// 404.
fn respond(stream: TcpStream, files: &BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    // /KEY/index/... or /KEY/dl/...: the key only keeps caches apart.
    let path = path.trim_start_matches('/');
    let path = path.split_once('/').map_or(path, |(_, rest)| rest);
    let mut stream = stream;
    if let Some(body) = files.get(path) {
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        stream.write_all(body)?;
        return stream.flush();
    }
    let location = if let Some(rest) = path.strip_prefix("index/") {
        Some(format!("https://index.crates.io/{rest}"))
    } else if let Some(rest) = path.strip_prefix("dl/") {
        rest.split_once('/').map(|(name, version)| {
            format!("https://static.crates.io/crates/{name}/{name}-{version}.crate")
        })
    } else {
        None
    };
    match location {
        Some(location) => write!(
            stream,
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?,
        None => write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?,
    }
    stream.flush()
}

/// Copies the checkout, leaving out `.git` and every `target` directory.
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".git" || name == "target" {
            continue;
        }
        let kind = entry.file_type()?;
        let destination = to.join(&name);
        if kind.is_dir() {
            copy_tree(&entry.path(), &destination)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &destination)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_follow_cargo() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("rust-alpine"), "ru/st/rust-alpine");
    }
}
