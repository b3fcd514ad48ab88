/*
 * memcg-emu: the whole Python-visible C API.  The cffi builder reads this file
 * verbatim as its cdef (preprocessor lines dropped), so keep it to plain
 * declarations.  Every function returns a negative errno on failure and sets
 * the text emu_last_error() returns.
 */
#ifndef _MEMCG_EMU_H
#define _MEMCG_EMU_H

struct machine;
struct move_ctx;

/* Kernel profiles: the version rules a machine follows. */
enum emu_kernel {
	EMU_KERNEL_2_6_26 = 20626,
	EMU_KERNEL_2_6_34 = 20634,
	EMU_KERNEL_2_6_35 = 20635,
	EMU_KERNEL_3_4 = 30400,
	EMU_KERNEL_6_1 = 60100,
	EMU_KERNEL_6_13 = 61300,
};

enum emu_vma_kind {
	EMU_VMA_ANON = 0,
	EMU_VMA_FILE = 1,
	EMU_VMA_SHM = 2,
};

/* transparent_hugepage/enabled */
enum emu_thp {
	EMU_THP_NEVER = 0,
	EMU_THP_MADVISE = 1,
	EMU_THP_ALWAYS = 2,
};

/* madvise() advice the emulator knows (include/uapi/asm-generic/mman-common.h) */
enum { EMU_MADV_HUGEPAGE = 14, EMU_MADV_NOHUGEPAGE = 15 };

/* Per-memcg statistics, local to the group (memory.stat adds the total_ lines). */
enum emu_stat {
	EMU_STAT_CACHE = 0,
	EMU_STAT_RSS,
	EMU_STAT_RSS_HUGE,
	EMU_STAT_SHMEM,
	EMU_STAT_MAPPED_FILE,
	EMU_STAT_SWAP,
	EMU_STAT_PGPGIN,
	EMU_STAT_PGPGOUT,
	EMU_STAT_PGFAULT,
	EMU_STAT_PGMAJFAULT,
	EMU_STAT_INACTIVE_ANON,
	EMU_STAT_ACTIVE_ANON,
	EMU_STAT_INACTIVE_FILE,
	EMU_STAT_ACTIVE_FILE,
	EMU_STAT_UNEVICTABLE,
	EMU_STAT_WRONG_CHARGE,
	EMU_STAT_LEAKED,
	EMU_NR_STATS
};

/* An unlimited res_counter (RESOURCE_MAX). */
#define EMU_RES_MAX 0xffffffffffffffff

/* The cond_resched() points of a move, as on_resched(info).phase names them. */
enum emu_phase {
	EMU_PHASE_WALK = 1,
	EMU_PHASE_ROOM,
	EMU_PHASE_MOVE,
	EMU_PHASE_PUTBACK,
	EMU_PHASE_ROLLBACK,
	EMU_PHASE_PRECHARGE,
};

struct emu_res {
	unsigned long long usage;
	unsigned long long max_usage;
	unsigned long long limit;
	unsigned long long failcnt;
};

/* What a touch did when a charge ended in the memcg OOM killer. */
struct emu_fault_info {
	int oom_victim;			/* pid killed, or 0 */
	int oom_memcg;			/* id of the group that was out of memory */
	unsigned long pages_faulted;
};

#define EMU_MAX_CPUS 1024
int emu_machine_new(unsigned long ram_pages, unsigned long swap_pages, int kernel, int nr_cpus,
		    struct machine **out);
void emu_machine_free(struct machine *m);
int emu_last_error(char *buf, int len);

/* mem_cgroup */
int emu_memcg_create(struct machine *m, int parent_id);
int emu_memcg_destroy(struct machine *m, int id);
/* memsw: 0 for memory, 1 for memory+swap (ENOENT where the kernel does not account swap) */
int emu_memcg_resize_limit(struct machine *m, int id, int memsw, unsigned long long limit);
int emu_memcg_res(struct machine *m, int id, int memsw, struct emu_res *out);
int emu_memcg_reset_max_usage(struct machine *m, int id, int memsw);
int emu_memcg_reset_failcnt(struct machine *m, int id, int memsw);
int emu_memcg_set_oom_kill_disable(struct machine *m, int id, int val);
int emu_memcg_set_swappiness(struct machine *m, int id, int val);	/* steers reclaim (get_scan_count()) */
int emu_memcg_oom_kills(struct machine *m, int id);

