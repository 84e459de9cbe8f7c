//! Serving (`tessera::serving`) over real TCP, shared by the runtime's
//! workers and on lanes: connections are dealt to the lanes in turn, every
//! request knows its peer, a shutdown lets a request in flight finish, then
//! stops accepting, a client that is slow to send its request head or body
//! is cut off, and an idle HTTP/2 connection is closed. `binary` serves HTTPS both ways from the real binary.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tessera::server::{Limits, Placement};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Every placement the server can run with.
const PLACEMENTS: [Placement; 3] = [Placement::Shared, Placement::Lanes(1), Placement::Lanes(2)];

/// A router that tells which thread answered, who asked, and one slow route.
fn probe_router() -> Router {
    Router::new()
        .route(
            "/thread",
            get(|| async { std::thread::current().name().unwrap_or("?").to_owned() }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/echo",
            post(|body: axum::body::Body| async move {
                match axum::body::to_bytes(body, 1 << 16).await {
                    Ok(bytes) => (StatusCode::OK, format!("{} bytes", bytes.len())),
                    Err(e) => (StatusCode::BAD_REQUEST, format!("{e}")),
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        )
}

type Serving = (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
);

/// Serve the probe router; returns the address, the shutdown trigger and
/// the serving task.
async fn start(placement: Placement, limits: Limits) -> Serving {
    start_tls(placement, limits, None).await
}

async fn start_tls(
    placement: Placement,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Serving {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(tessera::server::serve(
        listener,
        probe_router(),
        tls,
        placement,
        limits,
        async move {
            let _ = stopped.await;
        },
    ));
    (addr, stop, served)
}

/// Trigger the shutdown and wait until serving has ended.
async fn stop_serving(
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    stop.send(()).unwrap();
    served.await.unwrap().unwrap();
}

/// One keep-alive connection per client (no pool sharing between them).
fn one_connection_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap()
}

/// The name of the thread that answers `client` (on its kept-alive connection).
async fn thread_of(client: &reqwest::Client, addr: SocketAddr) -> String {
    let answer = client.get(format!("http://{addr}/thread")).send().await;
    answer.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn connections_are_dealt_to_the_lanes_in_turn_and_keep_their_lane() {
    let (addr, stop, served) = start(Placement::Lanes(2), Limits::default()).await;
    let mut lanes = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let client = one_connection_client();
        let name = thread_of(&client, addr).await;
        lanes.push(name);
        clients.push(client);
    }
    assert_eq!(
        lanes,
        [
            "tessera-lane-0",
            "tessera-lane-1",
            "tessera-lane-0",
            "tessera-lane-1"
        ]
    );
    // A kept-alive connection stays on its lane.
    for (client, lane) in clients.iter().zip(&lanes) {
        let again = thread_of(client, addr).await;
        assert_eq!(&again, lane);
    }
    stop_serving(stop, served).await;
}

/// GET `path` over HTTP/1.1 on an established stream.
async fn get_over_h1<I>(io: I, path: &str) -> hyper::Response<bytes::Bytes>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header("host", "localhost")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let (head, body) = sender.send_request(request).await.unwrap().into_parts();
    let body = http_body_util::BodyExt::collect(body).await.unwrap();
    hyper::Response::from_parts(head, body.to_bytes())
}

#[tokio::test]
async fn every_request_carries_its_peer_address() {
    for placement in PLACEMENTS {
        let (addr, stop, served) = start(placement, Limits::default()).await;
        for _ in 0..2 {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let local = stream.local_addr().unwrap();
            let response = get_over_h1(stream, "/peer").await;
            assert_eq!(response.status(), 200);
            assert_eq!(response.body(), local.to_string().as_bytes());
        }
        stop_serving(stop, served).await;
    }
}

#[tokio::test]
async fn a_shutdown_finishes_the_request_in_flight_then_stops_accepting() {
    for placement in PLACEMENTS {
        graceful_shutdown(placement).await;
    }
}

/// A request in flight when the shutdown starts is answered, then `serve`
/// returns and the listener is gone.
async fn graceful_shutdown(placement: Placement) {
    let (addr, stop, served) = start(placement, Limits::default()).await;
    // A client that never sends a byte must not hold the shutdown for its 30 s limit.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client = one_connection_client();
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.get(format!("http://{addr}/slow")).send().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let answer = slow.await.unwrap().unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "done");
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("serve returns once the last connection is closed")
        .unwrap()
        .unwrap();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(2), silent.read(&mut byte)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "{placement:?}: the silent connection is closed"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after a shutdown"
    );
}

#[tokio::test]
async fn a_client_slow_to_send_its_request_head_is_cut_off() {
    for placement in PLACEMENTS {
        slow_head_is_cut_off(placement).await;
    }
}

async fn slow_head_is_cut_off(placement: Placement) {
    let limits = Limits {
        header_read: Duration::from_millis(300),
        ..Limits::default()
    };
    let (addr, stop, served) = start(placement, limits.clone()).await;
    // A head that never ends (slow loris), and a connection that sends nothing.
    for opening in [&b"GET /thread HTTP/1.1\r\nhost: x\r\n"[..], b""] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(opening).await.unwrap();
        let started = std::time::Instant::now();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .expect("the server closes the connection");
        let waited = started.elapsed();
        // Closed (or reset) with at most a 408, not served.
        assert!(
            read.is_err() || answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
            "{placement:?}: {}",
            String::from_utf8_lossy(&answer)
        );
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
            "{placement:?}: closed after {waited:?}"
        );
    }
    // A client that sends its head in time is served on a fresh connection.
    let ok = reqwest::get(format!("http://{addr}/peer")).await.unwrap();
    assert_eq!(ok.status(), 200);
    stop_serving(stop, served).await;
}

