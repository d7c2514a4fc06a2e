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

    /// The platform of the CPU this xtask runs on.
    pub fn host() -> Option<Platform> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Platform::Amd64),
            "aarch64" => Some(Platform::Arm64),
            _ => None,
        }
    }

    /// Containers of this platform run under emulation (qemu-user through binfmt_misc) on an
    /// engine whose server is `engine_arch` (`version`'s `OS/Arch`; a remote engine's may not
    /// be this machine's); when the engine does not say, this machine's is assumed.
    pub fn emulated(self, engine_arch: Option<&str>) -> bool {
        let engine = engine_arch.and_then(|arch| Platform::parse(arch).ok());
        engine.or_else(Platform::host) != Some(self)
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

    #[test]
    fn emulation_is_judged_by_the_engine_server() {
        for (platform, engine, emulated) in [
            (Platform::Arm64, Some("arm64"), false),
            (Platform::Amd64, Some("arm64"), true),
            (Platform::Arm64, Some("amd64"), true),
            (Platform::Amd64, Some("amd64"), false),
        ] {
            assert_eq!(
                platform.emulated(engine),
                emulated,
                "{platform:?} on {engine:?}"
            );
        }
        // Unknown: this machine's platform.
        if let Some(host) = Platform::host() {
            assert!(!host.emulated(None));
            assert!(!host.emulated(Some("s390x")));
        }
    }
}
