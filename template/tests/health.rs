//! The service as its users meet it: `/health` answers, and the server stops gracefully.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use {{crate_name}}::serve;

/// The binary under test (a const, so that no line's length depends on the project name).
const BIN: &str = env!("CARGO_BIN_EXE_{{project-name}}");

#[tokio::test]
async fn health_answers_then_the_server_shuts_down_on_request() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::serve(listener, async {
        stopped.await.ok();
    }));

    let url = format!("http://{address}/health");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    serve::healthcheck(address.port()).await.unwrap();

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server did not stop within 5 s")
        .unwrap()
        .unwrap();
    assert!(serve::healthcheck(address.port()).await.is_err());
}

/// The binary, as PID 1 in a container would run it: SIGTERM must end it quickly and cleanly.
#[cfg(unix)]
#[test]
fn binary_serves_and_exits_cleanly_on_sigterm() {
    let mut child = Command::new(BIN)
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port: u16 = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));

    let healthcheck = Command::new(BIN)
        .arg("healthcheck")
        .env("PORT", port.to_string())
        .status()
        .unwrap();
    assert!(healthcheck.success(), "healthcheck failed on port {port}");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(5) {
            child.kill().ok();
            panic!("still running 5 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
