//! Our clients' workloads against the mock server, in process and with tiny
//! counts: each finishes and reports what it measured. (The client
//! processes themselves, and the other clients, are run by
//! `cargo run -p phoenix-bench -- --quick`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use phoenix_bench::{mock, ours};
use phoenix_bench_probe::{Args, Hold, Report, Workload};
use phoenix_client_tokio::Tokio;

fn sleep(duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(tokio::time::sleep(duration))
}

fn workloads() -> [Workload; 5] {
    [
        Workload::Seq {
            count: 20,
            warmup: 2,
        },
        Workload::Pipe {
            count: 300,
            inflight: 50,
        },
        Workload::Recv { count: 500 },
        Workload::Flood {
            count: 3_000,
            pause_every: 1_000,
            pause: Duration::from_millis(1),
        },
        Workload::Idle {
            sockets: 5,
            settle: Duration::from_millis(10),
        },
    ]
}

fn check(report: &Report, workload: &Workload) {
    assert_eq!(report.workload, workload.name());
    assert!(report.wall_s > 0.0, "{report:?}");
    assert!(report.cpu_s >= 0.0, "{report:?}");
    match workload {
        Workload::Seq { count, .. } => {
            assert_eq!(report.count, *count);
            let latency = report.latency_us.expect("latencies");
            assert!(latency.p50 > 0.0 && latency.p50 <= latency.p99 && latency.p99 <= latency.max);
        }
        Workload::Idle { sockets, .. } => {
            assert_eq!(report.count, *sockets);
            assert!(report.rss_after_kib.is_some() && report.rss_before_kib.is_some());
        }
        Workload::Pipe { count, .. } | Workload::Recv { count } => {
            assert_eq!(report.count, *count);
        }
        Workload::Flood { count, .. } => {
            assert_eq!(report.count, *count);
            assert!(report.rss_before_kib.is_some() && report.rss_after_kib.is_some());
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_api_and_the_callback_model_finish_every_workload() {
    let listener = mock::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let url = format!("ws://{}/socket", listener.local_addr().unwrap());
    tokio::spawn(mock::serve(listener));
    for workload in workloads() {
        let args = Args {
            url: url.clone(),
            workload,
            mode: None,
            hold: None,
        };
        let report = tokio::time::timeout(
            Duration::from_secs(30),
            ours::async_api::<Tokio>(&args, sleep),
        )
        .await
        .expect("in time")
        .expect("async API");
        check(&report, &workload);
        let report = tokio::time::timeout(
            Duration::from_secs(30),
            ours::callback::<Tokio>(&args, sleep),
        )
        .await
        .expect("in time")
        .expect("callback model");
        check(&report, &workload);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn idle_sockets_held_with_heartbeats_have_them_answered() {
    let listener = mock::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let url = format!("ws://{}/socket", listener.local_addr().unwrap());
    tokio::spawn(mock::serve(listener));
    let workload = Workload::Idle {
        sockets: 4,
        settle: Duration::from_millis(10),
    };
    let args = Args {
        url,
        workload,
        mode: None,
        hold: Some(Hold {
            hold: Duration::from_millis(350),
            heartbeat: Duration::from_millis(100),
        }),
    };
    for callback in [false, true] {
        let run = async {
            if callback {
                ours::callback::<Tokio>(&args, sleep).await
            } else {
                ours::async_api::<Tokio>(&args, sleep).await
            }
        };
        let report = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("in time")
            .expect("held");
        check(&report, &workload);
        assert!(report.rss_held_kib.is_some(), "{report:?}");
        // Three heartbeats each in 350 ms, give or take one.
        let heartbeats = report.heartbeats.expect("heartbeats");
        assert!((4 * 2..=4 * 4).contains(&heartbeats), "{report:?}");
    }
}
