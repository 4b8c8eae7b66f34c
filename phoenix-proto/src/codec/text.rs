//! The v2 text format: JSON arrays `[join_ref, ref, topic, event, payload]`.
//!
//! Both directions are here: the client encodes [`Message`]s and decodes
//! [`ServerFrame`]s; a server (our test server, or a fuzz round trip) does
//! the opposite.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::error::{DecodeError, EncodeError, Field};
use super::frame::{Message, PHX_REPLY, Payload, Reply, ServerFrame, WireRefs};
use super::json::{
    CowStr, decimal_len, is_plain, json_kind, object_members, push_json_opt, push_json_str,
    push_quoted_refs, ref_field, string_field,
};
use super::json_check::{next_special, skip_ws, value_extent};
use super::raw_json::RawJson;

/// The members of a reply payload (`{"status": .., "response": ..}`), read
/// in the same pass as the array around it.
enum ReplyMembers<'a> {
    /// The payload is not a JSON object.
    NotAnObject,
    /// The raw `status` and `response` members, if present.
    Members {
        status: Option<&'a RawValue>,
        response: Option<&'a RawValue>,
    },
    /// Both members, read by [`phoenix_reply`]: the status is a plain
    /// string (no escapes), already without its quotes.
    Plain { status: &'a str, response: &'a str },
}

/// Reads one JSON value as [`ReplyMembers`]; any value is accepted, so that
/// a wrong payload becomes a typed error after the other fields are checked.
struct ReplySeed;

impl<'de> DeserializeSeed<'de> for ReplySeed {
    type Value = ReplyMembers<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ReplySeed {
    type Value = ReplyMembers<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut status, mut response) = (None, None);
        // Any key order; unknown members are skipped; the last duplicate wins.
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            match key.0.as_ref() {
                "status" => status = Some(map.next_value::<&'de RawValue>()?),
                "response" => response = Some(map.next_value::<&'de RawValue>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ReplyMembers::Members { status, response })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ReplyMembers::NotAnObject)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ReplyMembers::NotAnObject)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ReplyMembers::NotAnObject)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ReplyMembers::NotAnObject)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ReplyMembers::NotAnObject)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ReplyMembers::NotAnObject)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ReplyMembers::NotAnObject)
    }
}

/// Element 4 of a frame: the raw payload, or, for a server `phx_reply`, the
/// reply's members (so the payload is scanned once, not twice).
enum RawPayload<'a> {
    /// A JSON value's text, checked.
    Raw(&'a str),
    Reply(ReplyMembers<'a>),
}

/// The first five elements of a JSON array, borrowed; later ones are skipped.
struct Elements<'a> {
    head: [Option<&'a RawValue>; 4],
    payload: Option<RawPayload<'a>>,
    count: usize,
}

/// Reads [`Elements`] from `text`; with `replies`, the payload of a
/// `phx_reply` that is an object is read as [`ReplyMembers`].
struct ElementsSeed<'t> {
    text: &'t str,
    replies: bool,
}

/// The first byte of the array element after `raw`, a slice of `text`.
fn next_element_start(text: &str, raw: &RawValue) -> Option<u8> {
    let offset = (raw.get().as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    text.as_bytes()
        .get(offset + raw.get().len()..)?
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b','))
}

impl<'de> DeserializeSeed<'de> for ElementsSeed<'de> {
    type Value = Elements<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ElementsSeed<'de> {
    type Value = Elements<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut head = [None; 4];
        let mut count = 0;
        for slot in &mut head {
            match seq.next_element::<&'de RawValue>()? {
                Some(raw) => {
                    *slot = Some(raw);
                    count += 1;
                }
                None => {
                    return Ok(Elements {
                        head,
                        payload: None,
                        count,
                    });
                }
            }
        }
        let [_, _, _, event] = head;
        // Only an object payload is read as members: anything else is kept
        // raw (and refused later), exactly as a separate pass would.
        let is_reply = self.replies
            && event.is_some_and(|e| {
                next_element_start(self.text, e) == Some(b'{')
                    && string_field(e, Field::Event).is_ok_and(|e| e == PHX_REPLY)
            });
        let payload = if is_reply {
            seq.next_element_seed(ReplySeed)?.map(RawPayload::Reply)
        } else {
            seq.next_element::<&'de RawValue>()?
                .map(|raw| RawPayload::Raw(raw.get()))
        };
        if payload.is_some() {
            count += 1;
            // Extra elements are allowed and ignored, as the server does.
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(Elements {
            head,
            payload,
            count,
        })
    }
}

