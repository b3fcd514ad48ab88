/* res_counter, page_cgroup and mem_cgroup (include/linux/res_counter.h, memcontrol.h, page_cgroup.h). */
#ifndef _LINUX_MEMCONTROL_H
#define _LINUX_MEMCONTROL_H

#include "../memcg_emu.h"
#include "mm_types.h"

/* struct res_counter, kernel/res_counter.c (2.6.29+, with the parent link for hierarchy). */
struct res_counter {
	unsigned long long usage;
	unsigned long long max_usage;
	unsigned long long limit;
	unsigned long long failcnt;
	spinlock_t lock;
	struct res_counter *parent;
};

#define RESOURCE_MAX ((unsigned long long)EMU_RES_MAX)

void res_counter_init(struct res_counter *counter, struct res_counter *parent);
int res_counter_charge(struct res_counter *counter, unsigned long long val,
		       struct res_counter **limit_fail_at);
void res_counter_uncharge(struct res_counter *counter, unsigned long long val);
void res_counter_charge_nofail(struct res_counter *counter, unsigned long long val);
void res_counter_uncharge_until(struct res_counter *counter, struct res_counter *top,
				unsigned long long val);
int res_counter_set_limit(struct res_counter *counter, unsigned long long limit);
void res_counter_write_limit(struct res_counter *counter, unsigned long long limit);
unsigned long long res_counter_read_usage(struct res_counter *counter);
void res_counter_reset_max(struct res_counter *counter);
void res_counter_reset_failcnt(struct res_counter *counter);

/* page_cgroup flags (include/linux/page_cgroup.h) plus the emulator's WRONG_CHARGE. */
enum {
	PCG_USED,
	PCG_CACHE,		/* charged as page cache (file or shmem) */
	PCG_FILE,		/* on the file LRU (not swap backed) */
	PCG_WRONG_CHARGE,	/* lazy policies: charged to a group its task has left */
	PCG_RECHARGE,		/* lazy-move: under pressure, recharge to the task's group */
	PCG_LEAKED,		/* seed: uncharged by a failed rollback; mem_cgroup = who lost it */
	PCG_DROPPED,		/* 2.6.26: its charge dropped by force_empty or rmdir, so in use uncharged */
};

struct page_cgroup {
	struct mem_cgroup *mem_cgroup;
	struct page *page;
	_Atomic unsigned long flags;
};

#define PAGE_CGROUP_LOCK_BIT 0

#define PcgFlag(pc, bit)	(!!(atomic_load(&(pc)->flags) & (1UL << (bit))))

/* LRU lists (include/linux/mmzone.h) */
enum lru_list {
	LRU_INACTIVE_ANON,
	LRU_ACTIVE_ANON,
	LRU_INACTIVE_FILE,
	LRU_ACTIVE_FILE,
	LRU_UNEVICTABLE,
	NR_LRU_LISTS
};

#define MAX_NR_ZONES 1

/* struct mem_cgroup_per_zone, mm/memcontrol.c 2.6.26: the group's LRU lists in one zone. */
struct mem_cgroup_per_zone {
	spinlock_t lru_lock;
	struct list_head lists[NR_LRU_LISTS];
	unsigned long count[NR_LRU_LISTS];
	/* lru_note_cost(), mm/swap.c 5.9+: pages reclaim wrote out, decayed; under lru_lock */
	unsigned long anon_cost, file_cost;
};

/*
 * struct memcg_vmstats_percpu, mm/memcontrol.c 6.1 (mem_cgroup_stat_cpu,
 * 2.6.26-3.x): a CPU's own statistics of a group, so faults on two CPUs
 * share no counter; a read folds them (memcg_page_state()).
 */
struct memcg_vmstats_percpu {
	atomic_long count[EMU_NR_STATS];
} __attribute__((aligned(64)));

struct mem_cgroup {
	int id;
	struct machine *machine;
	struct res_counter res;
	struct res_counter memsw;		/* memory+swap, 2.6.29+ (do_swap_account) */
	struct mem_cgroup *parent;
	struct mem_cgroup_per_zone info[MAX_NR_ZONES];
	struct memcg_vmstats_percpu *vmstats_percpu;	/* one per CPU */
	int use_hierarchy;
	int dead;				/* rmdir'ed; kept for stale ids */
	atomic_long reserved;			/* bytes an in-flight move holds on this group */
	atomic_long kmem;			/* pages of page tables charged here (memory.kmem.*) */
	atomic_int moving_account;		/* an upstream move is in flight from/to here */
	atomic_int oom_kill_disable;		/* memory.oom_control, 2.6.34+ */
	atomic_int swappiness;			/* memory.swappiness (the root's: vm_swappiness) */
	atomic_long oom_kill;			/* memory_events[MEMCG_OOM_KILL]: its tasks OOM-killed */
};

extern __thread int current_cpu;	/* smp_processor_id() */

/* __mod_memcg_state(), 6.1 (__mem_cgroup_stat_add_safe() before): this CPU's counter only. */
static inline void mem_cgroup_stat_add(struct mem_cgroup *memcg, int idx, long val)
{
	atomic_fetch_add_explicit(&memcg->vmstats_percpu[current_cpu].count[idx], val, memory_order_relaxed);
}

