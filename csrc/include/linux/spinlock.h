/*
 * Locks.  Custom to the emulator: real locks built on C11 atomics and pthreads,
 * with the kernel's names.  spin_is_locked() answers truthfully and
 * lockdep_assert_held() checks it in debug builds.
 */
#ifndef _LINUX_SPINLOCK_H
#define _LINUX_SPINLOCK_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct {
	atomic_int locked;
} spinlock_t;

#define cpu_relax() sched_yield()

static inline void spin_lock_init(spinlock_t *l)
{
	atomic_init(&l->locked, 0);
}

static inline void spin_lock(spinlock_t *l)
{
	for (;;) {
		if (!atomic_exchange_explicit(&l->locked, 1, memory_order_acquire))
			return;
		/* Two cores and preemptible holders: spin briefly, then yield. */
		for (int i = 0; atomic_load_explicit(&l->locked, memory_order_relaxed); i++)
			if (i > 64)
				cpu_relax();
	}
}

static inline int spin_trylock(spinlock_t *l)
{
	return !atomic_exchange_explicit(&l->locked, 1, memory_order_acquire);
}

static inline void spin_unlock(spinlock_t *l)
{
	atomic_store_explicit(&l->locked, 0, memory_order_release);
}

static inline int spin_is_locked(spinlock_t *l)
{
	return atomic_load_explicit(&l->locked, memory_order_relaxed);
}

/* bit_spin_lock(), include/linux/bit_spinlock.h: a lock in one bit of a word. */
static inline void bit_spin_lock(int bitnum, _Atomic uintptr_t *addr)
{
	uintptr_t mask = (uintptr_t)1 << bitnum;

	for (;;) {
		if (!(atomic_fetch_or_explicit(addr, mask, memory_order_acquire) & mask))
			return;
		for (int i = 0; atomic_load_explicit(addr, memory_order_relaxed) & mask; i++)
			if (i > 64)
				cpu_relax();
	}
}

static inline void bit_spin_unlock(int bitnum, _Atomic uintptr_t *addr)
{
	atomic_fetch_and_explicit(addr, ~((uintptr_t)1 << bitnum), memory_order_release);
}

static inline int bit_spin_is_locked(int bitnum, _Atomic uintptr_t *addr)
{
	return !!(atomic_load_explicit(addr, memory_order_relaxed) & ((uintptr_t)1 << bitnum));
}

/* struct rw_semaphore (mmap_sem): a sleeping reader/writer lock. */
struct rw_semaphore {
	pthread_rwlock_t lock;
};

static inline void init_rwsem(struct rw_semaphore *s) { pthread_rwlock_init(&s->lock, NULL); }
static inline void destroy_rwsem(struct rw_semaphore *s) { pthread_rwlock_destroy(&s->lock); }
static inline void down_read(struct rw_semaphore *s) { pthread_rwlock_rdlock(&s->lock); }
static inline void up_read(struct rw_semaphore *s) { pthread_rwlock_unlock(&s->lock); }
static inline void down_write(struct rw_semaphore *s) { pthread_rwlock_wrlock(&s->lock); }
static inline void up_write(struct rw_semaphore *s) { pthread_rwlock_unlock(&s->lock); }

#endif
