/* The machine and the mm functions shared between files (include/linux/mm.h, mmzone.h, swap.h). */
#ifndef _LINUX_MM_H
#define _LINUX_MM_H

#include <stdio.h>
#include "memcontrol.h"

/* struct zone: the free lists, and the LRU of pages no group is charged for. */
struct zone {
	spinlock_t lock;
	struct list_head free_list;
	struct list_head free_huge;		/* whole free order-9 blocks (their head frames) */
	unsigned long nr_free;
	unsigned long next_fresh;		/* pfns from here on were never handed out */
	atomic_long nr_compound;		/* huge pages in use, whole (none: nothing to split) */
	struct mem_cgroup_per_zone lruvec;	/* uncharged in-use pages (seed leaks) */
};

/*
 * struct memcg_stock_pcp, mm/memcontrol.c (2.6.33+): charge a CPU took from
 * one group's counters ahead of need, handed out page by page without
 * touching them.  stock_lock is 6.1's local_lock (a per-CPU spinlock, as on
 * PREEMPT_RT): it serializes what runs on this CPU against this data.  Each
 * on its own cache line so CPUs do not share one.
 */
struct memcg_stock_pcp {
	spinlock_t stock_lock;
	struct mem_cgroup *cached;		/* never the root */
	unsigned int nr_pages;
} __attribute__((aligned(64)));

/*
 * struct per_cpu_pages, include/linux/mmzone.h: a CPU's own free frames, so
 * the zone lock is taken once per batch, not per page.  lock is 6.1's
 * pcp->lock (a per-CPU spinlock).  Its pages count as free (PG_buddy here).
 */
struct per_cpu_pages {
	spinlock_t lock;
	int count;
	struct list_head list;
} __attribute__((aligned(64)));

/*
 * A CPU's new pages on their way to the LRU (mm/swap.c): 6.1's
 * cpu_fbatches.lru_add (one folio_batch), lru_add_pvecs[NR_LRU_LISTS] from
 * 2.6.28 to 3.10 (one per list), lru_add_pvecs and lru_add_active_pvecs on
 * 2.6.26.  Each page in one holds a reference and is not PageLRU until its
 * batch moves onto the lists.  lock is cpu_fbatches.lock (a local_lock;
 * get_cpu_var() before).
 */
#define PAGEVEC_SIZE_MAX	31
struct pagevec {
	unsigned int nr;
	struct page *pages[PAGEVEC_SIZE_MAX];
};

struct lru_add_pvecs {
	spinlock_t lock;
	struct pagevec pvec[NR_LRU_LISTS];
} __attribute__((aligned(64)));

#define PID_MAX		32768
#define MEMCG_ID_MAX	65534	/* our index; mem_cgroup_id() = index + 1 <= MEM_CGROUP_ID_MAX (65535) */
#define OOM_LOG_MAX	64	/* kill records kept until Python reads them; older ones drop */

/* The emulated machine: everything the kernel keeps in globals. */
struct machine {
	int kernel;				/* enum emu_kernel */
	int thp;				/* enum emu_thp: /sys/kernel/mm/transparent_hugepage/enabled */
	int kmem_account;			/* page tables are charged (no cgroup.memory=nokmem) */
	unsigned long nr_pages;
	struct page *mem_map;
	struct page_cgroup *page_cgroup_map;	/* flatmem page_cgroup array, 2.6.27+ */
	struct zone zone;
	struct page *zero_page;

	unsigned long nr_swap;
	_Atomic unsigned short *swap_map;	/* PTE, shmem and swap-cache references to each slot */
	struct page **swap_cache;		/* swap_address_space(): the page each slot caches, under swap_lock */
	_Atomic unsigned short *swap_cgroup;	/* id of the group charged for the slot */
	spinlock_t swap_lock;
	unsigned long swap_cursor;
	atomic_long nr_swap_free;

	spinlock_t memcg_lock;
	struct mem_cgroup *memcgs[MEMCG_ID_MAX + 1];
	int nr_memcg_ids;

	struct rw_semaphore tasklist_lock;
	struct task_struct *tasks[PID_MAX];
	int next_pid;

	/*
	 * The deferred split queue (struct deferred_split, mm/huge_memory.c):
	 * huge pages partly unmapped, linked through their third frame's lru
	 * (6.1's page[2].deferred_list).  One queue; the shrinker takes the
	 * pages charged to the group it shrinks.
	 */
	spinlock_t split_queue_lock;
	struct list_head split_queue;
	_Atomic unsigned long split_queue_len;	/* read unlocked by the shrinker */