/// The five fields of a v2 array, still raw.
struct RawFields<'a> {
    join_ref: &'a RawValue,
    msg_ref: &'a RawValue,
    topic: &'a RawValue,
    event: &'a RawValue,
    payload: RawPayload<'a>,
}

fn split_array(text: &str, replies: bool) -> Result<RawFields<'_>, DecodeError> {
    let kind = json_kind(text);
    if kind != "an array" {
        // Still report syntax errors as such: "[" is the only way in.
        return Err(match serde_json::from_str::<IgnoredAny>(text) {
            Err(e) => DecodeError::from_json(&e),
            Ok(_) => DecodeError::NotAnArray { found: kind },
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let elements = ElementsSeed { text, replies }
        .deserialize(&mut de)
        .and_then(|elements| de.end().map(|()| elements))
        .map_err(|e| DecodeError::from_json(&e))?;
    match elements {
        Elements {
            head: [Some(join_ref), Some(msg_ref), Some(topic), Some(event)],
            payload: Some(payload),
            ..
        } => Ok(RawFields {
            join_ref,
            msg_ref,
            topic,
            event,
            payload,
        }),
        Elements { count, .. } => Err(DecodeError::TooFewElements { found: count }),
    }
}

/// The typed fields of a frame, with the payload still as read.
struct Fields<'a> {
    join_ref: Option<Cow<'a, str>>,
    msg_ref: Option<Cow<'a, str>>,
    topic: Cow<'a, str>,
    event: Cow<'a, str>,
    payload: RawPayload<'a>,
}

fn decode_fields(fields: RawFields<'_>) -> Result<Fields<'_>, DecodeError> {
    Ok(Fields {
        join_ref: ref_field(fields.join_ref, Field::JoinRef)?,
        msg_ref: ref_field(fields.msg_ref, Field::Ref)?,
        topic: string_field(fields.topic, Field::Topic)?,
        event: string_field(fields.event, Field::Event)?,
        payload: fields.payload,
    })
}

impl<'de> Deserialize<'de> for ReplyMembers<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ReplySeed.deserialize(deserializer)
    }
}

/// One of the first four elements, as the fast path reads it.
#[derive(Clone, Copy)]
enum Head<'a> {
    Null,
    Str(&'a str),
}

impl<'a> Head<'a> {
    fn into_ref(self) -> Option<Cow<'a, str>> {
        match self {
            Head::Null => None,
            Head::Str(s) => Some(Cow::Borrowed(s)),
        }
    }
}

/// `null`, or a string with no escapes and no control characters (which is
/// then exactly the text between its quotes), starting at `at`.
#[inline]
fn fast_head(text: &str, at: usize) -> Option<(Head<'_>, usize)> {
    let bytes = text.as_bytes();
    match bytes.get(at)? {
        b'n' => (bytes.get(at..at + 4)? == b"null").then_some((Head::Null, at + 4)),
        b'"' => {
            let start = at + 1;
            // Eight bytes at a time: scanning byte by byte was the hottest
            // loop of decoding (perf annotate of the receive benchmark).
            let end = string_end(bytes, start)?;
            (bytes.get(end) == Some(&b'"')).then_some((Head::Str(text.get(start..end)?), end + 1))
        }
        _ => None,
    }
}

/// Where the plain string that starts at `start` may end: [`next_special`]
/// as a call of its own. Inlined into [`fast_split`] four times it cost
/// about 50 instructions a frame more than the call (callgrind of the
/// receive benchmark, BENCHMARKS.md item 28); the copy in the JSON check's
/// `skip_string` stays inlined.
#[inline(never)]
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    next_special(bytes, start)
}

