//! An event name on its way from a handle to the loop: the short names
//! applications use travel inside the command, with no allocation of their
//! own (a `String` per push was an allocation and a `free`, about 200
//! instructions; BENCHMARKS.md item 29).

use std::fmt;

use compact_str::CompactString;

/// An event name, inline when it is at most 24 bytes long (a
/// [`CompactString`], the size of the `String` it replaces).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EventText(CompactString);

impl EventText {
    /// A copy of `text`.
    pub(crate) fn new(text: &str) -> Self {
        EventText(CompactString::new(text))
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
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

    /// The longest name kept inline.
    const INLINE: usize = 24;

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
            assert_eq!(!text.0.is_heap_allocated(), len <= INLINE);
        }
        // Multi-byte characters, inline up to 24 bytes (12 of these) and on
        // the heap beyond.
        for chars in 0..=20 {
            let name: String = long.chars().take(chars).collect();
            let text = EventText::new(&name);
            assert_eq!(text.as_str(), name);
            assert_eq!(!text.0.is_heap_allocated(), name.len() <= INLINE);
        }
        assert_eq!(EventText::new("phx_join").to_string(), "phx_join");
        assert_eq!(format!("{:?}", EventText::new("a\"b")), r#""a\"b""#);
        assert_eq!(
            std::mem::size_of::<EventText>(),
            std::mem::size_of::<String>()
        );
    }
}
