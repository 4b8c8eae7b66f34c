//! Feeds arbitrary bytes to both binary decoders. Decoding must never
//! panic, and whatever decodes must re-encode to a frame that decodes to
//! the same value (client frames: to the very same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use phoenix_proto::codec::{
    decode_client_binary, decode_server_binary, encode_client_binary, encode_server_binary,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_server_binary(data) {
        // Every field length came from a length byte, so it fits again.
        let again = encode_server_binary(&frame).expect("a decoded binary frame re-encodes");
        // A push with an empty join_ref comes back as a broadcast, which
        // decodes to the same frame; otherwise the bytes are identical.
        assert_eq!(
            decode_server_binary(&again).expect("the re-encoded frame decodes"),
            frame
        );
    }

    if let Ok(message) = decode_client_binary(data) {
        let again = encode_client_binary(&message).expect("a decoded client frame re-encodes");
        assert_eq!(again, data, "client binary frames re-encode byte for byte");
        assert_eq!(
            decode_client_binary(&again).expect("the re-encoded frame decodes"),
            message
        );
    }
});
