//! The HTTP service: its routes, and a server that stops gracefully on SIGTERM or Ctrl-C.

use std::{future::Future, time::Duration};

use anyhow::Context;
use axum::{Router, routing::get};
use tokio::net::TcpListener;

/// The port used when `$PORT` is not set.
pub const DEFAULT_PORT: u16 = {{port}};

/// Add your routes here.
pub fn app() -> Router {
    Router::new().route("/health", get(health))
}

async fn health() -> &'static str {
    "ok"
}

/// Serves `app()` until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app())
        .with_graceful_shutdown(shutdown)
        .await
}

/// `$PORT`, or `DEFAULT_PORT` when it is not set.
pub fn port_from_env() -> anyhow::Result<u16> {
    parse_port(std::env::var("PORT").ok().as_deref())
}

fn parse_port(value: Option<&str>) -> anyhow::Result<u16> {
    match value {
        None => Ok(DEFAULT_PORT),
        Some(text) => text
            .parse()
            .with_context(|| format!("PORT={text:?} is not a port number (0 to 65535)")),
    }
}

/// Resolves on SIGTERM (`docker stop`) or SIGINT (Ctrl-C). As PID 1 in a container the
/// process gets no default handler for these, so without this `docker stop` waits 10 s and
/// kills it.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("cannot listen for Ctrl-C: {error}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                eprintln!("cannot listen for SIGTERM: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Probes this service's own `/health`: the image has no curl, so its HEALTHCHECK runs this.
pub async fn healthcheck(port: u16) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/health");
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_defaults_and_parses() {
        assert_eq!(parse_port(None).unwrap(), DEFAULT_PORT);
        assert_eq!(parse_port(Some("0")).unwrap(), 0);
        assert_eq!(parse_port(Some("65535")).unwrap(), 65535);
    }

    #[test]
    fn bad_port_names_the_variable_and_the_rule() {
        let error = parse_port(Some("http")).unwrap_err().to_string();
        assert_eq!(error, r#"PORT="http" is not a port number (0 to 65535)"#);
        assert!(parse_port(Some("65536")).is_err());
    }
}
