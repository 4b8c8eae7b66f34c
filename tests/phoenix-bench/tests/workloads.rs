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

/// The extra modes of the bench processes run and report the round trips
/// they were asked for: `--mode async-spawned` of `bench-tokio` and
/// `bench-async-std` (the async API's workload in a task of its own,
/// BENCHMARKS.md item 30) and `bench-async-std`'s modes with the sockets on
/// the main thread's executor (`callback-local`, `async-local`,
/// `async-local-spawned`, item 31). An unknown mode is refused by name.
#[tokio::test(flavor = "current_thread")]
async fn the_bench_processes_run_their_extra_modes() {
    let listener = mock::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
    let url = format!("ws://{}/socket", listener.local_addr().unwrap());
    tokio::spawn(mock::serve(listener));
    let run = |program: &'static str, mode: &'static str| {
        let url = url.clone();
        let run = tokio::task::spawn_blocking(move || {
            std::process::Command::new(program)
                .args(["--url", &url, "--workload", "seq", "--count", "20"])
                .args(["--warmup", "2", "--mode", mode])
                .output()
                .expect("the bench process starts")
        });
        async move {
            tokio::time::timeout(Duration::from_secs(30), run)
                .await
                .expect("in time")
                .unwrap()
        }
    };
    let tokio = env!("CARGO_BIN_EXE_bench-tokio");
    let async_std = env!("CARGO_BIN_EXE_bench-async-std");
    for (program, mode) in [
        (tokio, "async-spawned"),
        (async_std, "async-spawned"),
        (async_std, "callback-local"),
        (async_std, "async-local"),
        (async_std, "async-local-spawned"),
    ] {
        let output = run(program, mode).await;
        assert!(output.status.success(), "{program} {mode}: {output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().expect("a report line");
        let report: serde_json::Value = serde_json::from_str(last).expect("a JSON report");
        assert_eq!(report["workload"], "seq", "{program} {mode}: {report}");
        assert_eq!(report["count"], 20, "{program} {mode}: {report}");
        let p50 = report["latency_us"]["p50"].as_f64().expect("p50");
        assert!(p50 > 0.0, "{program} {mode}: {report}");
    }
    for program in [tokio, async_std] {
        let output = run(program, "spawned").await;
        assert!(!output.status.success(), "{program}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("unknown mode spawned"),
            "{program}: {stderr}"
        );
    }
}
