//! Every scenario against phoenix-client-blocking's blocking API: the tests `blocking::*`.

use phoenix_tests::blocking_driver::BlockingDriver;

phoenix_tests::all_scenarios!(blocking, BlockingDriver);
