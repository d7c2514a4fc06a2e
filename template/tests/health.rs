//! The service as its users meet it: `/health` answers, clients cannot hold it (timeouts, a
//! connection limit), and it stops within its deadline, answering the requests in flight.

use std::{
    io::{BufRead, BufReader, ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use axum::{Router, routing::get};
use {{crate_name}}::serve::{self, Limits};

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

/// A server on its own thread and runtime, so that the test can be a plain blocking client.
struct Server {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// `app()` plus `/slow`, which answers after `slow`.
    fn start(limits: Limits, slow: Duration) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let app = serve::app().merge(Router::new().route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(slow).await;
                "slow"
            }),
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(serve::serve_with(listener, app, limits, async {
                stopped.await.ok();
            }))
        });
        Server {
            address,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    /// Signals the stop and waits for `serve_with` to return; how long that took.
    fn stop(&mut self) -> Duration {
        let started = Instant::now();
        self.stop.take().unwrap().send(()).unwrap();
        let thread = self.thread.take().unwrap();
        while !thread.is_finished() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the server still runs 5 s after the stop signal"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        thread.join().unwrap().unwrap();
        started.elapsed()
    }
}

fn limits() -> Limits {
    Limits {
        shutdown: Duration::from_millis(500),
        ..Limits::DEFAULT
    }
}

fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

/// Reads until the peer closes the connection (or the read timeout): what it sent.
fn read_all(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buffer = [0; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => bytes.extend_from_slice(&buffer[..read]),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reads one response that ends with `body`.
fn read_response(stream: &mut TcpStream, body: &str) -> String {
    let mut response = String::new();
    let mut buffer = [0; 1024];
    while !response.ends_with(body) {
        let read = stream.read(&mut buffer).unwrap();
        assert_ne!(read, 0, "connection closed after {response:?}");
        response.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    response
}

#[test]
fn a_request_in_flight_when_the_stop_comes_is_answered() {
    let mut server = Server::start(limits(), Duration::from_millis(200));
    let mut client = server.connect();
    client.write_all(get_request("/slow").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let took = server.stop();
    let response = read_all(&mut client);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response:?}");
    assert!(response.ends_with("slow"), "{response:?}");
    assert!(took < Duration::from_millis(500), "stop took {took:?}");
}

#[test]
fn the_stop_deadline_closes_what_clients_still_hold() {
    let mut server = Server::start(limits(), Duration::from_secs(30));
    let _idle = server.connect();
    let mut half_sent = server.connect();
    half_sent
        .write_all(b"GET /health HTTP/1.1\r\nHost: localh")
        .unwrap();
    let mut kept_alive = server.connect();
    kept_alive
        .write_all(get_request("/health").as_bytes())
        .unwrap();
    read_response(&mut kept_alive, "ok");
    let mut too_slow = server.connect();
    too_slow.write_all(get_request("/slow").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(50));

    let took = server.stop();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1500),
        "stop took {took:?}, the deadline is 500 ms"
    );
    for (name, mut stream) in [("half-sent", half_sent), ("slow", too_slow)] {
        let left = read_all(&mut stream);
        assert!(!left.contains("200 OK"), "{name}: {left:?}");
    }
}

#[test]
fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    let limits = Limits {
        header_read: Duration::from_millis(300),
        ..limits()
    };
    let mut server = Server::start(limits, Duration::ZERO);
    let mut slowloris = server.connect();
    let started = Instant::now();
    slowloris
        .write_all(b"GET /health HTTP/1.1\r\nX-a: b\r\n")
        .unwrap();
    let answer = read_all(&mut slowloris);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "still connected after {took:?}"
    );
    assert!(!answer.contains("200 OK"), "{answer:?}");
    server.stop();
}

#[test]
fn a_request_that_outlasts_its_timeout_gets_408() {
    let limits = Limits {
        request: Duration::from_millis(100),
        ..limits()
    };
    let mut server = Server::start(limits, Duration::from_secs(5));
    let mut client = server.connect();
    client.write_all(get_request("/slow").as_bytes()).unwrap();
    let mut response = [0; 12];
    client.read_exact(&mut response).unwrap();
    assert_eq!(&response, b"HTTP/1.1 408");
    server.stop();
}

#[test]
fn connections_over_the_limit_wait_for_a_free_one() {
    let limits = Limits {
        connections: 1,
        ..limits()
    };
    let mut server = Server::start(limits, Duration::ZERO);
    let holder = server.connect();
    std::thread::sleep(Duration::from_millis(50));
    let mut waiting = server.connect();
    waiting
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    waiting
        .write_all(get_request("/health").as_bytes())
        .unwrap();
    let error = waiting.read(&mut [0; 64]).unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{error}"
    );
    drop(holder);
    waiting
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    read_response(&mut waiting, "ok");
    server.stop();
}

/// A free port for the binary (it refuses `PORT=0`, which the HEALTHCHECK could not probe).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The binary, as PID 1 in a container would run it: SIGTERM must end it within its deadline
/// and cleanly, even while clients hold idle, half-sent and kept-alive connections.
#[cfg(unix)]
#[test]
fn binary_serves_and_exits_cleanly_on_sigterm_while_clients_hold_connections() {
    let port = free_port();
    let mut child = Command::new(BIN)
        .env("PORT", port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.ends_with(&format!(":{port}\n")), "first line {line:?}");

    let healthcheck = Command::new(BIN)
        .arg("healthcheck")
        .env("PORT", port.to_string())
        .status()
        .unwrap();
    assert!(healthcheck.success(), "healthcheck failed on port {port}");
    let connect = || TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _idle = connect();
    let mut half_sent = connect();
    half_sent.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    let mut kept_alive = connect();
    kept_alive
        .write_all(get_request("/health").as_bytes())
        .unwrap();
    read_response(&mut kept_alive, "ok");

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
        if started.elapsed() > Duration::from_secs(2) {
            child.kill().ok();
            panic!("still running 2 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