	spinlock_t files_lock;
	struct list_head files;			/* every address_space, named and shmem */
	spinlock_t anon_vma_lock;
	struct list_head anon_vmas;		/* freed with the machine: rmap walks may race an unmap */

	/* struct move_charge_struct mc, mm/memcontrol.c: the one upstream move in flight */
	pthread_mutex_t mc_lock;
	pthread_cond_t mc_waitq;
	struct mem_cgroup *mc_from, *mc_to;
	pthread_t mc_moving_task;
	int mc_active;
	int mc_waiters;				/* chargers waiting on mc_waitq now */
	unsigned long mc_wakeups;		/* wake_up_all(&mc.waitq) calls */

	/* run_on work: its sleeps (struct emu_work), watched by emu_wait_blocked_or_done() */
	pthread_mutex_t work_lock;
	pthread_cond_t work_changed;

	/* cgroup_mutex, kernel/cgroup.c: held across attach; checked for self-deadlock */
	pthread_mutex_t cgroup_mutex;
	spinlock_t cgroup_mutex_state;		/* guards the owner fields and deadlock */
	int cgroup_mutex_held, cgroup_mutex_frame, cgroup_mutex_nest;
	pthread_t cgroup_mutex_owner;
	char cgroup_mutex_where[64];
	struct emu_deadlock deadlock;

	pthread_mutex_t oom_lock;		/* oom_lock, mm/oom_kill.c: one OOM kill at a time */

	spinlock_t moves_lock;
	struct list_head moves;			/* in-flight moves: their pages are isolated */

	spinlock_t oom_log_lock;
	struct emu_oom_record oom_log[OOM_LOG_MAX];	/* kills not yet read into dmesg */
	int oom_log_len;

	atomic_int bug;
	char bug_msg[256];
	void *resched_handle;
	atomic_long resched_fail;
	atomic_int tracing;			/* emu/trace.h: emit points are live */
	struct emu_trace *trace;

	int nr_cpus;
	struct per_cpu_pages *pcp;		/* one per CPU */
	int pcp_batch, pcp_high;		/* zone_batchsize(); high = 6 * batch */
	struct memcg_stock_pcp *memcg_stock;	/* one per CPU */
	struct lru_add_pvecs *lru_add;		/* one per CPU */
	unsigned int pagevec_size;		/* PAGEVEC_SIZE of the profile */
};

/* smp_processor_id(): the CPU of the task the calling thread runs (set on entry). */
extern __thread int current_cpu;
static inline int smp_processor_id(void) { return current_cpu; }

static inline unsigned long page_to_pfn(struct page *page)
{
	return (unsigned long)(page - cur_machine->mem_map);
}

static inline struct page *pfn_to_page(unsigned long pfn)
{
	return cur_machine->mem_map + pfn;
}

/* lookup_page_cgroup(), mm/page_cgroup.c (2.6.27 flatmem): one per frame. */
static inline struct page_cgroup *lookup_page_cgroup(struct page *page)
{
	return &cur_machine->page_cgroup_map[page_to_pfn(page)];
}

/* lock_page_cgroup(), mm/memcontrol.c 2.6.26: bit spinlock on page->page_cgroup. */
static inline void lock_page_cgroup(struct page *page)
{
	bit_spin_lock(PAGE_CGROUP_LOCK_BIT, &page->page_cgroup);
}

static inline void unlock_page_cgroup(struct page *page)
{
	bit_spin_unlock(PAGE_CGROUP_LOCK_BIT, &page->page_cgroup);
}

/* page_get_page_cgroup(), mm/memcontrol.c 2.6.26 */
static inline struct page_cgroup *page_get_page_cgroup(struct page *page)
{
	return (struct page_cgroup *)(atomic_load_explicit(&page->page_cgroup, memory_order_acquire) &
				      ~((uintptr_t)1 << PAGE_CGROUP_LOCK_BIT));
}

/* The group a page is charged to, or NULL (page_memcg(), 5.x). */
static inline struct mem_cgroup *page_memcg(struct page *page)
{
	struct page_cgroup *pc = page_get_page_cgroup(page);

	return pc ? pc->mem_cgroup : NULL;
}

