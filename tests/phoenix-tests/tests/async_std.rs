//! Every scenario against phoenix-client-async-std on its default executor: the tests `async_std::*`.

use phoenix_tests::async_std_driver::AsyncStdDriver;

phoenix_tests::all_scenarios!(async_std, AsyncStdDriver);