long memcg_page_state(struct mem_cgroup *memcg, int idx);

/* mm/memcontrol.c */
struct mem_cgroup *mem_cgroup_from_task(struct task_struct *p);
struct mem_cgroup *try_get_mem_cgroup_from_mm(struct mm_struct *mm);

enum charge_type { MEM_CGROUP_CHARGE_TYPE_MAPPED, MEM_CGROUP_CHARGE_TYPE_CACHE,
		   MEM_CGROUP_CHARGE_TYPE_SHMEM };

#define CHARGE_OOM	1	/* the memcg OOM killer may run */
#define CHARGE_RECLAIM	2	/* reclaim on failure (__GFP_DIRECT_RECLAIM) */
#define CHARGE_NORETRY	4	/* one reclaim round, no retries, no OOM (__GFP_NORETRY) */

int do_swap_account(struct machine *m);
int mem_cgroup_charge_counters(struct mem_cgroup *memcg, unsigned long nr_pages,
			       struct mem_cgroup **over_limit, int *memsw);
int mem_cgroup_try_charge(struct mem_cgroup *memcg, unsigned long nr_pages, int flags,
			  struct mem_cgroup **over_limit);
void mem_cgroup_commit_charge(struct page *page, struct mem_cgroup *memcg,
			      enum charge_type ctype);
void mem_cgroup_cancel_charge(struct mem_cgroup *memcg, unsigned long nr_pages);
void drain_all_stock(struct mem_cgroup *root);
int mem_cgroup_charge_common(struct page *page, struct mm_struct *mm,
			     struct mem_cgroup *memcg, enum charge_type ctype, int flags);
void mem_cgroup_uncharge_page(struct page *page);
void mem_cgroup_uncharge_unmapped(struct page *page);
int mem_cgroup_commit_charge_lrucare(struct page *page, struct mem_cgroup *memcg, enum charge_type ctype);
int mem_cgroup_drop_page(struct page *page, struct mem_cgroup *memcg);
#define ERR_MEMCG ((struct mem_cgroup *)-1L)
struct mem_cgroup *memcg_kmem_charge_page(struct mm_struct *mm);
void memcg_kmem_uncharge_page(struct machine *m, struct mem_cgroup *memcg);
void page_file_rmap_update(struct page *page, int delta);
void mem_cgroup_swapout(struct page *page, unsigned long swp_off, struct mem_cgroup *task_memcg);
struct mem_cgroup *mem_cgroup_swapin_memcg(struct mm_struct *mm, unsigned long swp_off);
void mem_cgroup_uncharge_swap(struct machine *m, unsigned long swp_off);
unsigned long long mem_cgroup_margin(struct mem_cgroup *memcg);
int mem_cgroup_move_account(struct page *page, struct mem_cgroup *from,
			    struct mem_cgroup *to, int uncharge_from);
unsigned long mem_cgroup_move_account_batch(struct page **pages, unsigned long n,
					    struct mem_cgroup *from, struct mem_cgroup *to);
unsigned long move_take_batch(struct list_head *list, struct page **pages, struct mem_cgroup **memcg);
unsigned long isolate_lru_page_batch(struct page **pages, unsigned long n, int get);
unsigned long trylock_isolate_lru_page_batch(struct page **pages, unsigned long n);
enum { LRU_ADD_UNLOCK = 1, LRU_ADD_TAIL = 2 };
void lru_add_page_batch(struct page **pages, unsigned long n, int mode);
struct mem_cgroup *mem_cgroup_lookup(struct machine *m, int id);

/*
 * mem_cgroup_id(), include/linux/memcontrol.h: the id a swap record keeps.
 * css ids start at 1, so 0 means "no group" and the root (our index 0) is 1.
 */
static inline unsigned short mem_cgroup_id(struct mem_cgroup *memcg)
{
	return (unsigned short)(memcg->id + 1);
}

/* mem_cgroup_from_id(), mm/memcontrol.c: a live group, or NULL for 0 or a removed one. */
static inline struct mem_cgroup *mem_cgroup_from_id(struct machine *m, unsigned short id)
{
	return id ? mem_cgroup_lookup(m, id - 1) : NULL;
}
int mem_cgroup_by_index(struct machine *m, int id, struct mem_cgroup **memcg);

/* mm/vmscan.c and the LRU (mm/swap.c) */
void lru_cache_add(struct page *page);
void lru_cache_add_new_anon(struct page *page);
void lru_add_page(struct page *page);
void lru_add_drain(void);
void lru_add_drain_all(void);
void lru_add_count_batched(struct mem_cgroup *memcg, unsigned long *count);
struct mem_cgroup_per_zone *lock_page_lruvec(struct page *page);
void lru_cache_add_locked(struct mem_cgroup_per_zone *mz, struct page *page);
void del_page_from_lru(struct page *page);
int isolate_lru_page(struct page *page);
void putback_lru_page(struct page *page);
void putback_lru_pages(struct list_head *l);
unsigned long try_to_free_mem_cgroup_pages(struct mem_cgroup *memcg, unsigned long nr_pages);
void rotate_reclaimable_page(struct page *page);
void lru_set_page_flag(struct page *page, int bit, int set);

#endif
