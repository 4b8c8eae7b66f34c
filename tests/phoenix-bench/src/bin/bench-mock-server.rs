//! `bench-mock-server`: the fast mock Phoenix server of phoenix-bench (see
//! `phoenix_bench::mock`), on one thread.
//!
//! ```text
//! bench-mock-server [--port PORT]
//! ```
//!
//! Prints the socket endpoint (`ws://127.0.0.1:PORT/socket`) on its first
//! line, then serves until it is killed or its standard input closes (so it
//! never outlives the harness that started it).

use std::io::{BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr};

fn main() -> Result<(), phoenix_bench_probe::Error> {
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--port", Some(value)) => port = value.parse()?,
            _ => return Err(format!("usage: bench-mock-server [--port PORT] (got {flag})").into()),
        }
    }
    phoenix_bench_probe::raise_fd_limit()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = phoenix_bench::mock::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "ws://{addr}/socket")?;
        out.flush()?;
        drop(out);
        std::thread::spawn(|| {
            // Ends the process when whoever started it goes away.
            let mut sink = String::new();
            while matches!(std::io::stdin().lock().read_line(&mut sink), Ok(n) if n > 0) {
                sink.clear();
            }
            std::process::exit(0);
        });
        phoenix_bench::mock::serve(listener).await;
        Ok(())
    })
}