/* mem_cgroup_page_lruvec(): the group's lists in the page's zone (there is one zone). */
static inline struct mem_cgroup_per_zone *page_cgroup_zoneinfo(struct mem_cgroup *memcg, struct page *page)
{
	(void)page;
	return memcg ? &memcg->info[0] : &cur_machine->zone.lruvec;
}

/* page_lru(), include/linux/mm_inline.h */
static inline enum lru_list page_lru(struct page *page)
{
	unsigned long flags = atomic_load_explicit(&page->flags, memory_order_relaxed);

	if (flags & (1UL << PG_unevictable))
		return LRU_UNEVICTABLE;
	return (flags & (1UL << PG_swapbacked) ? LRU_INACTIVE_ANON : LRU_INACTIVE_FILE) +
		!!(flags & (1UL << PG_active));
}

/* vm_normal_page(), mm/memory.c: NULL for the zero page. */
static inline struct page *vm_normal_page(struct vm_area_struct *vma, unsigned long addr, pte_t pte)
{
	struct page *page = vma->vm_mm->machine->mem_map + pte_pfn(pte);

	(void)addr;
	return page == vma->vm_mm->machine->zero_page ? NULL : page;
}

static inline struct anon_vma *page_anon_vma(struct page *page)
{
	return (struct anon_vma *)(page->mapping & ~PAGE_MAPPING_ANON);
}

static inline struct address_space *page_mapping(struct page *page)
{
	return PageAnon(page) ? NULL : (struct address_space *)page->mapping;
}

/* compound_head(), include/linux/page-flags.h: huge pages are order-9 aligned. */
static inline struct page *compound_head(struct page *page)
{
	return PageTail(page) ? pfn_to_page(page_to_pfn(page) & ~(HPAGE_PMD_NR - 1)) : page;
}

/* page_ref_count() of the page or, for a tail, of its huge page (folio_ref_count()). */
static inline int page_count(struct page *page) { return atomic_load(&compound_head(page)->_count); }
static inline void get_page(struct page *page) { atomic_fetch_add(&compound_head(page)->_count, 1); }

/*
 * page_mapcount(), include/linux/mm.h 6.1: the PTEs mapping this very page,
 * plus, for a part of a huge page, the PMDs mapping all of it.
 */
static inline int page_mapcount(struct page *page)
{
	int n = atomic_load(&page->_mapcount) + 1;

	return PageCompound(page) ? n + compound_mapcount(compound_head(page)) : n;
}

/*
 * page_mapped() (folio_mapped(), 6.1), include/linux/mm.h: does any PTE or
 * PMD map the page -- for a huge page, any of its frames?
 */
static inline int page_mapped(struct page *page)
{
	if (!PageCompound(page))
		return atomic_load(&page->_mapcount) >= 0;
	page = compound_head(page);
	if (compound_mapcount(page))
		return 1;
	for (unsigned long i = 0; i < HPAGE_PMD_NR; i++)
		if (atomic_load(&page[i]._mapcount) >= 0)
			return 1;
	return 0;
}

/* page_deferred_list(): the third frame's lru links a huge page on the deferred split queue. */
static inline struct list_head *page_deferred_list(struct page *head) { return &head[2].lru; }
static inline struct page *deferred_list_page(struct list_head *node)
{
	return list_entry(node, struct page, lru) - 2;
}

/* mm_counter(), include/linux/mm.h 4.5+: which rss counter a mapped page counts in. */
static inline int mm_counter(struct page *page)
{
	struct address_space *mapping = page_mapping(page);

	if (!mapping)
		return MM_ANONPAGES;
	return mapping->shmem ? MM_SHMEMPAGES : MM_FILEPAGES;
}

/* mm/page_alloc.c */
struct page *alloc_page(void);
struct page *alloc_huge_page(void);
struct page *alloc_page_vma(void);
void put_page(struct page *page);
void free_page_to_zone(struct page *page);
void pcp_init(struct machine *m);
void lru_add_init(struct machine *m);	/* mm/swap.c */
void drain_all_pages(struct machine *m);

/* mm/memory.c */
int handle_mm_fault(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr,
		    int write);
void zap_page_range(struct vm_area_struct *vma, unsigned long start, unsigned long end);
int copy_page_range(struct mm_struct *dst, struct mm_struct *src, struct vm_area_struct *vma);
struct pte_table *pte_table_lookup(struct mm_struct *mm, unsigned long addr, int alloc);
void free_pgtables(struct mm_struct *mm);

