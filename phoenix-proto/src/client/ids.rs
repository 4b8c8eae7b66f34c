//! Handles that name things the state machine tracks.

use std::fmt;

/// Names a channel on one [`Socket`](super::Socket). Ids are never reused
/// within a socket, so a stale id is simply unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub(crate) u64);

/// Names one push. Its outcome arrives as [`Event::PushDone`](super::Event::PushDone)
/// with the same id, exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PushId(pub(crate) u64);

impl ChannelId {
    /// The number behind the id (for logs).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl PushId {
    /// The number behind the id (for logs).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "channel#{}", self.0)
    }
}

impl fmt::Display for PushId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "push#{}", self.0)
    }
}

/// A ref: the number on every frame the socket sends (`ref` on the wire),
/// counted socket-wide from 1 and never reused, so that a reply finds what
/// it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Ref(u64);

/// A join ref: the [`Ref`] of a channel's join, which every later frame of
/// that join carries (`join_ref` on the wire) so that frames of an earlier
/// join of the same topic can be told apart and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct JoinRef(Ref);

impl Ref {
    /// The value before the first ref; [`next`](Self::next) of it is `1`.
    pub(crate) const NONE_YET: Ref = Ref(0);

    /// The ref after this one.
    pub(crate) fn next(self) -> Ref {
        Ref(self.0.saturating_add(1))
    }

    /// Reads a ref from the wire. Only the exact text the socket sends
    /// matches: decimal digits without sign or leading zeros.
    pub(crate) fn parse(text: &str) -> Option<Ref> {
        let canonical = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'));
        if !canonical {
            return None;
        }
        text.parse().ok().map(Ref)
    }
}

impl JoinRef {
    /// The join ref of the join sent with `join`.
    pub(crate) fn of_join(join: Ref) -> JoinRef {
        JoinRef(join)
    }

    /// The ref of the join message itself.
    pub(crate) fn join(self) -> Ref {
        self.0
    }

    /// Reads a join ref from the wire (as [`Ref::parse`]).
    pub(crate) fn parse(text: &str) -> Option<JoinRef> {
        Ref::parse(text).map(JoinRef)
    }
}

impl Ref {
    /// The number the wire form writes in decimal.
    pub(crate) fn number(self) -> u64 {
        self.0
    }
}

impl JoinRef {
    /// The number the wire form writes in decimal.
    pub(crate) fn number(self) -> u64 {
        self.0.number()
    }
}

impl super::counter_map::Counter for PushId {
    fn index(self) -> u64 {
        self.0
    }
    fn from_index(index: u64) -> Self {
        PushId(index)
    }
}

impl super::counter_map::Counter for Ref {
    fn index(self) -> u64 {
        self.0
    }
    fn from_index(index: u64) -> Self {
        Ref(index)
    }
}

/// The wire form: the number, as the server echoes it back.
impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The wire form: the number, as the server echoes it back.
impl fmt::Display for JoinRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_count_from_one_and_show_as_on_the_wire() {
        let first = Ref::NONE_YET.next();
        assert_eq!(first.to_string(), "1");
        assert_eq!(first.next().to_string(), "2");
        assert_eq!(JoinRef::of_join(first).to_string(), "1");
        assert_eq!(JoinRef::of_join(first).join(), first);
    }

    #[test]
    fn numbers_are_what_the_wire_text_shows() {
        assert_eq!(Ref(42).number(), 42);
        assert_eq!(JoinRef(Ref(7)).number(), 7);
        assert_eq!(Ref(42).number().to_string(), Ref(42).to_string());
    }

    #[test]
    fn only_the_exact_wire_text_parses() {
        assert_eq!(Ref::parse("12"), Some(Ref(12)));
        assert_eq!(JoinRef::parse("7"), Some(JoinRef(Ref(7))));
        for bad in [
            "",
            "+1",
            "-1",
            "01",
            " 1",
            "1 ",
            "1.0",
            "x",
            "18446744073709551616",
        ] {
            assert_eq!(Ref::parse(bad), None, "{bad:?}");
        }
    }
}
