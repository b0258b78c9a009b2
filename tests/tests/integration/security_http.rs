//! Security, the HTTP listener: slow and half-open clients are cut off, bodies are bounded for
//! the API and the vendor callbacks alike, and connections are capped. Driven against the real
//! listener of `creel api` over raw TCP.
#![allow(clippy::print_stdout)] // the SECURITY figures line is what the README reports

use std::time::{Duration, Instant};

use creel_tests::stack::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn limited() -> Stack {
    Stack::start_with(|cfg| {
        cfg.api.limits.header_read_timeout_ms = 500;
        cfg.api.limits.request_timeout_ms = 800;
        cfg.api.limits.connection_max_age_ms = 3_000;
        cfg.api.limits.max_connections = 4;
    })
    .await
}

fn addr(stack: &Stack) -> String {
    stack.api.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `within` passes); what it sent and when.
async fn read_until_closed(conn: &mut TcpStream, within: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            within.saturating_sub(started.elapsed()),
            conn.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&got).into_owned(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_clients_are_cut_off() {
    let stack = limited().await;
    let mut tried = 0;
    let mut refused = 0;
    // Half a request line, then nothing: closed after the header-read timeout.
    let mut slow = TcpStream::connect(addr(&stack)).await.expect("connect");
    slow.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    tried += 1;
    let closed = closed.expect("a slow header is cut off");
    assert!(closed < Duration::from_secs(2), "cut after {closed:?}");
    refused += 1;
    // A connection that sends nothing at all: closed too, at the latest at its maximum age.
    let mut silent = TcpStream::connect(addr(&stack)).await.expect("connect");
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(6)).await;
    tried += 1;
    let closed = closed.expect("a silent connection is closed");
    assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
    refused += 1;
    // A body announced and never sent: 408 after the request timeout.
    let mut stalled = TcpStream::connect(addr(&stack)).await.expect("connect");
    stalled
        .write_all(
            format!(
                "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"kind\"",
                stack.token
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let (answer, closed) = read_until_closed(&mut stalled, Duration::from_secs(5)).await;
    tried += 1;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(closed.is_some(), "the connection is closed after the 408");
    refused += 1;
    println!("SECURITY http-slow tried={tried} refused={refused} leaked=0");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_bodies_bounded() {
    let stack = limited().await;
    // Four idle connections take every slot: a fifth client waits, unanswered.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr(&stack)).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fifth = stack.http.get(format!("{}/livez", stack.api)).send();
    let waited = tokio::time::timeout(Duration::from_millis(300), fifth).await;
    assert!(
        waited.is_err(),
        "a fifth connection is not served while four are open"
    );
    // When the idle ones are closed (by the server, at the header timeout), it is served.
    let res = tokio::time::timeout(
        Duration::from_secs(5),
        stack.http.get(format!("{}/livez", stack.api)).send(),
    )
    .await
    .expect("served once a slot frees")
    .expect("answer");
    assert_eq!(res.status(), 200);
    drop(idle);

    // Bodies over api.max_body_bytes are refused on the API and on the callback routes.
    let big = vec![b'a'; 2 << 20];
    let mut tried = 0;
    let mut refused = 0;
    for path in [
        "/v1/jobs",
        "/callbacks/baijiayun/nobody",
        "/callbacks/plaso/sometoken",
    ] {
        let res = stack
            .http
            .post(format!("{}{path}", stack.api))
            .bearer_auth(&stack.token)
            .body(big.clone())
            .send()
            .await;
        tried += 1;
        // 413 without reading the body; the server may close before the client has written
        // it all, which the client sees as a broken pipe: refused either way.
        match res {
            Ok(r) if r.status() == 413 => refused += 1,
            Err(e) if e.is_request() => refused += 1,
            Ok(r) => eprintln!("LEAK: {path} took a 2 MiB body: {}", r.status()),
            Err(e) => eprintln!("LEAK: {path}: {e}"),
        }
    }
    println!(
        "SECURITY http-bodies tried={tried} refused={refused} leaked={}",
        tried - refused
    );
    assert_eq!(refused, tried);
    stack.stop().await;
}
