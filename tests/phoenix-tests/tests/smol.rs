//! Every scenario against phoenix-client-async-std on smol's executor: the tests `smol::*`.

use phoenix_tests::async_std_driver::SmolDriver;

phoenix_tests::all_scenarios!(smol, SmolDriver);