/// The fast path for the frames real servers send: five elements, refs
/// `null` or plain strings, topic and event plain strings. Reads every
/// byte once. `None` means "not that simple": the general path then
/// decodes the frame (or names its error); both give the same result on
/// the frames this one accepts.
fn fast_split(text: &str, replies: bool) -> Option<Fields<'_>> {
    let bytes = text.as_bytes();
    let mut at = skip_ws(bytes, 0);
    if bytes.get(at) != Some(&b'[') {
        return None;
    }
    at += 1;
    let mut head = [Head::Null; 4];
    for slot in &mut head {
        let (value, next) = fast_head(text, skip_ws(bytes, at))?;
        *slot = value;
        at = skip_ws(bytes, next);
        if bytes.get(at) != Some(&b',') {
            return None;
        }
        at += 1;
    }
    let [join_ref, msg_ref, Head::Str(topic), Head::Str(event)] = head else {
        return None;
    };
    // The payload is everything up to the final `]`: if that is exactly one
    // JSON value, the general path would read the same value and then the
    // end of the array. Anything else (extra elements, a syntax error)
    // makes `from_str` fail and takes the general path.
    let mut close = bytes.len().checked_sub(1)?;
    while matches!(bytes.get(close), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        close = close.checked_sub(1)?;
    }
    if bytes.get(close) != Some(&b']') {
        return None;
    }
    let region = text.get(at..close)?;
    let payload = if replies && event == PHX_REPLY && bytes.get(skip_ws(bytes, at)) == Some(&b'{') {
        RawPayload::Reply(match phoenix_reply(region).or_else(|| fast_reply(region)) {
            Some(members) => members,
            None => serde_json::from_str::<ReplyMembers<'_>>(region).ok()?,
        })
    } else {
        RawPayload::Raw(region.get(value_extent(region)?)?)
    };
    Some(Fields {
        join_ref: join_ref.into_ref(),
        msg_ref: msg_ref.into_ref(),
        topic: Cow::Borrowed(topic),
        event: Cow::Borrowed(event),
        payload,
    })
}

/// The fastest path for a reply's payload, in the form Phoenix writes it:
/// `{"response":R,"status":"S"}`, no spaces, `S` a plain string (no
/// escapes, no control characters). `S` is found from the end (it holds no
/// quote, so the last quote but one opens it) and only `R` goes through
/// serde_json, as raw JSON: if `R` is exactly one JSON value, the object is
/// valid and these are its only members, so the general path would give
/// the same. Anything else (another order, spaces, duplicates, an `R` that
/// runs past its value) is `None` and left to [`fast_reply`]. Reading the
/// keys and the status by hand instead of through serde's stream
/// deserializer saved about 550 instructions per reply (callgrind,
/// BENCHMARKS.md item 20).
fn phoenix_reply(region: &str) -> Option<ReplyMembers<'_>> {
    const RESPONSE: &str = "{\"response\":";
    const STATUS: &str = ",\"status\":\"";
    let body = region.strip_prefix(RESPONSE)?.strip_suffix("\"}")?;
    let open = body.rfind('"')?;
    let status = body.get(open + 1..)?;
    if !is_plain(status) {
        return None;
    }
    let response = body.get(..open + 1)?.strip_suffix(STATUS)?;
    let response = response.get(value_extent(response)?)?;
    Some(ReplyMembers::Plain { status, response })
}

/// The fast path for a reply's payload: an object whose keys are plain
/// strings (no escapes), read by hand; serde_json reads only the values
/// (as raw JSON, which also checks them). It gives what
/// [`ReplyMembers`]' visitor gives on the objects it accepts (any key
/// order, unknown members skipped, the last duplicate wins); `None` means
/// "not that simple" and the visitor decides. Reading the object through
/// serde's map visitor was about 4% of a pipelined push (callgrind).
fn fast_reply(region: &str) -> Option<ReplyMembers<'_>> {
    let bytes = region.as_bytes();
    let mut at = skip_ws(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_ws(bytes, at + 1);
    let (mut status, mut response) = (None, None);
    if bytes.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            let (Head::Str(key), next) = fast_head(region, at)? else {
                return None;
            };
            at = skip_ws(bytes, next);
            if bytes.get(at) != Some(&b':') {
                return None;
            }
            at = skip_ws(bytes, at + 1);
            let mut values =
                serde_json::Deserializer::from_str(region.get(at..)?).into_iter::<&RawValue>();
            let value = values.next()?.ok()?;
            at = skip_ws(bytes, at + values.byte_offset());
            match key {
                "status" => status = Some(value),
                "response" => response = Some(value),
                _ => {}
            }
            match bytes.get(at)? {
                b',' => at = skip_ws(bytes, at + 1),
                b'}' => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(bytes, at) == bytes.len()).then_some(ReplyMembers::Members { status, response })
}

