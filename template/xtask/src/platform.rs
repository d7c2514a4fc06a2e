//! `--platform linux/amd64,linux/arm64`: the image platforms this project builds, how the
//! engine names them, and whether this host runs them natively.

use anyhow::bail;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Amd64,
    Arm64,
}

impl Platform {
    /// One platform as the engine spells it; `linux/arm64/v8` is the same image as `linux/arm64`.
    pub fn parse(text: &str) -> anyhow::Result<Platform> {
        match text.trim() {
            "linux/amd64" | "amd64" => Ok(Platform::Amd64),
            "linux/arm64" | "linux/arm64/v8" | "arm64" => Ok(Platform::Arm64),
            other => bail!(
                "unsupported platform {other:?}: this project builds linux/amd64 and linux/arm64"
            ),
        }
    }

    /// A comma-separated list, each platform once, in the order given.
    pub fn parse_list(text: &str) -> anyhow::Result<Vec<Platform>> {
        let mut platforms = Vec::new();
        for item in text.split(',').filter(|item| !item.trim().is_empty()) {
            let platform = Platform::parse(item)?;
            if !platforms.contains(&platform) {
                platforms.push(platform);
            }
        }
        if platforms.is_empty() {
            bail!("--platform needs at least one platform, e.g. linux/arm64");
        }
        Ok(platforms)
    }

    /// `GOARCH`, as `docker image inspect` reports it in `Architecture`.
    pub fn arch(self) -> &'static str {
        match self {
            Platform::Amd64 => "amd64",
            Platform::Arm64 => "arm64",
        }
    }

    pub fn name(self) -> String {
        format!("linux/{}", self.arch())
    }

    /// The platform of the CPU this xtask runs on (and, unless DOCKER_HOST points elsewhere,
    /// the engine's).
    pub fn host() -> Option<Platform> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Platform::Amd64),
            "aarch64" => Some(Platform::Arm64),
            _ => None,
        }
    }

    /// Containers of this platform run under emulation here (qemu-user through binfmt_misc).
    pub fn emulated(self) -> bool {
        Platform::host() != Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_in_order_without_duplicates() {
        assert_eq!(
            Platform::parse_list("linux/arm64, linux/amd64,linux/arm64/v8").unwrap(),
            [Platform::Arm64, Platform::Amd64]
        );
        assert_eq!(Platform::Arm64.name(), "linux/arm64");
    }

    #[test]
    fn refuses_platforms_it_cannot_build() {
        let error = Platform::parse_list("linux/riscv64")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "unsupported platform \"linux/riscv64\": this project builds linux/amd64 and linux/arm64"
        );
        assert!(Platform::parse_list(",").is_err());
    }
}
