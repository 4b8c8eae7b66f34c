//! An event name on its way from a handle to the loop: the short names
//! applications use travel inside the command, with no allocation of their
//! own (a `String` per push was an allocation and a `free`, about 200
//! instructions; BENCHMARKS.md item 29).

use std::fmt;

/// The longest name kept inline; it keeps the whole type at 24 bytes, the
/// size of the `String` it replaces.
const INLINE: usize = 22;

/// An event name, inline when it is at most [`INLINE`] bytes long.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum EventText {
    /// The name's bytes, the first `len` of `bytes`.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// A longer name.
    Heap(Box<str>),
}

impl EventText {
    /// A copy of `text`.
    pub(crate) fn new(text: &str) -> Self {
        let mut bytes = [0; INLINE];
        let fits = bytes
            .get_mut(..text.len())
            .map(|head| head.copy_from_slice(text.as_bytes()))
            .is_some();
        match u8::try_from(text.len()) {
            Ok(len) if fits => EventText::Inline { len, bytes },
            _ => EventText::Heap(text.into()),
        }
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // The bytes are a whole `&str`'s, copied: the check cannot fail
            // (it is what reading them back costs without `unsafe`, about
            // 20 instructions for a short name).
            EventText::Inline { len, bytes } => bytes
                .get(..usize::from(*len))
                .and_then(|name| std::str::from_utf8(name).ok())
                .unwrap_or_default(),
            EventText::Heap(text) => text,
        }
    }
}

impl fmt::Debug for EventText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for EventText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_every_length_read_back_as_they_were() {
        let long = "é".repeat(20);
        for len in 0..=40 {
            let name: String = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
                .chars()
                .take(len)
                .collect();
            let text = EventText::new(&name);
            assert_eq!(text.as_str(), name);
            assert_eq!(matches!(text, EventText::Inline { .. }), len <= INLINE);
        }
        // Multi-byte characters, inline up to 22 bytes (11 of these) and on
        // the heap beyond.
        for chars in 0..=20 {
            let name: String = long.chars().take(chars).collect();
            let text = EventText::new(&name);
            assert_eq!(text.as_str(), name);
            assert_eq!(
                matches!(text, EventText::Inline { .. }),
                name.len() <= INLINE
            );
        }
        assert_eq!(EventText::new("phx_join").to_string(), "phx_join");
        assert_eq!(format!("{:?}", EventText::new("a\"b")), r#""a\"b""#);
        assert_eq!(
            std::mem::size_of::<EventText>(),
            std::mem::size_of::<String>()
        );
    }
}