/// GET `/peer` over HTTP/2 on an established stream; returns the version answered.
async fn get_over_h2<I>(io: I, addr: SocketAddr) -> hyper::Version
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(io),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::get(format!("http://{addr}/peer"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.version()
}

#[tokio::test]
async fn http2_is_served_by_prior_knowledge_and_by_alpn() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let acceptor = tessera::server::tls_acceptor(
        cert.cert.pem().as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    for placement in PLACEMENTS {
        // Plain TCP: the client opens with HTTP/2's preface.
        let (addr, stop, served) = start(placement, Limits::default()).await;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert_eq!(get_over_h2(stream, addr).await, hyper::Version::HTTP_2);
        stop_serving(stop, served).await;

        // TLS: ALPN decides; a client offering only http/1.1 gets HTTP/1.1.
        let (addr, stop, served) =
            start_tls(placement, Limits::default(), Some(acceptor.clone())).await;
        for (offer, want) in [
            (vec![b"h2".to_vec(), b"http/1.1".to_vec()], Some(&b"h2"[..])),
            (vec![b"http/1.1".to_vec()], Some(&b"http/1.1"[..])),
        ] {
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            config.alpn_protocols = offer;
            let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            assert_eq!(tls.get_ref().1.alpn_protocol(), want, "{placement:?}");
            if want == Some(&b"h2"[..]) {
                assert_eq!(get_over_h2(tls, addr).await, hyper::Version::HTTP_2);
            } else {
                let response = get_over_h1(tls, "/peer").await;
                assert_eq!(response.status(), 200);
                assert_eq!(response.version(), hyper::Version::HTTP_11);
            }
        }
        stop_serving(stop, served).await;
    }
}

/// Send `head` and then `body` in pieces `gap` apart on a fresh connection;
/// returns what the server answered and how long after the first piece.
async fn send_slowly(
    addr: SocketAddr,
    head: &str,
    pieces: &[&[u8]],
    gap: Duration,
) -> (String, Duration) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let pieces: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
    let trickle = tokio::spawn(async move {
        for piece in pieces {
            if writer.write_all(&piece).await.is_err() {
                return;
            }
            tokio::time::sleep(gap).await;
        }
        // Keep the write half open: the client never finishes its body.
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut answer))
        .await
        .expect("the server answers a stalled body")
        .unwrap();
    trickle.abort();
    (
        String::from_utf8_lossy(&answer[..n]).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_request_body_that_stalls_is_answered_after_its_limit() {
    let limits = Limits {
        body_read: Duration::from_millis(300),
        ..Limits::default()
    };
    let head = "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n";
    for placement in PLACEMENTS {
        let (addr, stop, served) = start(placement, limits.clone()).await;
        // Withheld, and trickled: neither may keep the request waiting.
        for (pieces, gap) in [
            (&[&b"abc"[..]][..], Duration::ZERO),
            (
                &[&b"a"[..], b"b", b"c", b"d", b"e", b"f", b"g"][..],
                Duration::from_millis(100),
            ),
        ] {
            let (answer, waited) = send_slowly(addr, head, pieces, gap).await;
            assert!(
                answer.starts_with("HTTP/1.1 400"),
                "{placement:?}: {answer}"
            );
            assert!(answer.contains("did not arrive within 300ms"), "{answer}");
            assert!(
                waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
                "{placement:?}: answered after {waited:?}"
            );
        }
        // A body sent in time, even in pieces, is read whole.
        let (answer, _) =
            send_slowly(addr, head, &[b"abcde", b"fghij"], Duration::from_millis(50)).await;
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{placement:?}: {answer}"
        );
        assert!(answer.ends_with("10 bytes"), "{answer}");
        stop_serving(stop, served).await;
    }
}

/// Open an HTTP/2 connection by prior knowledge; returns its request sender
/// and the task driving it, which ends when the server closes it.
async fn h2_connection(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    tokio::task::JoinHandle<()>,
) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let driving = tokio::spawn(async move {
        let _ = conn.await;
    });
    (sender, driving)
}

