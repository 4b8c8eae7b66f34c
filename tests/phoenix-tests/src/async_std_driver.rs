//! The adapters of phoenix-client-async-std, twice: [`AsyncStdDriver`]
//! spawns each socket on the default executor (the global executor that
//! async-std's own `task::spawn` uses), [`SmolDriver`] on smol's executor
//! through `AsyncIo::with_spawner`, as smol users do.
//!
//! The test traits come from [`api_driver`](crate::api_driver), shared by
//! every driver built on `phoenix_proto::api`. The scenario bodies await the
//! handles from the harness's runtime: the handles are runtime-neutral
//! futures, while each socket's loop, its timers and its connections run on
//! the executor and the async-io reactor under test.

use crate::api_driver::configure;
use crate::driver::{Driver, Options};
use phoenix_client_async_std::{AsyncIo, Builder, Client};

/// phoenix-client-async-std with its default executor (async-std's).
#[derive(Debug)]
pub struct AsyncStdDriver;

impl Driver for AsyncStdDriver {
    const NAME: &'static str = "async_std";
    type Client = Client;

    fn connect(options: Options) -> Client {
        configure(Client::builder(options.endpoint.clone()), options).connect()
    }
}

/// phoenix-client-async-std with every socket spawned on smol's executor.
#[derive(Debug)]
pub struct SmolDriver;

impl Driver for SmolDriver {
    const NAME: &'static str = "smol";
    type Client = Client;

    fn connect(options: Options) -> Client {
        let on_smol = AsyncIo::with_spawner(|task| smol::spawn(task).detach());
        configure(
            Builder::with_runtime(options.endpoint.clone(), on_smol),
            options,
        )
        .connect()
    }
}
