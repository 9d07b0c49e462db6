//! The shard lock: a test-and-test-and-set spin lock.
//!
//! A shard is held for a few dozen nanoseconds (one probe, or the insertion
//! of a flow pair), far shorter than a futex sleep and wake-up, so waiters
//! spin. Taking the lock is one atomic compare-and-swap and releasing it one
//! plain store (a `std::sync::Mutex` releases with an atomic swap, to learn
//! whether anyone sleeps), which matters when every packet takes a lock.
//! A waiter spins on a read of the flag (the cache line stays shared until the
//! holder's release) and yields its thread after a while, in case the holder
//! was preempted.
//!
//! The lock is not fair, on purpose: a ticket lock hands the lock to the next
//! waiter in line even when that thread is descheduled, and with more threads
//! than cores every hand-off then waits for a context switch (four threads on
//! two busy cores counting under one lock took 6 s with tickets, 0.03 s
//! without). A long holder that wants to let waiters in pauses between
//! releasing and retaking ([`ShardLock::pause`]).
//!
//! There is no poisoning: a panic while holding a shard leaves no entry
//! half-written (entries are written whole), and the guard's drop releases
//! the lock while unwinding.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// A spin lock over a `T`.
pub(super) struct ShardLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock gives one thread at a time access to the value, as a
// Mutex does; the value only has to be sendable between threads.
unsafe impl<T: Send> Sync for ShardLock<T> {}

/// Access to a locked value; dropping it unlocks.
pub(super) struct ShardGuard<'a, T> {
    lock: &'a ShardLock<T>,
}

impl<T> ShardLock<T> {
    /// An unlocked lock over `value`.
    pub fn new(value: T) -> ShardLock<T> {
        ShardLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Locks, waiting as long as it takes.
    #[inline]
    pub fn lock(&self) -> ShardGuard<'_, T> {
        match self.try_lock() {
            Some(g) => g,
            None => self.lock_contended(),
        }
    }

    #[cold]
    fn lock_contended(&self) -> ShardGuard<'_, T> {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if spins < 128 {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if let Some(g) = self.try_lock() {
                return g;
            }
        }
    }

    /// Waits about as long as a waiter needs to see a release and take the
    /// lock: what a long holder does between releasing and retaking.
    pub fn pause() {
        for _ in 0..32 {
            std::hint::spin_loop();
        }
    }

    /// Locks if the lock is free now.
    #[inline]
    pub fn try_lock(&self) -> Option<ShardGuard<'_, T>> {
        self.locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| ShardGuard { lock: self })
    }
}

impl<T> Deref for ShardGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for ShardGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for ShardGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_and_releases() {
        let l = ShardLock::new(0u64);
        {
            let _g = l.lock();
            assert!(l.try_lock().is_none(), "held");
        }
        assert!(l.try_lock().is_some(), "released on drop");
    }

    #[test]
    fn counts_exactly_under_contention() {
        let l = ShardLock::new(0u64);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50_000 {
                        *l.lock() += 1;
                    }
                });
            }
        });
        assert_eq!(*l.lock(), 200_000);
    }

    #[test]
    fn a_panic_releases_the_lock() {
        let l = ShardLock::new(1u64);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = l.lock();
            panic!("while holding");
        }));
        assert!(r.is_err());
        assert_eq!(*l.lock(), 1);
    }
}