/// Splits and types the fields of a v2 array: the fast path, else the
/// general one.
fn split_fields(text: &str, replies: bool) -> Result<Fields<'_>, DecodeError> {
    match fast_split(text, replies) {
        Some(fields) => Ok(fields),
        None => decode_fields(split_array(text, replies)?),
    }
}

/// Turns the members of a reply payload into its status and raw response.
fn reply_from_members(
    members: ReplyMembers<'_>,
) -> Result<(Cow<'_, str>, Payload<'_>), DecodeError> {
    let (status, response) = match members {
        ReplyMembers::Plain { status, response } => {
            return Ok((
                Cow::Borrowed(status),
                Payload::Json(RawJson::trusted(Cow::Borrowed(response))),
            ));
        }
        ReplyMembers::Members { status, response } => (status, response),
        ReplyMembers::NotAnObject => {
            return Err(DecodeError::InvalidField {
                field: Field::Payload,
                expected: "an object with `status` and `response` (a reply)",
            });
        }
    };
    let status = status.ok_or(DecodeError::MissingField {
        field: Field::Status,
    })?;
    let status = string_field(status, Field::Status)?;
    let response = response.ok_or(DecodeError::MissingField {
        field: Field::Response,
    })?;
    Ok((status, Payload::Json(RawJson::from(response))))
}

/// Splits a reply payload into its status and raw response.
/// `payload` is a JSON value's text, already checked.
pub(crate) fn decode_reply_body(payload: &str) -> Result<(Cow<'_, str>, Payload<'_>), DecodeError> {
    if json_kind(payload) != "an object" {
        return reply_from_members(ReplyMembers::NotAnObject);
    }
    // The payload is `{"status": .., "response": ..}` in any key order.
    let [status, response] =
        object_members(payload, ["status", "response"]).map_err(|e| DecodeError::from_json(&e))?;
    reply_from_members(ReplyMembers::Members { status, response })
}

/// Decodes a v2 text frame sent by a server.
///
/// # Errors
/// A [`DecodeError`] naming what is wrong: invalid JSON, not an array, fewer
/// than five elements, a field of the wrong type, or a `phx_reply` whose
/// payload lacks `status` or `response`.
pub fn decode_server_text(text: &str) -> Result<ServerFrame<'_>, DecodeError> {
    let fields = split_fields(text, true)?;
    let (status, response) = match fields.payload {
        RawPayload::Raw(raw) if fields.event != PHX_REPLY => {
            return Ok(ServerFrame::Message(Message {
                join_ref: fields.join_ref,
                msg_ref: fields.msg_ref,
                topic: fields.topic,
                event: fields.event,
                payload: Payload::Json(RawJson::trusted(Cow::Borrowed(raw))),
            }));
        }
        // A phx_reply payload that is not an object stays raw; this refuses
        // it with the same error the reply path gives.
        RawPayload::Raw(raw) => decode_reply_body(raw)?,
        RawPayload::Reply(members) => reply_from_members(members)?,
    };
    Ok(ServerFrame::Reply(Reply {
        join_ref: fields.join_ref,
        msg_ref: fields.msg_ref,
        topic: fields.topic,
        status,
        response,
    }))
}

/// Decodes a v2 text frame sent by a client (what a server does).
///
/// # Errors
/// As [`decode_server_text`], except that `phx_reply` is not special.
pub fn decode_client_text(text: &str) -> Result<Message<'_>, DecodeError> {
    let fields = split_fields(text, false)?;
    let RawPayload::Raw(raw) = fields.payload else {
        // split_array only reads reply members when asked to.
        return Err(DecodeError::PayloadNotJson);
    };
    Ok(Message {
        join_ref: fields.join_ref,
        msg_ref: fields.msg_ref,
        topic: fields.topic,
        event: fields.event,
        payload: Payload::Json(RawJson::trusted(Cow::Borrowed(raw))),
    })
}

