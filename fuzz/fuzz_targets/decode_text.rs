//! Feeds arbitrary UTF-8 to every text decoder (v2 arrays and v1 objects,
//! both directions). Decoding must never panic, and whatever decodes must
//! re-encode to a frame that decodes to the same value. The JSON check
//! behind `RawJson` (done by hand, for speed) must give serde_json's verdict
//! on the same text, and the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phoenix_proto::codec::{
    Message, RawJson, Reply, ServerFrame, WireMessage, decode_client_text, decode_client_v1,
    decode_server_text, decode_server_v1, encode_client_v1, encode_message_text,
    encode_server_frame, encode_server_v1,
};

fn check_payloads(frame: &ServerFrame<'_>) {
    let payload = match frame {
        ServerFrame::Reply(r) => &r.response,
        ServerFrame::Message(m) => &m.payload,
    };
    // Deep nesting may fail; it must not panic.
    let _ = payload.deserialize::<serde_json::Value>();
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let ours = RawJson::parse(text).ok();
    let serde = serde_json::from_str::<&serde_json::value::RawValue>(text).ok();
    assert_eq!(
        ours.as_ref().map(RawJson::get),
        serde.map(serde_json::value::RawValue::get),
        "RawJson and serde_json disagree on {text:?}"
    );

    if let Ok(frame) = decode_server_text(text) {
        check_payloads(&frame);
        match encode_server_frame(&frame).expect("a decoded text frame re-encodes") {
            WireMessage::Text(again) => assert_eq!(
                decode_server_text(&again).expect("the re-encoded frame decodes"),
                frame
            ),
            WireMessage::Binary(_) => panic!("a text frame re-encoded as binary"),
        }
    }

    if let Ok(message) = decode_client_text(text) {
        let _ = message.payload.deserialize::<serde_json::Value>();
        let again = encode_message_text(&message).expect("a decoded message re-encodes");
        assert_eq!(
            decode_client_text(&again).expect("the re-encoded message decodes"),
            message
        );
    }

    if let Ok(frame) = decode_server_v1(text) {
        check_payloads(&frame);
        let again = encode_server_v1(&frame).expect("a decoded v1 frame re-encodes");
        // v1 server frames carry no join_ref, so it does not survive.
        let expected = match frame {
            ServerFrame::Reply(r) => ServerFrame::Reply(Reply {
                join_ref: None,
                ..r
            }),
            ServerFrame::Message(m) => ServerFrame::Message(Message {
                join_ref: None,
                ..m
            }),
        };
        assert_eq!(
            decode_server_v1(&again).expect("the re-encoded v1 frame decodes"),
            expected
        );
    }

    if let Ok(message) = decode_client_v1(text) {
        let _ = message.payload.deserialize::<serde_json::Value>();
        let again = encode_client_v1(&message).expect("a decoded v1 message re-encodes");
        assert_eq!(
            decode_client_v1(&again).expect("the re-encoded v1 message decodes"),
            message
        );
    }
});
