//! What every driver built on `phoenix_proto::api` shares in the suite:
//! [`configure`] applies the scenario's options to any driver's builder,
//! and the async API's `Client<R>` and [`ApiChannel`] implement the test
//! traits for every runtime `R`. A driver's adapter only says how to start
//! its client.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use phoenix_proto::api::{
    self, Channel, ChannelEvent, ChannelEvents, Client, JoinError, Launch, PushError, Status,
};
use phoenix_proto::client::{self, DisconnectReason};
use phoenix_proto::codec::Payload;
use serde_json::Value;

use crate::driver::{
    Ev, JoinFailure, Options, PushFailure, PushResult, StartedPush, TestChannel, TestClient,
};
use crate::time;

/// Applies every field of `options` but the endpoint to a builder of any
/// driver.
pub fn configure<R: Launch>(mut builder: api::Builder<R>, options: Options) -> api::Builder<R> {
    builder = builder
        .heartbeat_interval(options.heartbeat)
        .timeout(options.timeout)
        .reconnect(options.reconnect)
        .rejoin(options.rejoin);
    for (key, value) in options.params {
        builder = builder.param(key, value);
    }
    for (name, value) in options.headers {
        builder = builder.header(name, value);
    }
    if let Some(params) = options.params_fn {
        builder = builder.params_fn(move || params());
    }
    if let Some(token) = options.auth_token {
        builder = builder.auth_token(token);
    }
    if let Some(ca) = options.ca_der {
        builder = builder.add_root_certificate(ca);
    }
    if options.danger_accept_invalid_certs {
        builder = builder.danger_accept_invalid_certs();
    }
    if let Some((chain, key)) = options.client_certificate {
        builder = builder.client_certificate(chain, key);
    }
    if let Some(bytes) = options.max_message_size {
        builder = builder.max_message_size(Some(bytes));
    }
    if let Some(limit) = options.write_timeout {
        builder = builder.write_timeout(limit);
    }
    if let Some(limit) = options.max_pending_pushes {
        builder.config_mut().max_pending_pushes = limit;
    }
    builder
}

/// A channel of any driver with its event stream (in a mutex only to be
/// `Sync`: [`TestChannel::next_event`] takes `&mut self`).
#[derive(Debug)]
pub struct ApiChannel {
    channel: Channel,
    events: Mutex<ChannelEvents>,
}

impl<R: Launch + 'static> TestClient for Client<R> {
    type Channel = ApiChannel;

    async fn wait_connected(&self, within: Duration) -> Result<(), String> {
        time::timeout(within, self.connected())
            .await
            .map_err(|_| format!("not connected within {within:?}"))?
            .map_err(|e| e.to_string())
    }

    async fn wait_disconnected(&self, within: Duration) -> Result<DisconnectReason, String> {
        let mut status = self.status();
        let lost = status.wait_for(|s| matches!(s, Status::Disconnected { .. }));
        match time::timeout(within, lost).await {
            Ok(Ok(Status::Disconnected { reason, .. })) => Ok(reason),
            Ok(_) => Err("the socket stopped".to_owned()),
            Err(_) => Err(format!("not disconnected within {within:?}")),
        }
    }

    fn channel(&self, topic: &str, params: Value) -> ApiChannel {
        let channel = Client::channel(self, topic, &params);
        let events = channel.events().expect("a fresh channel has its events");
        ApiChannel {
            channel,
            events: Mutex::new(events),
        }
    }

    async fn shutdown(&self) {
        Client::shutdown(self).await;
    }

    fn socket_events(&self) -> api::SocketEvents {
        Client::socket_events(self)
    }

    async fn ping(&self) -> Result<Duration, String> {
        Client::ping(self).await.map_err(|e| e.to_string())
    }
}

impl TestChannel for ApiChannel {
    async fn join(&self) -> Result<Value, JoinFailure> {
        join_result(self.channel.join().await)
    }

    async fn push(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> Result<(String, Payload<'static>), PushFailure> {
        push_result(
            self.channel
                .push_with_timeout(event, payload, timeout)
                .await,
        )
    }

    fn start_push(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> StartedPush {
        let pending = self.channel.start_push(event, payload, timeout);
        Box::pin(async move { push_result(pending.await) })
    }

    async fn cast(&self, event: &str, payload: Payload<'static>) {
        let _ = self.channel.cast(event, payload).await;
    }

    async fn next_event(&mut self, within: Duration) -> Option<Ev> {
        let events = self
            .events
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        channel_event(time::timeout(within, events.recv()).await.ok()??)
    }

    async fn leave(&self) -> Result<(), String> {
        self.channel.leave().await.map_err(|e| e.to_string())
    }

    fn presence(&self) -> api::PresenceHandle {
        self.channel.presence()
    }
}

/// A join's outcome in the suite's terms, for every driver.
pub fn join_result(result: Result<Payload<'static>, JoinError>) -> Result<Value, JoinFailure> {
    match result {
        Ok(response) => response
            .deserialize()
            .map_err(|e| JoinFailure::Other(e.to_string())),
        Err(JoinError::Refused { status, response }) => Err(JoinFailure::Refused(
            status.into(),
            response.deserialize().unwrap_or(Value::Null),
        )),
        Err(JoinError::Timeout) => Err(JoinFailure::Timeout),
        Err(JoinError::Rejected(e)) => Err(JoinFailure::Rejected(e.to_string())),
        Err(JoinError::ChannelClosed(reason)) => Err(JoinFailure::Closed(reason)),
        Err(e) => Err(JoinFailure::Other(e.to_string())),
    }
}

/// A push's outcome in the suite's terms, for every driver.
pub fn push_result(result: Result<api::Reply, PushError>) -> PushResult {
    match result {
        Ok(reply) => Ok((reply.status.into(), reply.response)),
        Err(PushError::Timeout) => Err(PushFailure::Timeout),
        Err(PushError::Rejected(client::PushError::TooManyPending { limit })) => {
            Err(PushFailure::TooManyPending { limit })
        }
        Err(PushError::Rejected(e)) => Err(PushFailure::Rejected(e.to_string())),
        Err(PushError::NotJoined) => Err(PushFailure::NotJoined),
        Err(PushError::SocketGone) => Err(PushFailure::SocketGone),
        Err(PushError::Failed(f)) => Err(PushFailure::Failed(f)),
        Err(e) => Err(PushFailure::Other(e.to_string())),
    }
}

/// A channel event in the suite's terms, for every driver.
pub fn channel_event(event: ChannelEvent) -> Option<Ev> {
    Some(match event {
        ChannelEvent::Message { event, payload } => Ev::Message {
            event: event.into(),
            payload,
        },
        ChannelEvent::Errored(reason) => Ev::Errored(reason),
        ChannelEvent::Rejoined { .. } => Ev::Rejoined,
        ChannelEvent::JoinRefused { .. } => Ev::JoinRefused,
        ChannelEvent::Closed(reason) => Ev::Closed(reason),
        _ => return None,
    })
}
