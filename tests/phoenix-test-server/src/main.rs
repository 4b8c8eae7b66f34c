//! Standalone Phoenix-compatible test server.
//!
//! ```text
//! phoenix-test-server [--port N] [--tls] [--ca-out FILE] [--idle-timeout-ms N]
//!                     [--max-channels N] [--max-frame-size N] [--longpoll-window-ms N]
//!                     [--auth-token TOKEN]
//! ```
//!
//! Prints `listening on ws://127.0.0.1:PORT/socket/websocket` as its first
//! line of standard output and serves until interrupted (Ctrl-C) or until
//! standard input is closed when `--exit-on-eof` is given.

use std::process::ExitCode;
use std::time::Duration;

use phoenix_test_server::{ServerConfig, TestServer};

const USAGE: &str = "usage: phoenix-test-server [--port N] [--tls] [--ca-out FILE] [--idle-timeout-ms N] \
[--max-channels N] [--max-frame-size N] [--longpoll-window-ms N] [--auth-token TOKEN] [--exit-on-eof]";

struct Args {
    config: ServerConfig,
    ca_out: Option<String>,
    exit_on_eof: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut config = ServerConfig::default();
    let mut ca_out = None;
    let mut exit_on_eof = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
        match arg.as_str() {
            "--port" => {
                config.port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--tls" => config.tls = true,
            "--ca-out" => ca_out = Some(value("--ca-out")?),
            "--idle-timeout-ms" => {
                config.idle_timeout = Duration::from_millis(num(value("--idle-timeout-ms")?)?)
            }
            "--longpoll-window-ms" => {
                config.longpoll_window =
                    Duration::from_millis(num(value("--longpoll-window-ms")?)?);
            }
            "--max-channels" => {
                config.max_channels =
                    usize::try_from(num(value("--max-channels")?)?).map_err(|e| e.to_string())?;
            }
            "--max-frame-size" => {
                config.max_frame_size =
                    usize::try_from(num(value("--max-frame-size")?)?).map_err(|e| e.to_string())?;
            }
            "--auth-token" => config.auth_token = Some(value("--auth-token")?),
            "--exit-on-eof" => exit_on_eof = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args {
        config,
        ca_out,
        exit_on_eof,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let server = match TestServer::start_with(args.config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(path), Some(tls)) = (&args.ca_out, server.tls()) {
        if let Err(e) = std::fs::write(path, &tls.ca_pem) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("listening on {}", server.ws_url());
    println!("long-poll on {}", server.longpoll_url());
    if args.exit_on_eof {
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        })
        .await
        .ok();
    } else {
        let _ = tokio::signal::ctrl_c().await;
    }
    server.shutdown().await;
    ExitCode::SUCCESS
}
