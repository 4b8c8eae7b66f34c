//! Unit tests of the socket internals.

use super::*;
use crate::codec::WireRef;

#[test]
fn a_leave_ref_is_forgotten_with_its_channel() {
    let now = Instant::now();
    let mut socket = Socket::new(Config::new("ws://h/socket"));
    socket.connect(now);
    socket.handle_connected(now);
    let ch = socket.join(now, "t:1", Payload::empty()).unwrap();
    let ok = r#"["1","1","t:1","phx_reply",{"response":{},"status":"ok"}]"#;
    socket.handle_message(now, WireRef::Text(ok));
    socket.leave(now, ch).unwrap();
    assert_eq!(socket.refs_in_flight(), 1);
    // The server closes the channel before answering the leave.
    socket.handle_message(now, WireRef::Text(r#"["1","1","t:1","phx_close",{}]"#));
    assert_eq!(socket.channel_state(ch), None);
    assert_eq!(socket.refs_in_flight(), 0);
}

#[test]
fn zero_timeouts_and_zero_backoff_do_not_spin() {
    let now = Instant::now();
    let mut config = Config::new("ws://h/socket");
    config.default_timeout = Duration::ZERO;
    config.rejoin = super::super::Backoff::from_millis(&[0]);
    config.reconnect = super::super::Backoff::from_millis(&[0]);
    let mut socket = Socket::new(config);
    socket.connect(now);
    socket.handle_connected(now);
    socket.join(now, "t:1", Payload::empty()).unwrap();
    // Each call runs what is due and arms the next timer at least 1 ms on.
    for ms in 0..100u64 {
        socket.handle_timeout(now + Duration::from_millis(ms));
        assert!(socket.poll_timeout().unwrap() > now + Duration::from_millis(ms));
    }
    let mut frames = 0;
    while socket.poll_instruction().is_some() {
        frames += 1;
    }
    // Join, leave-after-timeout and rejoin cycles, a few per millisecond at most.
    assert!(frames < 400, "{frames} frames in 100 ms");
}

#[test]
fn no_timer_outlives_what_it_was_for() {
    let now = Instant::now();
    let mut socket = Socket::new(Config::new("ws://h/socket"));
    socket.connect(now);
    socket.handle_connected(now);
    let ch = socket.join(now, "t:1", Payload::empty()).unwrap();
    let reply = r#"["1","1","t:1","phx_reply",{"response":{},"status":"ok"}]"#;
    socket.handle_message(now, WireRef::Text(reply));
    socket.push(now, ch, "e", Payload::empty()).unwrap();
    // heartbeat + stable uptime + push timeout
    assert_eq!(socket.armed_timers(), 3);
    socket.leave(now, ch).unwrap();
    let leave = r#"["1","3","t:1","phx_reply",{"response":{},"status":"ok"}]"#;
    socket.handle_message(now, WireRef::Text(leave));
    assert_eq!(socket.channel_state(ch), None);
    assert_eq!(socket.pending_pushes(), 0);
    // only the heartbeat and the stable uptime are left
    assert_eq!(socket.armed_timers(), 2);
    socket.disconnect(now);
    assert_eq!(socket.armed_timers(), 0);
    assert_eq!(socket.poll_timeout(), None);
}

#[test]
fn the_type_doc_lists_every_public_method() {
    let main = include_str!("mod.rs");
    let doc = main
        .split_once("/// # Methods")
        .and_then(|(_, rest)| rest.split_once("/// # Drain order"))
        .map(|(methods, _)| methods)
        .expect("a # Methods section before # Drain order");
    // Only the `impl Socket` blocks: mod.rs also holds ConnectFailure's.
    let socket_impl = main
        .split_once("\nimpl Socket {")
        .map_or(main, |(_, rest)| rest);
    let files = [
        socket_impl,
        include_str!("commands.rs"),
        include_str!("inputs.rs"),
        include_str!("lifecycle.rs"),
        include_str!("routing.rs"),
    ];
    let mut seen = 0;
    for line in files.iter().flat_map(|file| file.lines()) {
        let Some(signature) = line.strip_prefix("    pub fn ") else {
            continue;
        };
        let name = signature.split(['(', '<']).next().unwrap_or_default();
        if name != "new" {
            seen += 1;
            assert!(
                doc.contains(&format!("(Self::{name})")),
                "Socket::{name} is missing from the # Methods list"
            );
        }
    }
    assert!(seen >= 28, "only {seen} public methods found");
}

#[test]
fn an_idle_joined_socket_holds_no_spare_buffers() {
    let now = Instant::now();
    let mut socket = Socket::new(Config::new("ws://h/socket"));
    let drain = |socket: &mut Socket| {
        while socket.poll_instruction().is_some() {}
        while socket.poll_event().is_some() {}
    };
    socket.connect(now);
    drain(&mut socket);
    socket.handle_connected(now);
    let ch = socket.join(now, "t:1", Payload::empty()).unwrap();
    socket.push(now, ch, "e", Payload::empty()).unwrap();
    drain(&mut socket);
    let ok = r#"["1","1","t:1","phx_reply",{"response":{},"status":"ok"}]"#;
    socket.handle_message(now, WireRef::Text(ok));
    // The join's reply asks the queues to free their buffers once drained;
    // the held push went out and still waits for its reply.
    assert!(socket.instructions.capacity() > 0);
    drain(&mut socket);
    assert_eq!(socket.instructions.capacity(), 0);
    assert_eq!(socket.events.capacity(), 0);
    assert_eq!(socket.refs.len(), 1);
    let reply = r#"["1","2","t:1","phx_reply",{"response":{},"status":"ok"}]"#;
    socket.handle_message(now, WireRef::Text(reply));
    drain(&mut socket);
    assert_eq!(socket.pending_pushes(), 0);
    // A heartbeat round trip frees what the push used.
    let beat = now + Duration::from_secs(30);
    socket.handle_timeout(beat);
    drain(&mut socket);
    let pong = r#"[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]"#;
    socket.handle_message(beat, WireRef::Text(pong));
    drain(&mut socket);
    assert_eq!(socket.last_rtt(), Some(Duration::ZERO));
    assert_eq!(socket.instructions.capacity(), 0);
    assert_eq!(socket.events.capacity(), 0);
    assert_eq!(socket.refs.capacity(), 0);
    assert_eq!(socket.pushes.capacity(), 0);
    assert_eq!(socket.channel_state(ch), Some(ChannelState::Joined));
}
