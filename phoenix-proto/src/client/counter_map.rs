//! A map keyed by the socket's own counters (push ids, refs): a window of
//! slots indexed by `key - base`.
//!
//! Keys are handed out in increasing order and mostly leave in about the
//! same order (replies follow pushes), so the live keys sit in a window
//! that slides forward. A hash map of them (with a hasher that kept
//! consecutive keys in consecutive buckets, for the cache) filled whole
//! probe groups, so every removal left a tombstone and an insert rehashed
//! the table in place every few hundred pushes (3% of a pipelined push in
//! callgrind), besides hashing and probing on every lookup. Here a lookup
//! is a subtraction and an index, an insert a push at the back, and the
//! slots before the first live key are dropped as it goes.
//!
//! A key that stays while many later ones come and go (a push that is
//! never answered until its timeout) would keep a long window of empty
//! slots alive; when the window is mostly empty, its first live entries
//! move to a small ordered map instead ("stragglers"), so the memory stays
//! proportional to the live entries.

use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;

use super::outbox::shrink_deque;

/// A key made from a counter.
pub(crate) trait Counter: Copy {
    /// The counter.
    fn index(self) -> u64;
    /// The key of a counter.
    fn from_index(index: u64) -> Self;
}

/// The window keeps at least this many slots before it checks how sparse
/// it is.
const MIN_WINDOW: usize = 64;

/// A key this far past the window's end goes to the stragglers instead of
/// stretching the window (counters leave small gaps only).
const MAX_GAP: u64 = 1 << 16;

/// A map from counter keys to `V`; see the module docs.
#[derive(Debug)]
pub(crate) struct CounterMap<K, V> {
    /// Slot `i` holds the value of key `base + i`; the first slot is
    /// always occupied (empty leading slots are dropped).
    window: VecDeque<Option<V>>,
    base: u64,
    /// Occupied slots in the window.
    live: usize,
    /// Entries moved out of a sparse window, and keys far outside it.
    stragglers: BTreeMap<u64, V>,
    key: PhantomData<K>,
}

impl<K, V> Default for CounterMap<K, V> {
    fn default() -> Self {
        CounterMap {
            window: VecDeque::new(),
            base: 0,
            live: 0,
            stragglers: BTreeMap::new(),
            key: PhantomData,
        }
    }
}

impl<K: Counter, V> CounterMap<K, V> {
    /// How many entries there are.
    pub(crate) fn len(&self) -> usize {
        self.live + self.stragglers.len()
    }

    /// Whether the map is empty.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The window slot of `index`, if it falls in the window.
    fn slot(&self, index: u64) -> Option<usize> {
        let offset = usize::try_from(index.checked_sub(self.base)?).ok()?;
        (offset < self.window.len()).then_some(offset)
    }

