//! How a deploy's reconnects spread out: many clients lose their
//! connection at the same instant and the time of each one's next
//! connection is recorded, with the default reconnect schedule (jitter 0.5,
//! a seed per socket) after a plain drop, and after a 1012 "service
//! restart" close. Prints the spread (it is written down in
//! phoenix-proto/PROTOCOL.md section 7.3) and asserts only what jitter must
//! give: not everyone at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use phoenix_client_tokio::{Builder, Client, SocketEvent};
use phoenix_test_server::TestServer;

const CLIENTS: usize = 50;

/// Milliseconds from `start` to each client's next `Connected`, sorted.
async fn reconnect_times(server: &TestServer, drop: impl FnOnce(&TestServer)) -> Vec<u128> {
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|_| Builder::new(server.socket_url()).connect())
        .collect();
    for client in &clients {
        tokio::time::timeout(Duration::from_secs(10), client.connected())
            .await
            .unwrap()
            .unwrap();
    }
    let start = Instant::now();
    // One task per client, so each time is taken when its event comes.
    let watchers: Vec<_> = clients
        .iter()
        .map(|client| {
            let mut events = client.socket_events();
            tokio::spawn(async move {
                // The first connection's own event may still be on its way:
                // count the first Connected after the drop.
                let mut lost = false;
                loop {
                    let event = tokio::time::timeout(Duration::from_secs(15), events.recv())
                        .await
                        .unwrap()
                        .unwrap();
                    match event {
                        SocketEvent::Disconnected { .. } => lost = true,
                        SocketEvent::Connected if lost => return start.elapsed().as_millis(),
                        _ => {}
                    }
                }
            })
        })
        .collect();
    drop(server);
    let mut times = Vec::new();
    for watcher in watchers {
        times.push(watcher.await.unwrap());
    }
    for client in &clients {
        client.shutdown().await;
    }
    times.sort_unstable();
    times
}

fn summary(times: &[u128]) -> String {
    let at = |q: usize| times[(times.len() - 1) * q / 100];
    format!(
        "min {} ms, p25 {} ms, median {} ms, p75 {} ms, max {} ms",
        at(0),
        at(25),
        at(50),
        at(75),
        at(100)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploys_reconnects_spread_out() {
    let server = TestServer::start().await.unwrap();
    let dropped = reconnect_times(&server, |s| {
        s.drop_all();
    })
    .await;
    println!("{CLIENTS} clients, TCP drop: {}", summary(&dropped));
    let restarted = reconnect_times(&server, |s| {
        s.close_all(1012, "service restart");
    })
    .await;
    println!("{CLIENTS} clients, close 1012: {}", summary(&restarted));
    // 1012 waits 1 to 5 s, drawn per socket: spread over seconds.
    assert!(restarted[0] >= 900, "{restarted:?}");
    assert!(
        restarted[CLIENTS - 1] - restarted[0] >= 1500,
        "1012 reconnects bunched: {}",
        summary(&restarted)
    );
    // After a drop the first step is 5 to 10 ms: not all in the same millisecond.
    assert!(
        dropped[CLIENTS - 1] > dropped[0],
        "drop reconnects at one instant: {}",
        summary(&dropped)
    );
    server.shutdown().await;
}