/* mm/huge_memory.c */
int transhuge_vma_suitable(struct vm_area_struct *vma, unsigned long addr);
int pte_table_empty(struct pte_table *pt);
int do_huge_pmd_anonymous_page(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr,
			       struct pte_table *pt);
int split_huge_page(struct page *head);
int split_huge_pmd(struct pte_table *pt);
void split_huge_pages_of_table(struct pte_table *pt, struct vm_area_struct *vma, unsigned long start,
			       unsigned long end);
struct page *lock_huge_pmd_page(struct pte_table *pt);
void deferred_split_huge_page(struct page *head);
void free_transhuge_page(struct page *head);
unsigned long deferred_split_scan(struct mem_cgroup *memcg, int priority);
#define VM_FAULT_FALLBACK 1

/* mm/rmap.c */
void anon_vma_prepare(struct vm_area_struct *vma);
void anon_vma_link(struct vm_area_struct *vma);
void anon_vma_unlink(struct vm_area_struct *vma);
void page_add_new_anon_rmap(struct page *page, struct vm_area_struct *vma, unsigned long addr, int compound);
void page_add_file_rmap(struct page *page);
void page_dup_rmap(struct page *page, int compound);
void page_remove_rmap(struct page *page, int compound);
int compound_mapcount_update(struct page *head, int delta);
int try_to_unmap(struct page *page, struct mem_cgroup **memcg);
int rmap_walk(struct page *page, int (*one)(struct page *, struct vm_area_struct *, unsigned long, void *),
	      void *arg);
pte_t *page_check_address(struct page *page, struct vm_area_struct *vma, unsigned long address,
			  struct pte_table **ptp);
int page_mlocked_elsewhere(struct page *page);
int page_referenced(struct page *page, struct mem_cgroup *target, unsigned long *vm_flags);

/* mm/mmap.c and mm/mlock.c */
struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr);
int mmap_region(struct mm_struct *mm, unsigned long addr, unsigned long len, unsigned long flags,
		struct address_space *file);
int do_mmap(struct mm_struct *mm, unsigned long len, unsigned long flags,
	    struct address_space *file, unsigned long *addr);
int do_munmap(struct mm_struct *mm, unsigned long start, unsigned long len);
int mmap_write_lock_killable(struct mm_struct *mm, int pid);
int mlock_fixup(struct mm_struct *mm, unsigned long start, unsigned long end);
int madvise_hugepage(struct mm_struct *mm, unsigned long start, unsigned long end, int advice);
void exit_mmap(struct mm_struct *mm);
int dup_mmap(struct mm_struct *mm, struct mm_struct *oldmm);
void mlock_vma_page(struct page *page);
void munlock_vma_page(struct page *page);

/* mm/filemap.c and mm/shmem.c */
struct address_space *file_lookup(struct machine *m, const char *path, int create);
struct address_space *shmem_file_setup(struct machine *m);
void shmem_put(struct address_space *mapping);
int filemap_fault(struct mm_struct *mm, struct address_space *mapping, unsigned long index,
		  struct page **pagep);
int generic_file_write(struct mm_struct *mm, struct address_space *mapping, unsigned long pages);

/* mm/swapfile.c */
long get_swap_page(void);
void swap_duplicate(unsigned long off);
void swap_free(unsigned long off);
int vm_swap_full(void);
void free_swap_and_cache(unsigned long off);
int page_swapped(struct page *page);
int try_to_free_swap(struct page *page);

/* mm/swap_state.c */
long add_to_swap(struct page *page);
int add_to_swap_cache(struct page *page, unsigned long off);
void delete_from_swap_cache(struct page *page);
int remove_swap_cache_mapping(struct page *page, struct mem_cgroup *swap_memcg);
struct page *lookup_swap_cache(unsigned long off);
void free_swap_cache(struct page *page);

/* The task whose fault or write is charging on this thread (0: the writer of a tasks file). */
extern __thread int current_pid;

/* kernel/cgroup.c */
extern __thread int current_task_frame;
int cgroup_lock(struct machine *m, const char *where);
void cgroup_unlock(struct machine *m);

/* mm/oom_kill.c */
int mem_cgroup_out_of_memory(struct mem_cgroup *memcg, int cgroup_locked);
void oom_kill_process(struct machine *m, struct mem_cgroup *memcg, int pid, int exit_now);
int current_task_dying(void);

