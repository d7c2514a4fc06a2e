//! The command: fetch a URL over HTTP(S) and report its status and size.

use std::fmt;

use anyhow::Context;

#[derive(Debug)]
pub struct Fetched {
    pub status: reqwest::StatusCode,
    pub bytes: usize,
}

/// GETs `url` and reads the whole body.
pub async fn fetch(url: &str) -> anyhow::Result<Fetched> {
    let response = reqwest::get(url)
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .with_context(|| format!("reading the body of {url}"))?;
    Ok(Fetched {
        status,
        bytes: body.len(),
    })
}

impl fmt::Display for Fetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {} bytes", self.status, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_status_and_size() {
        let fetched = Fetched {
            status: reqwest::StatusCode::NOT_FOUND,
            bytes: 9,
        };
        assert_eq!(fetched.to_string(), "404 Not Found, 9 bytes");
    }
}