/* One memcg OOM kill, as oom_kill_process() reports it (sizes in pages). */
struct emu_oom_record {
	int pid;
	int oom_memcg;			/* id of the group that was out of memory */
	int task_memcg;			/* id of the victim's group */
	int oom_score_adj;
	long points;
	unsigned long total_vm, anon_rss, file_rss, shmem_rss, swapents;
};
/* Move up to max kill records, oldest first, out of the machine's log; how many. */
int emu_oom_log_drain(struct machine *m, struct emu_oom_record *out, int max);
int emu_memcg_force_empty(struct machine *m, int id);
int emu_memcg_stat(struct machine *m, int id, long long *out);
int emu_memcg_set_use_hierarchy(struct machine *m, int id, int val);
int emu_memcg_tasks(struct machine *m, int id, int *pids, int max);
int emu_memcg_reclaim(struct machine *m, int id, unsigned long nr_pages, int retries);

/* tasks and their memory */
int emu_task_new(struct machine *m, int memcg_id);
int emu_task_fork(struct machine *m, int pid);
/*
 * A program's image at execve(): its data (with bss and heap) at the
 * binary's link address, its stack below the top of the address space,
 * the mmap base @mmap_rnd bytes below its usual place (the layout's random
 * draw), and @kernel_pages of kernel objects besides page tables charged as
 * kmem.  On return the two VMAs' start addresses; the caller faults them in.
 */
struct emu_image {
	unsigned long long data_len, stack_len, mmap_rnd;
	unsigned long kernel_pages;
	unsigned long long data_addr, stack_addr;
};
int emu_task_exec(struct machine *m, int pid, struct emu_image *img);	/* img NULL: an empty mm */
int emu_task_exit(struct machine *m, int pid);
int emu_task_memcg(struct machine *m, int pid);
int emu_task_attach(struct machine *m, int pid, int memcg_id);
int emu_task_set_cpu(struct machine *m, int pid, int cpu);
int emu_task_cpu(struct machine *m, int pid);
int emu_drain(struct machine *m);	/* every CPU's per-CPU charge caches */
int emu_task_set_oom_score_adj(struct machine *m, int pid, int adj);
int emu_mmap(struct machine *m, int pid, unsigned long long len, int kind,
	     const char *path, int private_, unsigned long long *addr);
int emu_munmap(struct machine *m, int pid, unsigned long long addr, unsigned long long len);
int emu_mlock(struct machine *m, int pid, unsigned long long addr, unsigned long long len,
	      struct emu_fault_info *info);
int emu_madvise(struct machine *m, int pid, unsigned long long addr, unsigned long long len, int advice);
int emu_machine_set_thp(struct machine *m, int mode);
int emu_machine_set_kmem(struct machine *m, int on);	/* page tables charged as kernel memory */
int emu_memcg_kmem(struct machine *m, int id, unsigned long long *out);	/* bytes */
int emu_touch(struct machine *m, int pid, unsigned long long addr, unsigned long long len,
	      int write, struct emu_fault_info *info);
int emu_file_write(struct machine *m, int pid, const char *path, unsigned long long len,
		   struct emu_fault_info *info);

/* moving a task's charges: the context and the steps each policy is made of */
struct emu_move_stats {
	unsigned long isolated;		/* targets found and taken off the LRU */
	unsigned long moved;		/* pages whose charge moved */
	unsigned long leaked;		/* seed: pages left uncharged by a failed rollback */
	unsigned long skipped;		/* targets that stopped qualifying meanwhile */
	unsigned long precharge;	/* upstream: charge still held on the new group */
	unsigned long moved_swap;
	int nr_victims;			/* tasks the OOM killer took during the move */
	int victims[16];
};

