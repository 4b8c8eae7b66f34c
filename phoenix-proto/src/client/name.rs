//! [`Name`]: the shared text of an event name or a reply status, and the
//! socket's small cache of recent ones ([`Names`]).

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An event name (`"new_msg"`, `"presence_diff"`) or a reply status
/// (`"ok"`, `"error"`): a string that cheaply clones and compares with
/// `&str` and `String`.
///
/// A server sends the same few names over and over; the socket keeps the
/// recent ones and hands out clones, so a message or a reply costs no
/// allocation for its name.
///
/// ```
/// use phoenix_proto::client::Name;
///
/// let event = Name::from("new_msg");
/// assert_eq!(event, "new_msg");
/// assert_eq!(event.as_str(), "new_msg");
/// match event.as_str() {
///     "new_msg" => {}
///     other => panic!("unexpected {other}"),
/// }
/// let owned: String = event.into();
/// assert_eq!(owned, "new_msg");
/// ```
// `Arc<str>` hashes as its text does, as `Borrow<str>` requires.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Arc<str>);

impl Name {
    /// The name's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Self {
        Name(Arc::from(text))
    }
}

impl From<String> for Name {
    fn from(text: String) -> Self {
        Name(Arc::from(text))
    }
}

impl From<Arc<str>> for Name {
    fn from(text: Arc<str>) -> Self {
        Name(text)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> Self {
        name.0.as_ref().to_owned()
    }
}

impl From<Name> for Arc<str> {
    fn from(name: Name) -> Self {
        name.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        *self == *other.0
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        **self == *other.0
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, other: &Name) -> bool {
        **self == *other.0
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Name::from)
    }
}

/// How many recent names a socket keeps.
const SLOTS: usize = 8;

/// A socket's recent names, in a direct-mapped cache: a name's slot comes
/// from its length and its first and last bytes; a different name for the
/// same slot replaces it. Bounded whatever the server sends, and boxed on
/// first use: an idle socket (heartbeats only) keeps one pointer.
#[derive(Debug, Default)]
pub(crate) struct Names {
    slots: Option<Box<[Option<Name>; SLOTS]>>,
}

impl Names {
    /// `text` as a [`Name`]: a clone of the cached one when it is there.
    pub(crate) fn get(&mut self, text: &str) -> Name {
        let bytes = text.as_bytes();
        let mix = bytes.len()
            ^ usize::from(bytes.first().copied().unwrap_or(0))
            ^ (usize::from(bytes.last().copied().unwrap_or(0)) << 1);
        let slots = self.slots.get_or_insert_with(Box::default);
        let Some(slot) = slots.get_mut(mix % SLOTS) else {
            return Name::from(text);
        };
        match slot {
            Some(name) if name.as_str() == text => name.clone(),
            _ => slot.insert(Name::from(text)).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn compares_with_every_string_form() {
        let name = Name::from("ok");
        assert_eq!(name, "ok");
        assert_eq!("ok", name);
        assert_eq!(name, String::from("ok"));
        assert_eq!(String::from("ok"), name);
        assert_eq!(*"ok", name);
        assert_ne!(name, "error");
        assert_eq!(format!("{name} {name:?}"), "ok \"ok\"");
        assert_eq!(String::from(name.clone()), "ok");
        // A set of names answers for a &str.
        let set: HashSet<Name> = [name].into_iter().collect();
        assert!(set.contains("ok"));
    }

    #[test]
    fn serializes_as_a_string() {
        let name = Name::from("presence_diff");
        let json = serde_json::to_string(&name).unwrap_or_default();
        assert_eq!(json, "\"presence_diff\"");
        let back: Name = serde_json::from_str(&json).unwrap_or_else(|_| Name::from(""));
        assert_eq!(back, name);
    }

    #[test]
    fn the_cache_hands_out_clones_of_recent_names() {
        let mut names = Names::default();
        assert!(names.slots.is_none(), "nothing held before the first name");
        let first = names.get("new_msg");
        let again = names.get("new_msg");
        assert!(Arc::ptr_eq(&first.0, &again.0), "a clone, not a new string");
        let ok = names.get("ok");
        assert!(Arc::ptr_eq(&ok.0, &names.get("ok").0));
        // The empty name too.
        assert_eq!(names.get(""), "");
    }

    #[test]
    fn the_cache_stays_bounded_and_right_when_names_collide() {
        let mut names = Names::default();
        // Many distinct names, some with the same slot: each comes back
        // with its own text, and the cache never holds more than its slots.
        for round in 0..3 {
            for i in 0..1_000 {
                let text = format!("event_{i}");
                assert_eq!(names.get(&text), text, "round {round}");
            }
        }
        let held = names.slots.iter().flat_map(|slots| slots.iter().flatten());
        assert!(held.count() <= SLOTS);
    }
}
