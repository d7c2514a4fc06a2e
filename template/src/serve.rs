//! The HTTP service: its routes, and a server that bounds what a client can hold (header and
//! request timeouts, a connection limit) and stops within a deadline on SIGTERM or Ctrl-C.

use std::{future::Future, pin::pin, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use axum::{Router, http::StatusCode, routing::get};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinSet};
use tower_http::timeout::TimeoutLayer;

/// The port used when `$PORT` is not set.
pub const DEFAULT_PORT: u16 = {{port}};

/// Add your routes here.
pub fn app() -> Router {
    Router::new().route("/health", get(health))
}

async fn health() -> &'static str {
    "ok"
}

/// What one client may hold, and how long a stop may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A client must send a request's whole head within this, and an idle keep-alive connection
    /// is closed after it: a client that sends half a request (slowloris) cannot hold a
    /// connection longer.
    pub header_read: Duration,
    /// A handler (reading the body included) must answer within this, else 408.
    pub request: Duration,
    /// Connections served at once; more wait in the kernel's accept queue (back-pressure).
    pub connections: usize,
    /// After the stop signal, requests in flight get this long to finish, then every
    /// connection still open is closed. `docker stop` waits 10 s before it kills: stay well
    /// inside that, and inside the orchestrator's own grace period.
    pub shutdown: Duration,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        header_read: Duration::from_secs(10),
        request: Duration::from_secs(10),
        connections: 1024,
        shutdown: Duration::from_secs(1),
    };
}

/// Serves `app()` with `Limits::DEFAULT` until `shutdown` completes; see [`serve_with`].
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app(), Limits::DEFAULT, shutdown).await
}

/// Serves `app` over HTTP/1.1 until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish within `limits.shutdown` and closes whatever is still open.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request,
    ));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let permits = Arc::new(Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        // Forget the connections that finished (a JoinSet keeps their results until asked).
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, or a connection reset before it was accepted:
                // keep serving the others.
                Err(error) => {
                    eprintln!("accepting a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        // Plain HTTP/1.1 connections: hyper's graceful shutdown does not cover upgraded ones.
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown, graceful.shutdown())
        .await
        .is_err()
    {
        while connections.try_join_next().is_some() {}
        eprintln!(
            "closing {} connection(s) still open {} ms after the stop signal",
            connections.len(),
            limits.shutdown.as_millis()
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// `$PORT`, or `DEFAULT_PORT` when it is not set.
pub fn port_from_env() -> anyhow::Result<u16> {
    parse_port(std::env::var("PORT").ok().as_deref())
}

fn parse_port(value: Option<&str>) -> anyhow::Result<u16> {
    let Some(text) = value else {
        return Ok(DEFAULT_PORT);
    };
    let port = text.parse().ok().filter(|port| *port != 0);
    match port {
        Some(port) => Ok(port),
        // Port 0 would bind a random port that neither the HEALTHCHECK nor EXPOSE knows.
        None => bail!("PORT={text:?} is not a port number from 1 to 65535"),
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
        assert_eq!(parse_port(Some("1")).unwrap(), 1);
        assert_eq!(parse_port(Some("65535")).unwrap(), 65535);
    }

    #[test]
    fn bad_port_names_the_variable_and_the_rule() {
        let error = parse_port(Some("http")).unwrap_err().to_string();
        assert_eq!(error, r#"PORT="http" is not a port number from 1 to 65535"#);
        assert!(parse_port(Some("65536")).is_err());
        // Port 0 binds a random port that the HEALTHCHECK cannot find.
        let error = parse_port(Some("0")).unwrap_err().to_string();
        assert_eq!(error, r#"PORT="0" is not a port number from 1 to 65535"#);
    }
}
