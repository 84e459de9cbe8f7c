//! Serving on lanes (`tessera::lanes`) over real TCP: connections are dealt
//! to the lanes in turn, every request knows its peer, and a shutdown lets a
//! request in flight finish, then stops accepting. `binary` serves HTTPS on
//! lanes from the real binary.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

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
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        )
}

/// Serve the probe router on `lanes` lanes; returns the address, the
/// shutdown trigger and the serving task.
async fn start(
    lanes: usize,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(tessera::lanes::serve(
        listener,
        probe_router(),
        None,
        lanes,
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

#[tokio::test]
async fn connections_are_dealt_to_the_lanes_in_turn_and_keep_their_lane() {
    let (addr, stop, served) = start(2).await;
    let mut lanes = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let client = one_connection_client();
        let name = client
            .get(format!("http://{addr}/thread"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
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
        let again = client
            .get(format!("http://{addr}/thread"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(&again, lane);
    }
    stop_serving(stop, served).await;
}

#[tokio::test]
async fn every_request_carries_its_peer_address() {
    for lanes in [1, 2] {
        peer_address_is_known(lanes).await;
    }
}

async fn peer_address_is_known(lanes: usize) {
    let (addr, stop, served) = start(lanes).await;
    for _ in 0..2 {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let request = hyper::Request::get("/peer")
            .header("host", addr.to_string())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(std::str::from_utf8(&body).unwrap(), local.to_string());
    }
    stop_serving(stop, served).await;
}

#[tokio::test]
async fn a_shutdown_finishes_the_request_in_flight_then_stops_accepting() {
    for lanes in [1, 2] {
        graceful_shutdown(lanes).await;
    }
}

async fn graceful_shutdown(lanes: usize) {
    let (addr, stop, served) = start(lanes).await;
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
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after a shutdown"
    );
}