int emu_move_begin(struct machine *m, int pid, int to_id, struct move_ctx **out);
int emu_move_end(struct move_ctx *ctx);
int emu_move_stats(struct move_ctx *ctx, struct emu_move_stats *out);
int emu_move_putback(struct move_ctx *ctx);
int emu_memcg_margin(struct machine *m, int id, unsigned long long *out);
int emu_seed_isolate(struct move_ctx *ctx);
int emu_seed_recharge(struct move_ctx *ctx);
int emu_seed_rollback(struct move_ctx *ctx);
int emu_move_oom_unlocked(struct move_ctx *ctx);	/* seed-2.6.29: the OOM path takes no cgroup_lock */
int emu_reserve_charge(struct move_ctx *ctx);
int emu_reserve_move(struct move_ctx *ctx);
int emu_reserve_cancel(struct move_ctx *ctx);
int emu_half_move(struct move_ctx *ctx);
int emu_lazy_mark(struct move_ctx *ctx, int recharge);
int emu_upstream_can_attach(struct move_ctx *ctx, int move_type);
int emu_upstream_move(struct move_ctx *ctx);
int emu_upstream_clear(struct move_ctx *ctx);
int emu_mc_waiters(struct machine *m);	/* chargers waiting for an upstream move to end */

/* What a thread sleeps on (a kernel task in TASK_UNINTERRUPTIBLE/INTERRUPTIBLE). */
enum emu_wait {
	EMU_WAIT_NONE = 0,
	EMU_WAIT_MC_WAITQ = 1,		/* mem_cgroup_wait_acct_move(): an upstream move in flight */
	EMU_WAIT_CGROUP_MUTEX = 2,
	EMU_WAIT_OOM_LOCK = 3,
	EMU_WAIT_MMAP_LOCK = 4,
	EMU_WAIT_PAGE_LOCK = 5,
};

/*
 * Work run on another CPU from a hook (run_on), on its own host thread:
 * emu_work_begin() makes the calling thread that work on @cpu; its sleeps
 * are counted here, so emu_wait_blocked_or_done() can return once it sleeps
 * again (what on: an enum emu_wait) or has finished (EMU_WAIT_NONE).
 */
struct emu_work {
	int done;
	int sleeping;		/* an enum emu_wait while asleep, else EMU_WAIT_NONE */
	unsigned int sleeps;	/* sleeps begun */
	unsigned int seen;	/* sleeps emu_wait_blocked_or_done() has returned for */
};
int emu_work_begin(struct machine *m, struct emu_work *w, int cpu);
void emu_work_done(struct machine *m, struct emu_work *w);
int emu_wait_blocked_or_done(struct machine *m, struct emu_work *w);

/* memory.move_charge_at_immigrate bits */
enum { EMU_MOVE_ANON = 1, EMU_MOVE_FILE = 2 };

/*
 * benchmarks: the irreducible per-page work of a move, for the throughput
 * limit: read each PTE, find the page, lock its page_cgroup, point it at
 * the other group, unlock.  Returns pages switched; statistics and LRU are
 * left alone, so call it twice (there and back) before anything else.
 */
long emu_bench_min_loop(struct machine *m, int pid, int to_id);

/*
 * cgroup_mutex: the attach path and every cgroup change hold it; a thread
 * that takes it again (the 2.6.26 memcg OOM path under attach) deadlocks
 * the machine, which then refuses every call that needs it (-EDEADLK).
 */
struct emu_deadlock {
	int deadlocked;
	char held_at[64];		/* the function that holds cgroup_mutex */
	char wanted_at[64];		/* the function that wanted it again */
};
int emu_cgroup_lock(struct machine *m, const char *where);
int emu_cgroup_unlock(struct machine *m);
int emu_deadlock_info(struct machine *m, struct emu_deadlock *out);

/*
 * Trace events, off until emu_trace_start(): what a timeline of the machine
 * shows.  B/E slices nest per host thread; every event comes after counter
 * events (EMU_TRACE_USAGE, EMU_TRACE_LIMIT) for each group whose usage or
 * limit changed since the last, so the counters are exact at every event.
 */
