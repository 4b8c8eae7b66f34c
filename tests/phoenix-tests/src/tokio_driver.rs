//! The tokio driver's adapter. The test traits come from
//! [`api_driver`](crate::api_driver), shared by every driver built on
//! `phoenix_proto::api`.

use phoenix_client_tokio::Client;

use crate::api_driver::configure;
use crate::driver::{Driver, Options};

/// phoenix-client-tokio.
#[derive(Debug)]
pub struct TokioDriver;

impl Driver for TokioDriver {
    const NAME: &'static str = "tokio";
    type Client = Client;

    fn connect(options: Options) -> Client {
        configure(Client::builder(options.endpoint.clone()), options).connect()
    }
}