    /// Sets the value of `key`, returning the one it replaces.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let index = key.index();
        let end = self.base + self.window.len() as u64;
        if index == end && !self.window.is_empty() && self.stragglers.is_empty() {
            // The usual case: the next counter.
            self.window.push_back(Some(value));
            self.live += 1;
            return None;
        }
        self.insert_slow(index, value)
    }

    fn insert_slow(&mut self, index: u64, value: V) -> Option<V> {
        if let Some(old) = self.stragglers.get_mut(&index) {
            return Some(std::mem::replace(old, value));
        }
        if self.window.is_empty() {
            self.base = index;
        }
        if let Some(slot) = self.slot(index) {
            let old = self.window.get_mut(slot)?.replace(value);
            if old.is_none() {
                self.live += 1;
            }
            return old;
        }
        let end = self.base + self.window.len() as u64;
        if index < self.base || index - end > MAX_GAP {
            return self.stragglers.insert(index, value);
        }
        if self.window.capacity() == 0 {
            // One slot first: an idle socket has one ref in flight at a time.
            self.window.reserve_exact(1);
        }
        for _ in end..index {
            self.window.push_back(None);
        }
        self.window.push_back(Some(value));
        self.live += 1;
        None
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: K) -> Option<&V> {
        let index = key.index();
        let in_window = self
            .slot(index)
            .and_then(|slot| self.window.get(slot)?.as_ref());
        // A straggler's key may also fall in the window's range (the window
        // grew over it later): a miss there looks in the stragglers.
        in_window.or_else(|| self.stragglers.get(&index))
    }

    /// The value of `key`, to change it.
    pub(crate) fn get_mut(&mut self, key: K) -> Option<&mut V> {
        let index = key.index();
        let slot = self
            .slot(index)
            .filter(|&slot| self.window.get(slot).is_some_and(Option::is_some));
        match slot {
            Some(slot) => self.window.get_mut(slot)?.as_mut(),
            None => self.stragglers.get_mut(&index),
        }
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove(&mut self, key: K) -> Option<V> {
        let index = key.index();
        let slot = self
            .slot(index)
            .filter(|&slot| self.window.get(slot).is_some_and(Option::is_some));
        let Some(slot) = slot else {
            return self.stragglers.remove(&index);
        };
        let value = if slot == 0 {
            // The usual case (replies in the order of the pushes): one move
            // out of the window, not a take and then a pop.
            let value = self.window.pop_front()??;
            self.base += 1;
            self.trim_front();
            value
        } else {
            self.window.get_mut(slot)?.take()?
        };
        self.live -= 1;
        if self.window.len() > MIN_WINDOW && self.live * 4 < self.window.len() {
            self.move_sparse_front();
        }
        Some(value)
    }

    /// Drops the empty slots before the first live one. Inlined: it runs
    /// on every in-order removal, and when a change elsewhere left it out
    /// of line it cost 14 instructions more a push (BENCHMARKS.md item 29).
    #[inline]
    fn trim_front(&mut self) {
        while let Some(None) = self.window.front() {
            self.window.pop_front();
            self.base += 1;
        }
        if self.window.is_empty() {
            self.base = 0;
        }
    }

    /// The window is mostly empty: its first live entries move to the
    /// stragglers until it is at least a quarter full again.
    #[cold]
    fn move_sparse_front(&mut self) {
        while self.window.len() > MIN_WINDOW && self.live * 4 < self.window.len() {
            let Some(front) = self.window.pop_front() else {
                break;
            };
            if let Some(value) = front {
                self.stragglers.insert(self.base, value);
                self.live -= 1;
            }
            self.base += 1;
            self.trim_front();
        }
    }

    /// Every entry, in key order (for the rare walks over all of them).
    pub(crate) fn entries(&self) -> Vec<(K, &V)> {
        let window = self
            .window
            .iter()
            .zip(self.base..)
            .filter_map(|(value, index)| Some((index, value.as_ref()?)));
        let mut entries: Vec<(u64, &V)> = window.collect();
        if !self.stragglers.is_empty() {
            entries.extend(self.stragglers.iter().map(|(index, value)| (*index, value)));
            entries.sort_unstable_by_key(|(index, _)| *index);
        }
        entries
            .into_iter()
            .map(|(index, value)| (K::from_index(index), value))
            .collect()
    }

    /// Removes every entry (keeps the window's memory).
    pub(crate) fn clear(&mut self) {
        self.window.clear();
        self.stragglers.clear();
        self.live = 0;
        self.base = 0;
    }

    /// Frees the window if it is empty, or halves it if it is mostly
    /// empty; for quiet moments.
    pub(crate) fn release_idle(&mut self) {
        if self.window.is_empty() {
            self.window = VecDeque::new();
        } else {
            shrink_deque(&mut self.window);
        }
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.window.capacity()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct Key(u64);

    impl Counter for Key {
        fn index(self) -> u64 {
            self.0
        }
        fn from_index(index: u64) -> Self {
            Key(index)
        }
    }

    fn keys(map: &CounterMap<Key, u64>) -> Vec<u64> {
        map.entries().into_iter().map(|(key, _)| key.0).collect()
    }

    #[test]
    fn in_order_inserts_and_removes_slide_the_window() {
        let mut map = CounterMap::default();
        for n in 0..1_000 {
            assert_eq!(map.insert(Key(n), n * 10), None);
            if n >= 10 {
                assert_eq!(map.remove(Key(n - 10)), Some((n - 10) * 10));
            }
            assert!(map.window.len() <= 11);
        }
        assert_eq!(map.len(), 10);
        assert_eq!(keys(&map), (990..1_000).collect::<Vec<_>>());
        assert_eq!(map.get(Key(995)), Some(&9_950));
        assert_eq!(map.get(Key(5)), None);
        assert!(map.stragglers.is_empty());
    }

    #[test]
    fn a_key_that_stays_does_not_keep_an_empty_window_alive() {
        let mut map = CounterMap::default();
        map.insert(Key(0), 0);
        for n in 1..100_000 {
            map.insert(Key(n), n);
            map.remove(Key(n));
        }
        assert!(map.window.len() <= MIN_WINDOW + 1, "{}", map.window.len());
        assert_eq!(map.len(), 1);
        assert_eq!(map.get(Key(0)), Some(&0));
        *map.get_mut(Key(0)).unwrap() = 7;
        assert_eq!(map.remove(Key(0)), Some(7));
        assert!(map.is_empty());
    }

    #[test]
    fn out_of_order_removes_and_gaps_keep_every_entry() {
        let mut map = CounterMap::default();
        let mut model = BTreeMap::new();
        // Keys with gaps, removed in a scrambled order, with inserts between.
        let mut next = 0u64;
        for round in 0..2_000u64 {
            next += 1 + round % 3;
            map.insert(Key(next), round);
            model.insert(next, round);
            if round % 2 == 1 {
                let victim = *model
                    .keys()
                    .nth((round as usize * 7) % model.len())
                    .unwrap();
                assert_eq!(map.remove(Key(victim)), model.remove(&victim));
            }
            assert_eq!(map.len(), model.len());
        }
        let got: Vec<(u64, u64)> = map.entries().into_iter().map(|(k, v)| (k.0, *v)).collect();
        let want: Vec<(u64, u64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(got, want, "every entry, in key order");
        for (key, value) in &model {
            assert_eq!(map.get(Key(*key)), Some(value));
        }
    }

    #[test]
    fn old_and_far_keys_go_to_the_stragglers_and_come_back_in_order() {
        let mut map = CounterMap::default();
        map.insert(Key(100), 1);
        map.insert(Key(101), 2);
        assert_eq!(map.insert(Key(50), 3), None, "before the window");
        assert_eq!(map.insert(Key(100 + MAX_GAP * 4), 4), None, "far past it");
        assert_eq!(keys(&map), [50, 100, 101, 100 + MAX_GAP * 4]);
        assert_eq!(map.insert(Key(50), 5), Some(3), "replaced where it is");
        assert_eq!(map.insert(Key(101), 6), Some(2));
        assert_eq!(map.remove(Key(100 + MAX_GAP * 4)), Some(4));
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn a_straggler_inside_a_later_window_is_still_found() {
        let mut map = CounterMap::default();
        map.insert(Key(10), 1);
        map.insert(Key(10 + MAX_GAP * 2), 2); // far: a straggler
        map.remove(Key(10)); // the window is empty now
        map.insert(Key(10 + MAX_GAP * 2 - 5), 3); // a new window just before it
        map.insert(Key(10 + MAX_GAP * 2 + 5), 4); // ...that grows over it
        assert_eq!(map.get(Key(10 + MAX_GAP * 2)), Some(&2));
        assert_eq!(
            keys(&map),
            [MAX_GAP * 2 + 5, MAX_GAP * 2 + 10, MAX_GAP * 2 + 15]
        );
        assert_eq!(map.remove(Key(10 + MAX_GAP * 2)), Some(2));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn clear_and_release_free_the_window() {
        let mut map = CounterMap::default();
        for n in 0..1_000 {
            map.insert(Key(n), n);
        }
        assert!(map.capacity() >= 1_000);
        map.clear();
        assert!(map.is_empty());
        map.release_idle();
        assert_eq!(map.capacity(), 0);
        map.insert(Key(5_000), 1);
        assert_eq!(map.capacity(), 1, "one slot first");
        assert_eq!(keys(&map), [5_000]);
    }
}
