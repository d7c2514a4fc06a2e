//! The command against a local HTTP server: no network needed.

use std::{
    io::{Read, Write},
    net::TcpListener,
    process::Command,
    thread,
};

use {{crate_name}}::fetch;

/// The binary under test (a const, so that no line's length depends on the project name).
const BIN: &str = env!("CARGO_BIN_EXE_{{project-name}}");

/// Serves `response` to each of `requests` connections, then stops; returns its URL.
fn serve(response: &'static str, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut request = [0; 4096];
            let _ = stream.read(&mut request).unwrap();
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    url
}

const HELLO: &str = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";
const MISSING: &str =
    "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found";

#[tokio::test]
async fn fetch_reports_status_and_size() {
    let fetched = fetch::fetch(&serve(HELLO, 1)).await.unwrap();
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.bytes, 5);
}

#[tokio::test]
async fn fetch_of_an_unreachable_url_names_it() {
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", listener.local_addr().unwrap())
    };
    let error = fetch::fetch(&url).await.unwrap_err();
    assert_eq!(error.to_string(), format!("GET {url}"));
}

#[test]
fn binary_prints_the_result_and_fails_on_an_error_status() {
    let run = |url: &str| Command::new(BIN).args(["fetch", url]).output().unwrap();
    let ok = run(&serve(HELLO, 1));
    assert!(ok.status.success());
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200 OK, 5 bytes\n");

    let missing = run(&serve(MISSING, 1));
    assert_eq!(missing.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&missing.stdout);
    assert_eq!(stdout, "404 Not Found, 9 bytes\n");
}
