//! `phoenix-soak`: see the crate docs of `phoenix_soak` and `--help`.

use std::io::Write;
use std::process::ExitCode;

use phoenix_soak::options::{HELP, Options};

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("phoenix-soak: {error}");
            return ExitCode::from(2);
        }
    };
    if options.plan_only {
        let mut out = std::io::stdout().lock();
        for planned in phoenix_soak::faults::plan(options.seed, options.duration, options.proxies) {
            // A closed pipe (`| head`) ends the listing.
            if writeln!(out, "{planned}").is_err() {
                break;
            }
        }
        return ExitCode::SUCCESS;
    }
    match phoenix_soak::run(options) {
        Ok(report) => {
            println!("{report}");
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("phoenix-soak: could not run: {error}");
            ExitCode::from(2)
        }
    }
}