async fn h2_get(
    sender: &mut hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    addr: SocketAddr,
    path: &str,
) -> String {
    let request = hyper::Request::get(format!("http://{addr}{path}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body()).await;
    String::from_utf8(body.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_its_requests_are_answered() {
    let limits = Limits {
        header_read: Duration::from_millis(200),
        ..Limits::default()
    };
    for placement in PLACEMENTS {
        let (addr, stop, served) = start(placement, limits.clone()).await;
        // Idle after one request: closed after the limit, not before.
        // Timed from before the request: the server's clock starts when it
        // answers, and on a loaded machine the client may read the answer
        // well after that, so timing from the read could see less than the limit.
        let (mut sender, driving) = h2_connection(addr).await;
        let started = std::time::Instant::now();
        h2_get(&mut sender, addr, "/peer").await;
        tokio::time::timeout(Duration::from_secs(5), driving)
            .await
            .expect("the server closes an idle HTTP/2 connection")
            .unwrap();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(199) && waited < Duration::from_secs(3),
            "{placement:?}: closed after {waited:?}"
        );
        // A request that outlasts the limit with no byte moving is still answered.
        let (mut sender, driving) = h2_connection(addr).await;
        assert_eq!(h2_get(&mut sender, addr, "/slow").await, "done");
        tokio::time::timeout(Duration::from_secs(5), driving)
            .await
            .expect("and then the connection is closed")
            .unwrap();
        stop_serving(stop, served).await;
    }
}

/// HTTP/2 connections kept alive only by PING frames held their places for
/// ever (idleness was measured in bytes).
#[tokio::test]
async fn an_http2_connection_kept_alive_only_by_pings_is_closed() {
    let limits = Limits {
        header_read: Duration::from_millis(300),
        ..Limits::default()
    };
    for placement in PLACEMENTS {
        let (addr, stop, served) = start(placement, limits.clone()).await;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .timer(hyper_util::rt::TokioTimer::new())
                .keep_alive_interval(Duration::from_millis(50))
                .keep_alive_timeout(Duration::from_secs(5))
                .keep_alive_while_idle(true)
                .handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        let driving = tokio::spawn(async move {
            let _ = conn.await;
        });
        h2_get(&mut sender, addr, "/peer").await;
        tokio::time::timeout(Duration::from_secs(5), driving)
            .await
            .expect("a connection that only pings is idle, and closed")
            .unwrap();
        stop_serving(stop, served).await;
    }
}

/// One address could take every place under `max_connections`.
#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let limits = Limits {
        max_connections_per_ip: 2,
        ..Limits::default()
    };
    for placement in PLACEMENTS {
        let (addr, stop, served) = start(placement, limits.clone()).await;
        let _a = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _b = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The third from the same address is closed at once, unanswered.
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = third
            .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
            .await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer))
            .await
            .expect("closed, not left waiting");
        assert!(read.is_err() || answer.is_empty(), "{placement:?}: served");
        // Once one closes, the address may connect again.
        drop(_a);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut again = tokio::net::TcpStream::connect(addr).await.unwrap();
        again
            .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), again.read_to_end(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{placement:?}");
        stop_serving(stop, served).await;
    }
}

#[tokio::test]
async fn beyond_the_connection_limit_a_client_waits_for_a_connection_to_close() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    for placement in PLACEMENTS {
        let (addr, stop, served) = start(placement, limits.clone()).await;
        // Two open connections take both places (one silent, one kept alive).
        let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
        kept.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        kept.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        // A third connects (the kernel's backlog) but is not served...
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        third
            .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let early =
            tokio::time::timeout(Duration::from_millis(400), third.read_to_end(&mut answer)).await;
        assert!(early.is_err(), "{placement:?}: served beyond the limit");
        // ...until a place is free.
        drop(silent);
        tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer))
            .await
            .expect("served once a connection closed")
            .unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{placement:?}");
        drop(kept);
        stop_serving(stop, served).await;
    }
}
