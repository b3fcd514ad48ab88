/*
 * Locks.  Custom to the emulator: real locks built on C11 atomics and pthreads,
 * with the kernel's names.  spin_is_locked() answers truthfully and
 * lockdep_assert_held() checks it in debug builds.
 */
#ifndef _LINUX_SPINLOCK_H
#define _LINUX_SPINLOCK_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include "../memcg_emu.h"

/*
 * A task goes to sleep on @what (enum emu_wait) and wakes (custom to the
 * emulator): run_on work reports it, so a hook can go on once that work
 * sleeps; nothing on other threads.
 */
void emu_sleep_begin(int what);
void emu_sleep_end(void);

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

/* mutex_lock(), kernel/locking/mutex.c: a sleeping lock; @what says what a sleeper waits on. */
static inline void mutex_lock_sleeping(pthread_mutex_t *l, int what)
{
	if (!pthread_mutex_trylock(l))
		return;
	emu_sleep_begin(what);
	pthread_mutex_lock(l);
	emu_sleep_end();
}

/*
 * struct rw_semaphore (mmap_sem): a sleeping reader/writer lock.  A reader
 * does not queue behind a waiting writer (recursive readers stay safe), but
 * down_read_trylock() fails while one waits, as the kernel's does.
 */
struct rw_semaphore {
	pthread_rwlock_t lock;
	atomic_int writers_waiting;
};

/*
 * The rw_semaphores this thread holds (lockdep's held_locks, for these
 * only): a thread about to wait for a writer's hold on a semaphore it holds
 * itself would never wake, and must be told so instead of hanging.
 */
#define MAX_HELD_RWSEMS 8
struct held_rwsems {
	struct rw_semaphore *sem[MAX_HELD_RWSEMS];
	int depth;	/* may pass MAX_HELD_RWSEMS: the deeper ones go unrecorded */
};
extern __thread struct held_rwsems current_held_rwsems;

static inline void rwsem_acquire(struct rw_semaphore *s)
{
	struct held_rwsems *h = &current_held_rwsems;

	if (h->depth < MAX_HELD_RWSEMS)
		h->sem[h->depth] = s;
	h->depth++;
}

static inline void rwsem_release(struct rw_semaphore *s)
{
	struct held_rwsems *h = &current_held_rwsems;
	int n = h->depth < MAX_HELD_RWSEMS ? h->depth : MAX_HELD_RWSEMS;

	for (int i = n - 1; i >= 0; i--) {
		if (h->sem[i] == s) {
			for (; i + 1 < n; i++)
				h->sem[i] = h->sem[i + 1];
			break;
		}
	}
	h->depth--;
}

static inline int rwsem_is_held_by_current(struct rw_semaphore *s)
{
	struct held_rwsems *h = &current_held_rwsems;

	for (int i = 0; i < h->depth && i < MAX_HELD_RWSEMS; i++)
		if (h->sem[i] == s)
			return 1;
	return 0;
}

static inline void init_rwsem(struct rw_semaphore *s)
{
	pthread_rwlock_init(&s->lock, NULL);
	atomic_init(&s->writers_waiting, 0);
}

static inline void destroy_rwsem(struct rw_semaphore *s) { pthread_rwlock_destroy(&s->lock); }

static inline void down_read(struct rw_semaphore *s)
{
	if (pthread_rwlock_tryrdlock(&s->lock)) {
		emu_sleep_begin(EMU_WAIT_MMAP_LOCK);
		pthread_rwlock_rdlock(&s->lock);
		emu_sleep_end();
	}
	rwsem_acquire(s);
}

/* down_read_trylock(), kernel/locking/rwsem.c: fails while a writer holds it or waits for it. */
static inline int down_read_trylock(struct rw_semaphore *s)
{
	if (atomic_load(&s->writers_waiting) || pthread_rwlock_tryrdlock(&s->lock))
		return 0;
	rwsem_acquire(s);
	return 1;
}

static inline void up_read(struct rw_semaphore *s) { rwsem_release(s); pthread_rwlock_unlock(&s->lock); }

static inline void down_write(struct rw_semaphore *s)
{
	if (pthread_rwlock_trywrlock(&s->lock)) {
		atomic_fetch_add(&s->writers_waiting, 1);
		emu_sleep_begin(EMU_WAIT_MMAP_LOCK);
		pthread_rwlock_wrlock(&s->lock);
		emu_sleep_end();
		atomic_fetch_sub(&s->writers_waiting, 1);
	}
	rwsem_acquire(s);
}

static inline void up_write(struct rw_semaphore *s) { rwsem_release(s); pthread_rwlock_unlock(&s->lock); }

/*
 * down_write_killable(), kernel/locking/rwsem.c: where the kernel gives up
 * on a fatal signal, we give up on the one wait that cannot end, for a
 * semaphore this thread already holds: -EDEADLK.
 */
static inline int down_write_killable(struct rw_semaphore *s)
{
	if (rwsem_is_held_by_current(s))
		return -EDEADLK;
	down_write(s);
	return 0;
}

#endif
