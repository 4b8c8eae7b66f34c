//! A small seeded generator (SplitMix64): the soak's every random choice
//! (the fault plan, each channel's pushes and pauses, each socket's
//! backoff jitter) comes from one `--seed`, split into independent streams,
//! so the same seed gives the same plan and the same requests.

use std::time::Duration;

/// SplitMix64: fast, small, and good enough for choosing faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// Stream number `stream` of `seed`: independent of the others and of
    /// how much any other stream was used.
    pub fn stream(seed: u64, stream: u64) -> Rng {
        Rng::new(mix(seed ^ mix(stream.wrapping_add(1).wrapping_mul(GOLDEN))))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A number in `low..high` (`low` when the range is empty).
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low))
    }

    /// A uniform draw in `0.0..1.0`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A duration of `low..high` milliseconds.
    pub fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.between(low, high))
    }

    /// One of `items`, each as likely as its weight; `None` when they are
    /// empty or every weight is 0.
    pub fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> Option<T> {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut draw = self.below(total);
        for (item, weight) in items {
            let weight = u64::from(*weight);
            if draw < weight {
                return Some(*item);
            }
            draw -= weight;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers_and_streams_differ() {
        let a: Vec<u64> = (0..5).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut s1 = Rng::stream(7, 1);
        let mut s1_again = Rng::stream(7, 1);
        let mut s2 = Rng::stream(7, 2);
        let x: Vec<u64> = (0..10).map(|_| s1.next_u64()).collect();
        let y: Vec<u64> = (0..10).map(|_| s1_again.next_u64()).collect();
        let z: Vec<u64> = (0..10).map(|_| s2.next_u64()).collect();
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let n = rng.between(10, 20);
            assert!((10..20).contains(&n));
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(rng.between(5, 5), 5);
        assert_eq!(rng.below(0), 0);
        let mut seen = [0_u32; 3];
        for _ in 0..3_000 {
            let i = rng.weighted(&[(0_usize, 1), (1, 0), (2, 2)]).unwrap();
            seen[i] += 1;
        }
        assert_eq!(seen[1], 0);
        assert!(seen[2] > seen[0]);
        assert_eq!(rng.weighted::<u8>(&[]), None);
    }
}