/* Where this thread's charges report their OOM kills (a fault's or a move's), or NULL. */
#define OOM_MAX_VICTIMS 16
struct oom_report {
	int oom;			/* the OOM killer ran */
	int memcg;			/* id of the group that was out of memory */
	int nr;
	int victims[OOM_MAX_VICTIMS];
};
extern __thread struct oom_report *current_oom_report;
void oom_note(struct mem_cgroup *memcg, int victim);
/* Did this kernel's memcg OOM path take cgroup_lock()?  2.6.26 did; 2.6.29 dropped it. */
static inline int oom_takes_cgroup_lock(struct machine *m)
{
	return m->kernel < EMU_KERNEL_2_6_34;
}
/*
 * Is an anon page uncharged when its last mapping goes (page_remove_rmap()
 * -> mem_cgroup_uncharge_page())?  Before 3.17 ("mm: memcontrol: rewrite
 * uncharge API"); from then on when the page is freed.
 */
static inline int uncharge_at_unmap(struct machine *m)
{
	return m->kernel < EMU_KERNEL_6_1;
}
/*
 * Does a group's "cache" count its anon pages in the swap cache?  From 5.8
 * (memcg NR_FILE_PAGES, which __add_to_swap_cache() raises); before, "cache"
 * counted only pages charged as cache (mem_cgroup_charge_statistics()).
 */
static inline int swapcache_in_cache_stat(struct machine *m)
{
	return m->kernel >= EMU_KERNEL_6_1;
}
int select_bad_process(struct mem_cgroup *memcg);
int mem_cgroup_is_descendant(struct mem_cgroup *memcg, struct mem_cgroup *root);

/* kernel/fork.c and kernel/exit.c */
struct mm_struct *mm_alloc(void);
void mmput(struct mm_struct *mm);
struct mm_struct *get_task_mm(struct task_struct *task);
struct task_struct *find_task_by_pid(struct machine *m, int pid);
void do_exit(struct task_struct *task);
int copy_process(struct task_struct *parent);
struct emu_image;
int do_execve(struct task_struct *task, struct emu_image *img);
int task_new(struct machine *m, struct mem_cgroup *memcg);
unsigned long get_mm_rss(struct mm_struct *mm);
unsigned long get_mm_swapents(struct mm_struct *mm);

/*
 * An in-flight move of one task's charges (custom: the state the seed keeps
 * on its stack, upstream's struct move_charge_struct "mc", and the other
 * policies' bookkeeping).
 */
struct move_ctx {
	struct machine *machine;
	struct task_struct *task;
	struct mm_struct *mm;
	struct mem_cgroup *from, *to;
	struct list_head isolated;		/* targets taken off the LRU, not yet moved */
	struct list_head moved;			/* targets whose charge has moved */
	struct list_head node;			/* on machine->moves */
	unsigned long nr_isolated, nr_moved, nr_leaked, nr_skipped;
	/* seed: which pages of ctx->moved, by position, nr_moved counts (a rollback uncounts them) */
	unsigned char *counted;
	unsigned long nr_listed;
	unsigned long precharge, moved_charge, moved_swap, swap_settled;
	int move_type;				/* upstream: move_charge_at_immigrate bits */
	int oom_cgroup_locked;			/* its OOM path takes cgroup_lock() (seed on 2.6.26) */
	struct oom_report oom;			/* the OOM kills its charges caused */
	/* reserve: the groups whose charge the moved pages still hold, and how much */
	int nr_old;
	struct mem_cgroup *old_memcg[8];
	unsigned long old_pages[8];
};

int move_ctx_oom(struct move_ctx *ctx);

/* mm/pagewalk.c */
struct mm_walk {
	int (*pmd_entry)(struct pte_table *pt, unsigned long addr, unsigned long end,
			 struct mm_walk *walk);
	int (*pte_hole)(unsigned long addr, unsigned long end, struct mm_walk *walk);
	int (*test_walk)(struct vm_area_struct *vma, struct mm_walk *walk);	/* 0: skip the VMA */
	struct mm_struct *mm;
	struct vm_area_struct *vma;
	void *private;
};
int walk_page_range(unsigned long addr, unsigned long end, struct mm_walk *walk);
int walk_page_vmas(struct mm_walk *walk);
int walk_page_vmas_locked(struct mm_walk *walk);

#endif
