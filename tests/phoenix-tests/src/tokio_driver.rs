//! The tokio driver's adapter.

use std::time::Duration;

use phoenix_client_tokio::{
    Channel, ChannelEvent, ChannelEvents, Client, JoinError, PushError, Status,
};
use phoenix_proto::client::DisconnectReason;
use phoenix_proto::codec::Payload;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::driver::{Driver, Ev, JoinFailure, Options, PushFailure, TestChannel, TestClient};

/// phoenix-client-tokio.
#[derive(Debug)]
pub struct TokioDriver;

impl Driver for TokioDriver {
    const NAME: &'static str = "tokio";
    type Client = Client;

    fn connect(options: Options) -> Client {
        let mut builder = Client::builder(options.endpoint)
            .heartbeat_interval(options.heartbeat)
            .timeout(options.timeout)
            .reconnect(options.reconnect)
            .rejoin(options.rejoin);
        for (k, v) in options.params {
            builder = builder.param(k, v);
        }
        for (k, v) in options.headers {
            builder = builder.header(k, v);
        }
        if let Some(f) = options.params_fn {
            builder = builder.params_fn(move || f());
        }
        if let Some(token) = options.auth_token {
            builder = builder.auth_token(token);
        }
        if let Some(ca) = options.ca_der {
            builder = builder.add_root_certificate(ca);
        }
        builder.connect()
    }
}

/// A tokio channel with its event stream.
#[derive(Debug)]
pub struct TokioChannel {
    channel: Channel,
    events: Mutex<ChannelEvents>,
}

impl TestClient for Client {
    type Channel = TokioChannel;

    async fn wait_connected(&self, within: Duration) -> Result<(), String> {
        tokio::time::timeout(within, self.connected())
            .await
            .map_err(|_| format!("not connected within {within:?}"))?
            .map_err(|e| e.to_string())
    }

    async fn wait_disconnected(&self, within: Duration) -> Result<DisconnectReason, String> {
        let mut status = self.status();
        let wait = async {
            loop {
                if let Status::Disconnected { reason, .. } = &*status.borrow_and_update() {
                    return Ok(reason.clone());
                }
                if status.changed().await.is_err() {
                    return Err("the socket stopped".to_owned());
                }
            }
        };
        tokio::time::timeout(within, wait)
            .await
            .map_err(|_| format!("not disconnected within {within:?}"))?
    }

    fn channel(&self, topic: &str, params: Value) -> TokioChannel {
        let channel = Client::channel(self, topic, &params);
        let events = channel.events().expect("a fresh channel has its events");
        TokioChannel {
            channel,
            events: Mutex::new(events),
        }
    }

    async fn shutdown(&self) {
        Client::shutdown(self).await;
    }
}

impl TestChannel for TokioChannel {
    async fn join(&self) -> Result<Value, JoinFailure> {
        match self.channel.join().await {
            Ok(response) => response
                .deserialize()
                .map_err(|e| JoinFailure::Other(e.to_string())),
            Err(JoinError::Refused { status, response }) => Err(JoinFailure::Refused(
                status,
                response.deserialize().unwrap_or(Value::Null),
            )),
            Err(JoinError::Timeout) => Err(JoinFailure::Timeout),
            Err(JoinError::Rejected(e)) => Err(JoinFailure::Rejected(e.to_string())),
            Err(e) => Err(JoinFailure::Other(e.to_string())),
        }
    }

    async fn push(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> Result<(String, Payload<'static>), PushFailure> {
        match self
            .channel
            .push_with_timeout(event, payload, timeout)
            .await
        {
            Ok(reply) => Ok((reply.status, reply.response)),
            Err(PushError::Timeout) => Err(PushFailure::Timeout),
            Err(PushError::Rejected(e)) => Err(PushFailure::Rejected(e.to_string())),
            Err(PushError::Failed(f)) => Err(PushFailure::Failed(f)),
            Err(e) => Err(PushFailure::Other(e.to_string())),
        }
    }

    async fn cast(&self, event: &str, payload: Payload<'static>) {
        let _ = self.channel.cast(event, payload).await;
    }

    async fn next_event(&mut self, within: Duration) -> Option<Ev> {
        let mut events = self.events.lock().await;
        let event = tokio::time::timeout(within, events.recv()).await.ok()??;
        Some(match event {
            ChannelEvent::Message { event, payload } => Ev::Message { event, payload },
            ChannelEvent::Errored(reason) => Ev::Errored(reason),
            ChannelEvent::Rejoined { .. } => Ev::Rejoined,
            ChannelEvent::JoinRefused { .. } => Ev::JoinRefused,
            ChannelEvent::Closed(reason) => Ev::Closed(reason),
            _ => return None,
        })
    }

    async fn leave(&self) -> Result<(), String> {
        self.channel.leave().await.map_err(|e| e.to_string())
    }
}
