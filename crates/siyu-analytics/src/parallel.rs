//! Splits a scan over customer slots across the machine's cores with scoped threads.

use std::ops::Range;

/// Runs `work` over contiguous ranges covering `0..slots`, one per core, and returns the parts
/// in range order. Small inputs run on the calling thread.
pub fn over_slots<T: Send>(slots: usize, work: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if threads == 1 || slots < 50_000 {
        return vec![work(0..slots)];
    }
    // More parts than cores evens out parts that happen to hold heavier customers.
    let parts = threads * 4;
    let size = slots.div_ceil(parts);
    let ranges: Vec<Range<usize>> = (0..parts).map(|i| (i * size).min(slots)..((i + 1) * size).min(slots)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(range) = ranges.get(i) else { break };
                        done.push((i, work(range.clone())));
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("scan threads do not panic")).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, part)| part).collect()
}
