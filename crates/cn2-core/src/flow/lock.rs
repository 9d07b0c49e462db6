//! The shard lock: a ticket spin lock.
//!
//! A shard is held for a few dozen nanoseconds (one probe, or the insertion
//! of a flow pair), far shorter than a futex sleep and wake-up, so waiters
//! spin. A thread takes a ticket (one atomic fetch-and-add) and waits until
//! the `serving` counter shows it; the holder releases with a plain store of
//! the next number (a `std::sync::Mutex` releases with an atomic swap, to
//! learn whether anyone sleeps), which matters when every packet takes a
//! lock. Tickets make the lock fair: a long sweep that releases and retakes a
//! shard between chunks lets the waiting lookups in first. A waiter spins on a
//! read (the cache line stays shared until the release) and yields its thread
//! after a while, in case a thread ahead of it was preempted. There is no
//! poisoning: a panic while holding a shard leaves no entry half-written
//! (entries are written whole), and the guard's drop releases the lock while
//! unwinding.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};

/// A ticket spin lock over a `T`.
pub(super) struct ShardLock<T> {
    /// The next ticket to hand out.
    next: AtomicU32,
    /// The ticket whose holder may enter; written only by the holder.
    serving: AtomicU32,
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
            next: AtomicU32::new(0),
            serving: AtomicU32::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Locks, waiting (in ticket order) as long as it takes.
    #[inline]
    pub fn lock(&self) -> ShardGuard<'_, T> {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        if self.serving.load(Ordering::Acquire) != ticket {
            self.wait(ticket);
        }
        ShardGuard { lock: self }
    }

    #[cold]
    fn wait(&self, ticket: u32) {
        let mut spins = 0u32;
        while self.serving.load(Ordering::Acquire) != ticket {
            if spins < 128 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Locks if the lock is free and nobody waits.
    #[inline]
    pub fn try_lock(&self) -> Option<ShardGuard<'_, T>> {
        let serving = self.serving.load(Ordering::Relaxed);
        self.next
            .compare_exchange(
                serving,
                serving.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
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
        // Only the holder writes `serving`, so a load and a store suffice.
        let serving = self.lock.serving.load(Ordering::Relaxed);
        self.lock
            .serving
            .store(serving.wrapping_add(1), Ordering::Release);
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
    fn tickets_wrap_around() {
        let l = ShardLock::new(0u8);
        l.next.store(u32::MAX, Ordering::Relaxed);
        l.serving.store(u32::MAX, Ordering::Relaxed);
        for _ in 0..3 {
            *l.lock() += 1;
        }
        assert!(l.try_lock().is_some());
        assert_eq!(*l.lock(), 3);
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