enum emu_trace_type {
	EMU_TRACE_MOVE = 1,	/* slice: one pass of a task's charges, move_begin..move_end */
	EMU_TRACE_WALK,		/* slice: seed walk and isolate */
	EMU_TRACE_ROOM,		/* slice: reserve's charge of the whole target */
	EMU_TRACE_PRECHARGE,	/* slice: upstream can_attach, count and precharge */
	EMU_TRACE_MOVE_PAGES,	/* slice: a policy's move step */
	EMU_TRACE_PUTBACK,	/* slice: putback of isolated pages */
	EMU_TRACE_ROLLBACK,	/* slice: undo of a failed or refused move */
	EMU_TRACE_CLEAR,	/* slice: upstream clear (mem_cgroup_clear_mc) */
	EMU_TRACE_BATCH,	/* instant: a cond_resched() point: phase, pages done */
	EMU_TRACE_FAULT,	/* slice: touch, mlock or file write: pid, bytes; pages */
	EMU_TRACE_RECLAIM,	/* slice: try_to_free_mem_cgroup_pages: wanted; reclaimed
				   (the kernel's mm_vmscan_memcg_reclaim_begin/end) */
	EMU_TRACE_SHRINK,	/* instant: one group's LRU pass: scanned, reclaimed
				   (mm_vmscan_lru_shrink_inactive) */
	EMU_TRACE_CHARGE_FAIL,	/* instant: pages, why (enum emu_charge_fail) */
	EMU_TRACE_MC_WAIT,	/* slice: a charger waits on mc.waitq */
	EMU_TRACE_OOM_KILL,	/* instant: victim pid, badness (mark_victim) */
	EMU_TRACE_USAGE,	/* counter: a group's usage in bytes */
	EMU_TRACE_LIMIT,	/* counter: a group's limit in bytes */
	EMU_TRACE_MC_RETRY,	/* instant: mmap_lock busy, the move gives back its precharge (pages) */
};

enum emu_charge_fail {
	EMU_CHARGE_FAIL_NORECLAIM = 0,	/* over the limit, and this charge may not reclaim */
	EMU_CHARGE_FAIL_RETRIES,	/* reclaim gave up after MEM_CGROUP_RECLAIM_RETRIES */
	EMU_CHARGE_FAIL_OOM,		/* ... and the memcg OOM killer is armed */
};

struct emu_trace_event {
	unsigned long long ts_ns;	/* since emu_trace_start() */
	unsigned long long thread;	/* the host thread that emitted it */
	int type;			/* enum emu_trace_type */
	int ph;				/* 'B' begin, 'E' end, 'i' instant, 'C' counter */
	int cpu;			/* emulated CPU */
	int memcg;			/* the group it is about, or -1 */
	long long args[3];
};

int emu_trace_start(struct machine *m);
/* Take up to max of the oldest events out of the machine; returns how many. */
int emu_trace_read(struct machine *m, struct emu_trace_event *buf, int max);
long emu_trace_dropped(struct machine *m);	/* events lost to a full buffer */


/* the invariants the README lists; 0 or -EUCLEAN with the broken one in emu_last_error() */
int emu_check(struct machine *m);

/* cond_resched() hook: C calls emu_py_resched(handle, phase, pages) at each preemption point */
void emu_set_resched_hook(struct machine *m, void *handle);
/*
 * fatal_signal_pending(): the long loops (touch, file writes) ask every
 * EMU_SIGNAL_CHECK_PAGES pages whether the calling thread was interrupted
 * (Ctrl-C); non-zero stops them with -EINTR, what they did so far kept.
 */
#define EMU_SIGNAL_CHECK_PAGES 4096
#ifdef CFFI_CDEF
extern "Python+C" int emu_py_resched(void *handle, int phase, unsigned long pages);
extern "Python+C" int emu_py_signal_pending(void);
#else
int emu_py_resched(void *handle, int phase, unsigned long pages);
int emu_py_signal_pending(void);
#endif

#endif
