//! Every scenario against phoenix-client-tokio: the tests `tokio::*`.

use phoenix_tests::tokio_driver::TokioDriver;

phoenix_tests::all_scenarios!(tokio, TokioDriver);