fn json_payload<'p>(payload: &'p Payload<'_>) -> Result<&'p str, EncodeError> {
    payload.as_json().ok_or(EncodeError::BinaryNotSupported)
}

/// Encodes a message as a v2 text frame, exactly as the official client
/// writes it (no spaces; the payload's JSON text is copied as it is).
///
/// # Errors
/// [`EncodeError::BinaryNotSupported`] when the payload is binary (use
/// [`encode_client_binary`](super::encode_client_binary)).
pub fn encode_message_text(message: &Message<'_>) -> Result<String, EncodeError> {
    let payload = json_payload(&message.payload)?;
    let (topic, event) = (&*message.topic, &*message.event);
    let join_ref = message.join_ref.as_deref();
    let msg_ref = message.msg_ref.as_deref();
    let quoted = |s: Option<&str>| s.map_or(4, |s| s.len() + 2);
    let mut out = frame_buffer(quoted(join_ref) + quoted(msg_ref), topic, event, payload);
    push_json_opt(&mut out, join_ref);
    out.push(',');
    push_json_opt(&mut out, msg_ref);
    push_frame_tail(&mut out, topic, event, payload);
    Ok(out)
}

/// [`encode_message_text`] for a frame with the socket's own refs: their
/// digits go straight into the frame, with no text to build first.
///
/// # Errors
/// [`EncodeError::BinaryNotSupported`] when the payload is binary.
pub(crate) fn encode_counted_text(
    refs: WireRefs,
    topic: &str,
    event: &str,
    payload: &Payload<'_>,
) -> Result<String, EncodeError> {
    let payload = json_payload(payload)?;
    let quoted = |n: u64| decimal_len(n) + 2;
    let refs_len = refs.join_ref.map_or(4, quoted) + quoted(refs.msg_ref);
    let mut out = frame_buffer(refs_len, topic, event, payload);
    push_quoted_refs(&mut out, refs.join_ref, refs.msg_ref);
    push_frame_tail(&mut out, topic, event, payload);
    Ok(out)
}

/// The buffer of a v2 text frame, holding its opening `[`, given the
/// length of its two refs as written: the exact length when nothing needs
/// escaping (the usual case). A `String` with spare room costs tungstenite
/// an extra allocation when it takes the frame (`Bytes::from` of a `Vec`
/// whose length is not its capacity allocates a shared header); escapes
/// only grow the string.
fn frame_buffer(refs_len: usize, topic: &str, event: &str, payload: &str) -> String {
    let len = 6 + refs_len + topic.len() + 2 + event.len() + 2 + payload.len();
    let mut out = String::with_capacity(len);
    out.push('[');
    out
}

/// The rest of a v2 text frame after its refs: `,topic,event,payload]`.
fn push_frame_tail(out: &mut String, topic: &str, event: &str, payload: &str) {
    out.push(',');
    push_json_str(out, topic);
    out.push(',');
    push_json_str(out, event);
    out.push(',');
    out.push_str(payload);
    out.push(']');
}

/// Encodes a reply as a v2 text frame, the way Phoenix's serializer prints
/// it (`{"response":..,"status":..}`).
///
/// # Errors
/// [`EncodeError::BinaryNotSupported`] when the response is binary.
pub fn encode_reply_text(reply: &Reply<'_>) -> Result<String, EncodeError> {
    let response = json_payload(&reply.response)?;
    let mut out = String::with_capacity(response.len() + reply.topic.len() + 64);
    out.push('[');
    push_json_opt(&mut out, reply.join_ref.as_deref());
    out.push(',');
    push_json_opt(&mut out, reply.msg_ref.as_deref());
    out.push(',');
    push_json_str(&mut out, &reply.topic);
    out.push_str(",\"phx_reply\",{\"response\":");
    out.push_str(response);
    out.push_str(",\"status\":");
    push_json_str(&mut out, &reply.status);
    out.push_str("}]");
    Ok(out)
}

