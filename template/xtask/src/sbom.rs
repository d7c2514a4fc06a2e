//! The dependency list cargo-auditable embeds in a binary (the `.dep-v0` ELF section: zlib
//! compressed JSON). Scanners (syft, trivy, `cargo audit bin`) read it; without it a FROM
//! scratch image shows them no packages at all.

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::elf;

/// The section cargo-auditable writes.
pub const SECTION: &str = ".dep-v0";
/// The decompressed list is small (about 100 bytes a crate); refuse anything absurd.
const LIMIT: usize = 8 << 20;

#[derive(Debug, Deserialize)]
pub struct Sbom {
    pub packages: Vec<Package>,
}

/// One crate (cargo-auditable also records its name, version and dependencies).
#[derive(Debug, Deserialize)]
pub struct Package {
    /// "crates.io", "local", "git", "registry" or "other".
    pub source: String,
}

/// The embedded list, or `None` when the binary has none.
pub fn read(binary: &[u8]) -> anyhow::Result<Option<Sbom>> {
    let Some(compressed) = elf::section(binary, SECTION)? else {
        return Ok(None);
    };
    parse(compressed).map(Some)
}

fn parse(compressed: &[u8]) -> anyhow::Result<Sbom> {
    let json = match miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(compressed, LIMIT) {
        Ok(json) => json,
        Err(error) => bail!("the {SECTION} section is not zlib data: {error:?}"),
    };
    serde_json::from_slice(&json).with_context(|| format!("reading the {SECTION} JSON"))
}

/// The smoke step's verdict: how many crates the binary declares, or what to do.
pub fn check(binary: &[u8]) -> anyhow::Result<(usize, String)> {
    let Some(sbom) = read(binary)? else {
        bail!(
            "the binary carries no dependency list ({SECTION}), so image scanners see none of \
             its crates: build it with `cargo auditable build` (cargo install cargo-auditable)"
        );
    };
    let count = sbom.packages.len();
    let registry = sbom
        .packages
        .iter()
        .filter(|package| package.source == "crates.io")
        .count();
    Ok((
        count,
        format!("{count} crates ({registry} from crates.io), {SECTION}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"packages":[
        {"name":"demo","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},
        {"name":"anyhow","version":"1.0.105","source":"crates.io"},
        {"name":"cc","version":"1.2.0","source":"crates.io","kind":"build"}
    ]}"#;

    #[test]
    fn the_embedded_list_is_decompressed_and_counted() {
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(JSON.as_bytes(), 6);
        let sbom = parse(&compressed).unwrap();
        let sources: Vec<&str> = sbom.packages.iter().map(|p| p.source.as_str()).collect();
        assert_eq!(sources, ["local", "crates.io", "crates.io"]);
    }

    #[test]
    fn what_is_not_an_embedded_list_is_refused() {
        let error = parse(JSON.as_bytes()).unwrap_err().to_string();
        assert!(error.contains("not zlib data"), "{error}");
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(b"[1, 2]", 6);
        assert!(parse(&compressed).is_err());
    }

    #[test]
    fn a_binary_without_the_section_says_how_to_add_it() {
        // An ELF header with no section headers at all.
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = 1;
        let error = check(&bytes).unwrap_err().to_string();
        assert!(error.contains("cargo auditable build"), "{error}");
    }
}
