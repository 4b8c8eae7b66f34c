//! A map kept as a `Vec` sorted by key.
//!
//! The socket's channel and topic maps hold one or a few entries in most
//! apps (thousands in some), and a B-tree leaf reserves room for eleven:
//! one channel cost eleven channels' worth of memory. A sorted `Vec` holds
//! what it holds (its first allocation is exact), finds a key by binary
//! search, appends ascending keys (channel ids are counters) without a
//! search, and gives its memory back as entries leave. Inserting or
//! removing elsewhere shifts the entries after it, so keep entries small
//! (box large values).

use std::borrow::Borrow;

/// A map from `K` to `V` in a `Vec` sorted by key; see the module docs.
#[derive(Debug)]
pub(crate) struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    /// The value of `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let index = self.find(key).ok()?;
        self.entries.get(index).map(|(_, value)| value)
    }

    /// The value of `key`, to change it.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let index = self.find(key).ok()?;
        self.entries.get_mut(index).map(|(_, value)| value)
    }

    /// Whether `key` has a value.
    pub(crate) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).is_ok()
    }

    /// Sets the value of `key`, returning the one it replaces.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let last_is_smaller = self.entries.last().is_none_or(|(last, _)| *last < key);
        let index = if last_is_smaller {
            self.entries.len()
        } else {
            match self.find(&key) {
                Ok(index) => {
                    let slot = self.entries.get_mut(index).map(|(_, old)| old)?;
                    return Some(std::mem::replace(slot, value));
                }
                Err(index) => index,
            }
        };
        self.reserve_one();
        self.entries.insert(index, (key, value));
        None
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let index = self.find(key).ok()?;
        let (_, value) = self.entries.remove(index);
        self.shrink_after_remove();
        Some(value)
    }

    /// The keys, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(key, _)| key)
    }

    /// The values, in key order.
    #[cfg_attr(not(feature = "api"), allow(dead_code))] // the API layer's router
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, value)| value)
    }

    /// The values, in key order, to change them.
    #[cfg_attr(not(feature = "api"), allow(dead_code))] // the API layer's router
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, value)| value)
    }

    /// How many entries there are.
    #[cfg_attr(not(feature = "api"), allow(dead_code))] // the API layer's router
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    fn find<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries
            .binary_search_by(|(probe, _)| probe.borrow().cmp(key))
    }

    /// Room for one more entry: exactly one for the first, then doubling.
    fn reserve_one(&mut self) {
        let capacity = self.entries.capacity();
        if self.entries.len() == capacity {
            self.entries.reserve_exact(capacity.max(1));
        }
    }

    /// Halves the buffer once it is no more than a quarter full (so a
    /// remove and an insert at the boundary do not both reallocate), and
    /// frees it when the last entry leaves.
    fn shrink_after_remove(&mut self) {
        let len = self.entries.len();
        if len <= self.entries.capacity() / 4 {
            self.entries.shrink_to(len * 2);
        }
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.entries.capacity()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn finds_what_was_inserted_in_any_order() {
        let mut map = VecMap::default();
        for key in [5u64, 1, 9, 3, 7, 2, 8] {
            assert_eq!(map.insert(key, key * 10), None);
        }
        assert_eq!(
            map.keys().copied().collect::<Vec<_>>(),
            [1, 2, 3, 5, 7, 8, 9]
        );
        assert_eq!(map.get(&7), Some(&70));
        assert_eq!(map.get(&4), None);
        assert!(map.contains_key(&1) && !map.contains_key(&10));
        if let Some(value) = map.get_mut(&3) {
            *value = 33;
        }
        assert_eq!(map.iter().nth(2), Some((&3, &33)));
        // Replacing keeps one entry per key.
        assert_eq!(map.insert(5, 55), Some(50));
        assert_eq!(map.keys().count(), 7);
        assert_eq!(map.remove(&5), Some(55));
        assert_eq!(map.remove(&5), None);
        assert_eq!(map.get(&5), None);
    }

    #[test]
    fn borrowed_keys_find_owned_ones() {
        let mut topics: VecMap<Arc<str>, u64> = VecMap::default();
        topics.insert(Arc::from("room:b"), 2);
        topics.insert(Arc::from("room:a"), 1);
        assert_eq!(topics.get("room:a"), Some(&1));
        assert_eq!(topics.remove("room:b"), Some(2));
        assert_eq!(topics.get("room:b"), None);
    }

    #[test]
    fn one_entry_takes_one_slot_and_the_last_to_leave_frees_the_buffer() {
        let mut map = VecMap::default();
        map.insert(1u64, ());
        assert_eq!(map.capacity(), 1);
        assert_eq!(map.remove(&1), Some(()));
        assert_eq!(map.capacity(), 0);
        // Re-inserting after the last entry left works as the first time.
        map.insert(2, ());
        assert_eq!(map.capacity(), 1);
        assert_eq!(map.get(&2), Some(&()));
        assert_eq!(map.get(&1), None);
    }

    #[test]
    fn grows_by_doubling_and_shrinks_after_a_burst() {
        let mut map = VecMap::default();
        for key in 0..1000u64 {
            map.insert(key, key);
        }
        assert!(map.capacity() >= 1000 && map.capacity() < 2000);
        for key in 0..990u64 {
            assert_eq!(map.remove(&key), Some(key));
            assert!(map.capacity() <= 4 * map.keys().count().max(1) + 4);
        }
        assert_eq!(
            map.keys().copied().collect::<Vec<_>>(),
            (990..1000).collect::<Vec<_>>()
        );
        // Churn at a boundary does not reallocate on every call.
        let capacity = map.capacity();
        for _ in 0..100 {
            map.insert(2000, 0);
            map.remove(&2000);
        }
        assert_eq!(map.capacity(), capacity);
        for key in 990..1000u64 {
            map.remove(&key);
        }
        assert_eq!(map.capacity(), 0);
    }
}
