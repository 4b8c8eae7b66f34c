//! The adapter of phoenix-client-blocking, through its blocking API
//! (`Client`, `Channel`, `ChannelEvents`): each blocking call runs on a
//! thread of its own with [`unblock`], so that a scenario's concurrent
//! branches overlap as they would on the threads of a real program. Every
//! socket runs on the crate's `phoenix-socket` reactor thread, with no
//! runtime.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use phoenix_client_blocking::{Builder, Channel, ChannelEvents, Client, Status};
use phoenix_proto::client::DisconnectReason;
use phoenix_proto::codec::Payload;
use serde_json::Value;

use crate::api_driver::{channel_event, configure, join_result, push_result};
use crate::driver::{
    Driver, Ev, JoinFailure, Options, PushFailure, StartedPush, TestChannel, TestClient, unblock,
};

/// phoenix-client-blocking: every socket on its reactor thread.
#[derive(Debug)]
pub struct BlockingDriver;

impl Driver for BlockingDriver {
    const NAME: &'static str = "blocking";
    type Client = Client;

    fn connect(options: Options) -> Client {
        Client::from(configure(Builder::new(options.endpoint.clone()), options).connect())
    }
}

/// A blocking channel with its events (shared with the threads that wait
/// on them).
#[derive(Debug)]
pub struct BlockingChannel {
    channel: Channel,
    events: Arc<Mutex<ChannelEvents>>,
}

impl TestClient for Client {
    type Channel = BlockingChannel;

    async fn wait_connected(&self, within: Duration) -> Result<(), String> {
        let client = self.clone();
        match unblock(move || client.connected_timeout(within)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("not connected within {within:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn wait_disconnected(&self, within: Duration) -> Result<DisconnectReason, String> {
        let mut status = self.status();
        unblock(move || {
            let deadline = Instant::now() + within;
            loop {
                match status.borrow_and_update().clone() {
                    Status::Disconnected { reason, .. } => return Ok(reason),
                    Status::Stopped => return Err("the socket stopped".to_owned()),
                    _ => {}
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(format!("not disconnected within {within:?}"));
                }
                status.changed_blocking(left).map_err(|e| e.to_string())?;
            }
        })
        .await
    }

    fn channel(&self, topic: &str, params: Value) -> BlockingChannel {
        let channel = Client::channel(self, topic, &params);
        let events = channel.events().expect("a fresh channel has its events");
        BlockingChannel {
            channel,
            events: Arc::new(Mutex::new(events)),
        }
    }

    async fn shutdown(&self) {
        let client = self.clone();
        unblock(move || client.shutdown()).await;
    }

    fn socket_events(&self) -> phoenix_proto::api::SocketEvents {
        self.as_async().socket_events()
    }

    async fn ping(&self) -> Result<Duration, String> {
        let client = self.clone();
        unblock(move || client.ping())
            .await
            .map_err(|e| e.to_string())
    }
}

impl TestChannel for BlockingChannel {
    async fn join(&self) -> Result<Value, JoinFailure> {
        let channel = self.channel.clone();
        join_result(unblock(move || channel.join()).await)
    }

    async fn push(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> Result<(String, Payload<'static>), PushFailure> {
        let (channel, event) = (self.channel.clone(), event.to_owned());
        push_result(unblock(move || channel.push_with_timeout(&event, payload, timeout)).await)
    }

    /// `Channel::start_push` queues the push here, without blocking; the
    /// box asks `try_wait` first and blocks in `wait` on a thread of its
    /// own only when the outcome is not known yet.
    fn start_push(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> StartedPush {
        let pending = self.channel.start_push(event, payload, timeout);
        Box::pin(async move {
            push_result(match pending.try_wait() {
                Ok(outcome) => outcome,
                Err(pending) => unblock(move || pending.wait()).await,
            })
        })
    }

    async fn cast(&self, event: &str, payload: Payload<'static>) {
        let (channel, event) = (self.channel.clone(), event.to_owned());
        let _ = unblock(move || channel.cast(&event, payload)).await;
    }

    async fn next_event(&mut self, within: Duration) -> Option<Ev> {
        let events = self.events.clone();
        let event = unblock(move || {
            let mut events = events.lock().unwrap_or_else(PoisonError::into_inner);
            events.recv_timeout(within)
        })
        .await
        .ok()?;
        channel_event(event)
    }

    fn presence(&self) -> phoenix_proto::api::PresenceHandle {
        self.channel.presence()
    }

    async fn leave(&self) -> Result<(), String> {
        let channel = self.channel.clone();
        unblock(move || channel.leave())
            .await
            .map_err(|e| e.to_string())
    }
}