/// Decodes `text` and discards the result; used where only validity matters.
#[cfg(test)]
fn is_valid_server_text(text: &str) -> bool {
    decode_server_text(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_reply_borrowing_everything() {
        let text = r#"["1","2","room:lobby","phx_reply",{"response":{"x":1},"status":"ok"}]"#;
        let ServerFrame::Reply(reply) = decode_server_text(text).unwrap() else {
            panic!("not a reply")
        };
        assert!(matches!(reply.join_ref, Some(Cow::Borrowed("1"))));
        assert!(matches!(reply.topic, Cow::Borrowed("room:lobby")));
        assert_eq!(reply.status, "ok");
        assert_eq!(reply.response.as_json(), Some(r#"{"x":1}"#));
    }

    #[test]
    fn reply_keys_in_any_order_and_any_status() {
        let text = r#"[null,"9","t","phx_reply",{"status":"pending","response":[1,"a"]}]"#;
        let ServerFrame::Reply(reply) = decode_server_text(text).unwrap() else {
            panic!("not a reply")
        };
        assert_eq!(reply.join_ref, None);
        assert_eq!(reply.status, "pending");
        assert_eq!(reply.response.as_json(), Some(r#"[1,"a"]"#));
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let text = r#"[null,null,"room:\"q\"","ev\u0041",{}]"#;
        let ServerFrame::Message(m) = decode_server_text(text).unwrap() else {
            panic!("not a message")
        };
        assert_eq!(m.topic, "room:\"q\"");
        assert_eq!(m.event, "evA");
    }

    #[test]
    fn extra_elements_are_ignored_and_integer_refs_accepted() {
        let text = r#"[1,2,"t","e",{"a":[1,2]},"extra",{"more":true}]"#;
        let ServerFrame::Message(m) = decode_server_text(text).unwrap() else {
            panic!("not a message")
        };
        assert_eq!(m.join_ref.as_deref(), Some("1"));
        assert_eq!(m.msg_ref.as_deref(), Some("2"));
        assert_eq!(m.payload.as_json(), Some(r#"{"a":[1,2]}"#));
    }

    #[test]
    fn malformed_inputs_give_typed_errors() {
        assert!(matches!(
            decode_server_text("this is not json"),
            Err(DecodeError::Json { .. })
        ));
        assert_eq!(
            decode_server_text(r#"{"topic":"x"}"#),
            Err(DecodeError::NotAnArray { found: "an object" })
        );
        assert_eq!(
            decode_server_text(r#"[null,"1","phoenix","heartbeat"]"#),
            Err(DecodeError::TooFewElements { found: 4 })
        );
        assert_eq!(
            decode_server_text(r#"[null,null,5,"e",{}]"#),
            Err(DecodeError::InvalidField {
                field: Field::Topic,
                expected: "a string"
            })
        );
        assert_eq!(
            decode_server_text(r#"[null,"1","t","phx_reply",{"response":{}}]"#),
            Err(DecodeError::MissingField {
                field: Field::Status
            })
        );
        assert!(matches!(
            decode_server_text(r#"[null,"1","t","phx_reply","ok"]"#),
            Err(DecodeError::InvalidField {
                field: Field::Payload,
                ..
            })
        ));
        assert!(matches!(
            decode_server_text(r#"["1","1","t","e",{}"#),
            Err(DecodeError::Json { .. })
        ));
        assert!(matches!(
            decode_server_text(r#"["1","1","t","e",{}] trailing"#),
            Err(DecodeError::Json { .. })
        ));
        assert!(!is_valid_server_text(""));
    }

    /// What a split produced, comparable.
    fn describe(fields: Result<Fields<'_>, DecodeError>) -> String {
        match fields {
            Err(e) => format!("{e:?}"),
            Ok(f) => {
                let payload = match f.payload {
                    RawPayload::Raw(raw) => format!("raw {raw}"),
                    RawPayload::Reply(ReplyMembers::NotAnObject) => "not an object".to_owned(),
                    RawPayload::Reply(ReplyMembers::Members { status, response }) => format!(
                        "status {:?} response {:?}",
                        status.map(RawValue::get),
                        response.map(RawValue::get)
                    ),
                    // The same text as the visitor's: the status with its quotes.
                    RawPayload::Reply(ReplyMembers::Plain { status, response }) => format!(
                        "status {:?} response {:?}",
                        Some(format!("\"{status}\"").as_str()),
                        Some(response)
                    ),
                };
                format!(
                    "{:?} {:?} {:?} {:?} {payload}",
                    f.join_ref, f.msg_ref, f.topic, f.event
                )
            }
        }
    }

    #[test]
    fn fast_path_agrees_with_the_general_path() {
        let frames = [
            r#"["1","6","room:lobby","phx_reply",{"response":{"x":1},"status":"ok"}]"#,
            " [ null ,\t\"1\"\n, \"t\" , \"phx_reply\" , {\"status\":\"ok\",\"response\":[]} ] \n",
            r#"[null,null,"room:lobby","news",{"n":1}]"#,
            r#"["1","1","t","phx_reply","not an object"]"#,
            r#"["1","1","t","phx_reply",{"status":"ok","x":{"y":[1e400]}}]"#,
            r#"["1","1","t","phx_reply",{"response":1,"status":2,"status":"late"}]"#,
            r#"["1","1","t","phx_reply",{}]"#,
            r#"["1","1","t","phx_reply",{ "status" : "ok" , "response" : { "a" : [ 1 , "}" ] } }]"#,
            r#"["1","1","t","phx_reply",{"other":{"status":"no"},"status":"error","response":"x"}]"#,
            r#"["1","1","t","phx_reply",{"st\u0061tus":"ok","response":{}}]"#,
            r#"[null,"1","t","e",5]"#,
        ];
        for text in frames {
            for replies in [true, false] {
                let fast = fast_split(text, replies);
                assert!(fast.is_some(), "fast path declined {text}");
                let general = split_array(text, replies).and_then(decode_fields);
                assert_eq!(
                    describe(fast.ok_or(DecodeError::EmptyBinary)),
                    describe(general)
                );
            }
        }
        // Everything else is left to the general path.
        for text in [
            r#"[1,2,"t","e",{}]"#,
            r#"[null,null,"t\u0041","e",{}]"#,
            r#"[null,null,"t","e",{},"extra"]"#,
            r#"[null,null,"t","e",{}]x"#,
            r#"[null,null,"t","e",{"a":]"#,
            r#"[null,null,"t","e"]"#,
            r#"[null,null,null,"e",{}]"#,
            "[null,null,\"t\u{1}\",\"e\",{}]",
            r#"["1","1","t","phx_reply",{"status":"ok","response":{},}]"#,
            r#"["1","1","t","phx_reply",{"status":"ok" "response":{}}]"#,
            r#"["1","1","t","phx_reply",{"status":"ok","response":tru}]"#,
            r#"["1","1","t","phx_reply",{"status":"ok"}{}]"#,
        ] {
            assert!(fast_split(text, true).is_none(), "fast path took {text}");
        }
    }

    #[test]
    fn replies_with_plain_keys_are_read_by_hand_like_the_visitor_reads_them() {
        fn members<'a>(m: Option<ReplyMembers<'a>>) -> Option<(Option<&'a str>, Option<&'a str>)> {
            match m {
                Some(ReplyMembers::Members { status, response }) => {
                    Some((status.map(RawValue::get), response.map(RawValue::get)))
                }
                Some(ReplyMembers::NotAnObject) => Some((Some("not an object"), None)),
                Some(ReplyMembers::Plain { .. }) => panic!("fast_reply never reads plain"),
                None => None,
            }
        }
        for region in [
            r#"{"status":"ok","response":{"a":[1,"}",{"b":null}]}}"#,
            r#" { "response" : 5 , "status" : "error" } "#,
            r#"{"status":1,"status":"last","extra":[{},[]]}"#,
            "{}",
        ] {
            let by_hand = members(fast_reply(region));
            assert!(by_hand.is_some(), "declined {region}");
            let visitor = members(serde_json::from_str::<ReplyMembers<'_>>(region).ok());
            assert_eq!(by_hand, visitor, "{region}");
        }
        // Escaped keys, a non-object, and anything malformed go to the visitor.
        for region in [
            r#"{"st\u0061tus":"ok"}"#,
            "[1]",
            r#"{"status":"ok",}"#,
            r#"{"status" "ok"}"#,
            r#"{"status":"ok"} x"#,
            r#"{"status":}"#,
            r#"{null:1}"#,
        ] {
            assert!(fast_reply(region).is_none(), "took {region}");
        }
    }

    #[test]
    fn a_plain_frame_is_encoded_without_spare_capacity() {
        let m = Message {
            join_ref: Some("12".into()),
            msg_ref: Some("345".into()),
            topic: "room:lobby".into(),
            event: "new_msg".into(),
            payload: Payload::empty(),
        };
        let text = encode_message_text(&m).unwrap();
        assert_eq!(text, r#"["12","345","room:lobby","new_msg",{}]"#);
        assert_eq!(text.len(), text.capacity(), "no spare room for Bytes::from");
        let escaped = Message {
            join_ref: None,
            topic: "a\"b".into(),
            ..m
        };
        assert_eq!(
            encode_message_text(&escaped).unwrap(),
            r#"[null,"345","a\"b","new_msg",{}]"#
        );
    }

    #[test]
    fn encodes_like_the_official_client() {
        let m = Message {
            join_ref: Some("1".into()),
            msg_ref: Some("1".into()),
            topic: "echo:1".into(),
            event: "phx_join".into(),
            payload: Payload::empty(),
        };
        assert_eq!(
            encode_message_text(&m).unwrap(),
            r#"["1","1","echo:1","phx_join",{}]"#
        );
        let hb = Message {
            join_ref: None,
            msg_ref: Some("13".into()),
            topic: "phoenix".into(),
            event: "heartbeat".into(),
            payload: Payload::empty(),
        };
        assert_eq!(
            encode_message_text(&hb).unwrap(),
            r#"[null,"13","phoenix","heartbeat",{}]"#
        );
    }

    #[test]
    fn reply_encoding_round_trips() {
        let reply = Reply {
            join_ref: Some("17".into()),
            msg_ref: Some("20".into()),
            topic: "room:lobby".into(),
            status: "ok".into(),
            response: Payload::empty(),
        };
        let text = encode_reply_text(&reply).unwrap();
        assert_eq!(
            text,
            r#"["17","20","room:lobby","phx_reply",{"response":{},"status":"ok"}]"#
        );
        assert_eq!(
            decode_server_text(&text).unwrap(),
            ServerFrame::Reply(reply)
        );
    }

    #[test]
    fn replies_in_phoenix_form_agree_with_the_visitor() {
        // Taken by the Phoenix-form path: the visitor must read the same.
        for region in [
            r#"{"response":{"body":"hello"},"status":"ok"}"#,
            r#"{"response":{},"status":"error"}"#,
            r#"{"response":"a \",\"status\":\"no","status":"ok"}"#,
            r#"{"response":[1,{"status":"x"}],"status":""}"#,
            r#"{"response": 5 ,"status":"ok"}"#,
            "{\"response\":null,\"status\":\"caf\u{e9}\"}",
        ] {
            let Some(ReplyMembers::Plain { status, response }) = phoenix_reply(region) else {
                panic!("declined {region}");
            };
            let Ok(ReplyMembers::Members {
                status: Some(v_status),
                response: Some(v_response),
            }) = serde_json::from_str::<ReplyMembers<'_>>(region)
            else {
                panic!("the visitor refused {region}");
            };
            assert_eq!(format!("\"{status}\""), v_status.get(), "{region}");
            assert_eq!(response, v_response.get(), "{region}");
        }
        // Left to the other paths: duplicates, escapes, another order,
        // spaces around the members, a response that is not one value,
        // a status that is not a plain string, truncation.
        for region in [
            r#"{"response":1,"status":"a","status":"ok"}"#,
            r#"{"response":1,"response":2,"status":"ok"}"#,
            r#"{"response":1,"status":"o\u006b"}"#,
            r#"{"status":"ok","response":1}"#,
            r#"{ "response":1,"status":"ok"}"#,
            r#"{"response":1,"status":"ok" }"#,
            r#"{"response":1 2,"status":"ok"}"#,
            r#"{"response":,"status":"ok"}"#,
            r#"{"response":{"a":1,"status":"ok"}"#,
            r#"{"response":1,"status":ok"}"#,
            r#"{"response":1,"status":1}"#,
            "{\"response\":1,\"status\":\"o\u{1}k\"}",
            r#"{"response":1,"status":"}"#,
            r#"{"response":"#,
        ] {
            assert!(phoenix_reply(region).is_none(), "took {region}");
        }
    }
}
