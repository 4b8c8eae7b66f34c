//! Every scenario against phoenix-client-tokio.
#![allow(missing_docs)]

use phoenix_tests::tokio_driver::TokioDriver;

phoenix_tests::all_scenarios!(TokioDriver);
