//! The process's resident memory, sampled once a second, and the verdict
//! on whether it stayed flat.
//!
//! The run is cut in fifths by sample: the first fifth is warm-up (the
//! allocator, the runtimes' worker threads and every connection's buffers
//! reach their working size), the second fifth (20%–40%) is the baseline,
//! and the last fifth (80%–100%) is compared to it. Memory is flat when
//! the median of the last fifth is at most the baseline's median times
//! `1 + ratio`, plus `slack` ([`Tolerance`], by default 10% + 2 MiB).
//! Medians, not maxima, because a sample taken during a reconnect storm
//! (hundreds of handshakes' buffers at once) is a peak that passes.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// How much the last fifth may exceed the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// The relative part: 0.10 is 10%.
    pub ratio: f64,
    /// The absolute part, KiB.
    pub slack_kib: u64,
}

impl Default for Tolerance {
    /// 10% + 2 MiB; see the crate docs for why.
    fn default() -> Self {
        Tolerance {
            ratio: 0.10,
            slack_kib: 2048,
        }
    }
}

/// What the samples say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryVerdict {
    /// How many samples.
    pub samples: usize,
    /// The first sample, KiB.
    pub first_kib: u64,
    /// The last sample, KiB.
    pub last_kib: u64,
    /// The largest sample, KiB.
    pub peak_kib: u64,
    /// The median of the samples of the first fifth (warm-up), KiB.
    pub warmup_median_kib: u64,
    /// The median of the samples of the second fifth (20%–40%), KiB.
    pub base_median_kib: u64,
    /// The median of the samples of the last fifth (80%–100%), KiB.
    pub final_median_kib: u64,
    /// The most the last fifth's median may be, KiB.
    pub limit_kib: u64,
    /// Whether the last fifth's median is within the limit.
    pub ok: bool,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl fmt::Display for MemoryVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "median RSS {:.1} MiB in the last 20% against {:.1} MiB in 20%–40% (limit {:.1} MiB); \
             warm-up median {:.1} MiB, first {:.1}, last {:.1}, peak {:.1} MiB, {} samples",
            mib(self.final_median_kib),
            mib(self.base_median_kib),
            mib(self.limit_kib),
            mib(self.warmup_median_kib),
            mib(self.first_kib),
            mib(self.last_kib),
            mib(self.peak_kib),
            self.samples
        )
    }
}

fn median(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    if n % 2 == 1 {
        sorted.get(n / 2).copied()
    } else {
        let low = sorted.get(n / 2 - 1)?;
        let high = sorted.get(n / 2)?;
        Some((low + high) / 2)
    }
}

/// Judges `samples` (KiB, in order). `None` with fewer than 5 samples: too
/// short a run to tell.
pub fn judge(samples: &[u64], tolerance: Tolerance) -> Option<MemoryVerdict> {
    let n = samples.len();
    if n < 5 {
        return None;
    }
    let window = |from: usize, to: usize| median(samples.get(n * from / 5..n * to / 5)?);
    let warmup = window(0, 1)?;
    let base = window(1, 2)?;
    let last = window(4, 5)?;
    let limit = (base as f64 * (1.0 + tolerance.ratio)) as u64 + tolerance.slack_kib;
    Some(MemoryVerdict {
        samples: n,
        first_kib: samples.first().copied().unwrap_or(0),
        last_kib: samples.last().copied().unwrap_or(0),
        peak_kib: samples.iter().copied().max().unwrap_or(0),
        warmup_median_kib: warmup,
        base_median_kib: base,
        final_median_kib: last,
        limit_kib: limit,
        ok: last <= limit,
    })
}

/// This process's resident set size now, KiB (`VmRSS` of `/proc/self/status`).
///
/// # Errors
/// When the file cannot be read or has no `VmRSS` line (not Linux).
pub fn rss_kib() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("no VmRSS in /proc/self/status"))
}

/// Samples [`rss_kib`] on a thread of its own (so a busy runtime does not
/// delay it) until stopped.
#[derive(Debug)]
pub struct Sampler {
    samples: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling now and every `interval`.
    pub fn start(interval: Duration) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let samples = samples.clone();
            let stop = stop.clone();
            thread::Builder::new()
                .name("rss-sampler".into())
                .spawn(move || {
                    let started = std::time::Instant::now();
                    let mut next = started;
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok(kib) = rss_kib() {
                            samples
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(kib);
                        }
                        next += interval;
                        // Short sleeps, so that stopping is prompt.
                        while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < next {
                            thread::sleep(Duration::from_millis(20));
                        }
                    }
                })
                .ok()
        };
        Sampler {
            samples,
            stop,
            thread,
        }
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<u64> {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops sampling and returns every sample.
    pub fn stop(mut self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.samples()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_the_fifths() {
        // 10 samples: warm-up 0..2, base 2..4, last 8..10.
        let samples = [100, 900, 10, 20, 50, 50, 50, 50, 30, 31];
        let verdict = judge(&samples, Tolerance::default()).unwrap();
        assert_eq!(verdict.warmup_median_kib, 500);
        assert_eq!(verdict.base_median_kib, 15);
        assert_eq!(verdict.final_median_kib, 30);
        assert_eq!(verdict.limit_kib, 16 + 2048);
        assert!(verdict.ok);
        assert_eq!(verdict.peak_kib, 900);
        assert_eq!((verdict.first_kib, verdict.last_kib), (100, 31));
        assert!(judge(&[1, 2, 3, 4], Tolerance::default()).is_none());
    }

    #[test]
    fn a_peak_in_the_last_fifth_passes_but_a_plateau_does_not() {
        let tolerance = Tolerance {
            ratio: 0.10,
            slack_kib: 0,
        };
        let mut samples = vec![1000_u64; 50];
        samples[45] = 5000;
        assert!(judge(&samples, tolerance).unwrap().ok);
        for s in &mut samples[40..] {
            *s = 1200;
        }
        let verdict = judge(&samples, tolerance).unwrap();
        assert!(!verdict.ok, "{verdict}");
    }

    #[test]
    fn reads_and_samples_its_own_memory() {
        assert!(rss_kib().unwrap() > 0);
        let sampler = Sampler::start(Duration::from_millis(10));
        thread::sleep(Duration::from_millis(100));
        let samples = sampler.stop();
        assert!(samples.len() >= 2, "{samples:?}");
    }
}
