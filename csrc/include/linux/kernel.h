/*
 * The shim that stands in for the kernel's internal headers, split by kind
 * (as tools/testing/vma does):
 *   stubbed    - no-ops here (RCU, preemption, per-cpu);
 *   duplicated - kept in step with the kernel (errno, PAGE_SIZE, unlikely);
 *   custom     - the emulator's own (BUG_ON that never aborts, current machine).
 */
#ifndef _LINUX_KERNEL_H
#define _LINUX_KERNEL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- duplicated ---- */
#define PAGE_SHIFT	12
#define PAGE_SIZE	(1UL << PAGE_SHIFT)
#define PAGE_MASK	(~(PAGE_SIZE - 1))
#define PAGE_ALIGN(x)	(((x) + PAGE_SIZE - 1) & PAGE_MASK)
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
/* min()/max(), include/linux/minmax.h: each argument evaluated once */
#define min(a, b)	({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a < _b ? _a : _b; })
#define max(a, b)	({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a > _b ? _a : _b; })
#define READ_ONCE(x)	atomic_load_explicit(&(x), memory_order_relaxed)
#define SWAP_CLUSTER_MAX 32UL
#define MEM_CGROUP_RECLAIM_RETRIES 5
#define MAX_RECLAIM_RETRIES 16
#define PAGE_ALLOC_COSTLY_ORDER 3
#define DEF_PRIORITY 12

/* ---- stubbed ---- */
#define rcu_read_lock()		do { } while (0)
#define rcu_read_unlock()	do { } while (0)
#define might_sleep()		do { } while (0)

/* ---- custom ---- */
struct machine;

/*
 * BUG_ON() records the first broken assertion on the machine and lets the
 * call return; entry points turn it into an error for Python, so a bug never
 * takes the interpreter down and hypothesis can still shrink it.
 */
void emu_bug(const char *file, int line, const char *cond);
#define BUG_ON(cond) do { if (unlikely(cond)) emu_bug(__FILE__, __LINE__, #cond); } while (0)
#define VM_BUG_ON(cond) BUG_ON(cond)

#ifdef EMU_DEBUG
#define lockdep_assert_held(l) BUG_ON(!spin_is_locked(l))
#else
#define lockdep_assert_held(l) do { } while (0)
#endif

/*
 * The machine of the calling entry point; the kernel has one, we have many.
 * initial-exec: a plain %fs load, not a __tls_get_addr() call per use.
 */
extern __thread struct machine *cur_machine __attribute__((tls_model("initial-exec")));

/* Error text for the Python funnel, set next to a negative errno return. */
int emu_set_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cond_resched(): a preemption point; calls the machine's on_resched hook. */
int cond_resched_phase(int phase, unsigned long pages);

/*
 * fatal_signal_pending(), include/linux/sched/signal.h: asked at every page
 * of a long loop, with the pages done so far; every EMU_SIGNAL_CHECK_PAGES
 * it lets Python run the caller's pending signal handlers (Ctrl-C).
 */
int fatal_signal_pending(unsigned long done);

#endif
