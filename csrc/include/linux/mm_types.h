/* struct page, the page tables, VMAs, mm_struct, task_struct (include/linux/mm_types.h, sched.h). */
#ifndef _LINUX_MM_TYPES_H
#define _LINUX_MM_TYPES_H

#include <stdatomic.h>
#include "kernel.h"
#include "list.h"
#include "spinlock.h"

/* Page flags (include/linux/page-flags.h); PG_anon is the mapping's low bit, as in the kernel. */
enum pageflags {
	PG_locked,
	PG_lru,
	PG_active,
	PG_dirty,
	PG_swapbacked,
	PG_unevictable,
	PG_mlocked,
	PG_reserved,	/* the zero page */
	PG_buddy,	/* on the free list */
	PG_head,	/* first frame of a transparent huge page (compound, order 9) */
	PG_tail,	/* one of its other 511 frames: no count, charge or LRU of its own */
	PG_swapcache,	/* in the swap cache: @private is its slot */
	PG_referenced,	/* reclaim saw it in use once: a second time activates it */
};

#define PAGE_MAPPING_ANON 1UL

struct page {
	_Atomic unsigned long flags;
	atomic_int _count;
	atomic_int _mapcount;		/* -1: not mapped */
	struct list_head lru;		/* lruvec list, isolation list or free list */
	uintptr_t mapping;		/* anon_vma | PAGE_MAPPING_ANON, or address_space */
	unsigned long index;		/* anon: vaddr >> PAGE_SHIFT; file: page offset */
	_Atomic uintptr_t page_cgroup;	/* struct page_cgroup *, bit 0 = PAGE_CGROUP_LOCK_BIT */
	unsigned long private;		/* PG_swapcache: the swap slot (page_private()) */
};

#define PageFlag(page, bit)	(!!(atomic_load(&(page)->flags) & (1UL << (bit))))
#define SetPageFlag(page, bit)	atomic_fetch_or(&(page)->flags, 1UL << (bit))
#define ClearPageFlag(page, bit) atomic_fetch_and(&(page)->flags, ~(1UL << (bit)))
#define TestClearPageFlag(page, bit) \
	(!!(atomic_fetch_and(&(page)->flags, ~(1UL << (bit))) & (1UL << (bit))))
#define TestSetPageFlag(page, bit) \
	(!!(atomic_fetch_or(&(page)->flags, 1UL << (bit)) & (1UL << (bit))))

#define PageLRU(p)		PageFlag(p, PG_lru)
#define PageActive(p)		PageFlag(p, PG_active)
#define PageSwapBacked(p)	PageFlag(p, PG_swapbacked)
#define PageUnevictable(p)	PageFlag(p, PG_unevictable)
#define PageMlocked(p)		PageFlag(p, PG_mlocked)
#define PageReserved(p)		PageFlag(p, PG_reserved)
#define PageAnon(p)		(((p)->mapping & PAGE_MAPPING_ANON) != 0)
#define PageHead(p)		PageFlag(p, PG_head)
#define PageTail(p)		PageFlag(p, PG_tail)
#define PageSwapCache(p)	PageFlag(p, PG_swapcache)

#define HPAGE_PMD_ORDER		9
#define HPAGE_PMD_NR		(1UL << HPAGE_PMD_ORDER)

/* thp_nr_pages(), include/linux/huge_mm.h: the base pages a (head) page stands for. */
static inline unsigned long thp_nr_pages(struct page *page)
{
	return PageHead(page) ? HPAGE_PMD_NR : 1;
}

#define PageCompound(p)	(!!(atomic_load(&(p)->flags) & ((1UL << PG_head) | (1UL << PG_tail))))

/*
 * compound_mapcount_ptr(), include/linux/mm.h: the PMD mappings of a huge
 * page, -1 based.  Tails keep no references of their own (get_page() on a
 * tail takes the head's), so the first tail's _count field holds it, where
 * 6.1 keeps page[1].compound_mapcount.
 */
static inline atomic_int *compound_mapcount_ptr(struct page *head) { return &head[1]._count; }
static inline int compound_mapcount(struct page *head) { return atomic_load(compound_mapcount_ptr(head)) + 1; }

/* get_page_unless_zero(), include/linux/mm.h: no reference to a page already being freed. */
static inline int get_page_unless_zero(struct page *page)
{
	int c = atomic_load(&page->_count);

	while (c > 0)
		if (atomic_compare_exchange_weak(&page->_count, &c, c + 1))
			return 1;
	return 0;
}
static inline int trylock_page(struct page *page) { return !TestSetPageFlag(page, PG_locked); }
static inline void unlock_page(struct page *page) { ClearPageFlag(page, PG_locked); }
/* lock_page(), mm/filemap.c: the kernel sleeps on the bit; we spin as briefly */
static inline void lock_page(struct page *page)
{
	if (trylock_page(page))
		return;
	emu_sleep_begin(EMU_WAIT_PAGE_LOCK);
	while (!trylock_page(page))
		cpu_relax();
	emu_sleep_end();
}

/*
 * pte_t, x86-64 layout: bit 0 present, bit 1 RW, bit 5 accessed (the CPU sets it on
 * every access through the PTE), pfn from bit 12; a swap entry is !present with bit 9.
 */
typedef uint64_t pte_t;
#define _PAGE_PRESENT	0x001ULL
#define _PAGE_RW	0x002ULL
#define _PAGE_ACCESSED	0x020ULL
#define _PAGE_SWP	0x200ULL
#define PTE_PFN_SHIFT	12
#define PTRS_PER_TABLE	512

static inline int pte_none(pte_t pte) { return pte == 0; }
static inline int pte_present(pte_t pte) { return pte & _PAGE_PRESENT; }
static inline int pte_write(pte_t pte) { return !!(pte & _PAGE_RW); }
static inline int pte_young(pte_t pte) { return !!(pte & _PAGE_ACCESSED); }
static inline int is_swap_pte(pte_t pte) { return !pte_present(pte) && (pte & _PAGE_SWP); }
static inline unsigned long pte_pfn(pte_t pte) { return pte >> PTE_PFN_SHIFT; }
static inline unsigned long pte_to_swp_offset(pte_t pte) { return pte >> PTE_PFN_SHIFT; }
/* A PTE a fault installs: young, as the access the fault retries sets the accessed bit. */
static inline pte_t pfn_pte(unsigned long pfn, int write)
{
	return ((pte_t)pfn << PTE_PFN_SHIFT) | _PAGE_PRESENT | _PAGE_ACCESSED | (write ? _PAGE_RW : 0);
}
static inline pte_t swp_entry_to_pte(unsigned long off)
{
	return ((pte_t)off << PTE_PFN_SHIFT) | _PAGE_SWP;
}

/*
 * The last level: 512 PTEs and their split page-table lock
 * (pte_offset_map_lock).  While @huge is set the PMD maps that transparent
 * huge page instead and the PTEs are unused: the table is the one 6.1
 * deposits beside a huge PMD (pgtable_trans_huge_deposit()); ptl is then
 * the PMD lock.
 */
struct pte_table {
	pte_t pte[PTRS_PER_TABLE];
	spinlock_t ptl;
	int huge_write;				/* the huge PMD is writable */
	int huge_young;				/* and accessed (pmd_young()) */
	struct page *huge;
	struct mem_cgroup *memcg;		/* charged the table as kernel memory, or NULL */
};

/* Upper levels: pgd -> pud -> pmd -> pte_table. */
struct pt_dir {
	_Atomic(void *) entry[PTRS_PER_TABLE];
	struct mem_cgroup *memcg;		/* as in pte_table (the pgd is never charged) */
};
typedef _Atomic(void *) pmd_t;

#define PGDIR_SHIFT	39
#define PUD_SHIFT	30
#define PMD_SHIFT	21
#define PMD_SIZE	(1UL << PMD_SHIFT)
#define TASK_SIZE	(1UL << 47)

#define pgd_index(a)	(((a) >> PGDIR_SHIFT) & 511)
#define pud_index(a)	(((a) >> PUD_SHIFT) & 511)
#define pmd_index(a)	(((a) >> PMD_SHIFT) & 511)
#define pte_index(a)	(((a) >> PAGE_SHIFT) & 511)

/* vm_flags */
#define VM_READ		0x0001UL
#define VM_WRITE	0x0002UL
#define VM_SHARED	0x0008UL
#define VM_MAYSHARE	0x0080UL
#define VM_LOCKED	0x2000UL
#define VM_HUGETLB	0x00400000UL
#define VM_HUGEPAGE	0x20000000UL	/* MADV_HUGEPAGE */
#define VM_NOHUGEPAGE	0x40000000UL	/* MADV_NOHUGEPAGE */

struct mm_struct;
struct address_space;

/* anon_vma as in 2.6.26: a lock and the list of VMAs whose anon pages it covers. */
struct anon_vma {
	spinlock_t lock;
	struct list_head head;
	struct list_head all;			/* on the machine's list */
};

struct vm_area_struct {
	struct mm_struct *vm_mm;
	unsigned long vm_start, vm_end;
	struct vm_area_struct *vm_next;
	unsigned long vm_flags;
	unsigned long vm_pgoff;
	struct address_space *vm_file;		/* file or shmem inode; NULL for anon */
	struct anon_vma *anon_vma;
	struct list_head anon_vma_node;
	struct list_head shared;		/* on vm_file->i_mmap */
};

/* Page cache of one file (struct address_space); shmem slots may hold swap entries. */
struct address_space {
	char *path;				/* NULL for MAP_SHARED|MAP_ANONYMOUS shmem */
	int shmem;				/* tmpfs: swap backed */
	int unevictable;			/* ramfs: AS_UNEVICTABLE */
	spinlock_t tree_lock;
	uintptr_t *slots;			/* struct page *, or (swap offset << 1) | 1 */
	unsigned long nr_slots;
	unsigned long size;			/* in pages */
	spinlock_t i_mmap_lock;
	struct list_head i_mmap;
	atomic_int refcount;			/* mappings of an anonymous shmem object */
	struct address_space *next;		/* machine's list of named files */
	struct list_head all;
};

#define SLOT_IS_SWAP(s)		((s) & 1)
#define SLOT_SWAP_OFF(s)	((s) >> 1)
#define SWAP_SLOT(off)		(((uintptr_t)(off) << 1) | 1)

struct task_struct;

enum { MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES, NR_MM_COUNTERS };

struct mm_struct {
	struct vm_area_struct *mmap;		/* sorted list of VMAs */
	struct pt_dir *pgd;
	struct rw_semaphore mmap_sem;
	atomic_int mm_users;
	unsigned long free_area_cache;		/* next top-down mmap address */
	struct task_struct *owner;
	spinlock_t page_table_lock;		/* anon_vma_prepare() */
	atomic_long rss[NR_MM_COUNTERS];	/* MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES */
	atomic_long total_vm;			/* pages of all its VMAs (badness(), 2.6.x; the OOM kill line) */
	struct machine *machine;
	struct mem_cgroup *kobj_memcg;		/* where its kernel objects besides page tables are charged */
	long kobj_pages;			/* ... and how many pages of kmem they are (an image's, at exec) */
};

struct mem_cgroup;

struct task_struct {
	int pid;
	int state;				/* TASK_RUNNING, TASK_DEAD */
	int oom_killed;
	int memdie;				/* TIF_MEMDIE: OOM-killed, its memory not yet freed */
	int oom_score_adj;			/* -1000 (OOM_SCORE_ADJ_MIN): never chosen */
	atomic_int cpu;				/* task_cpu(): where it runs */
	int parent_pid;				/* the forking task, 0 for a spawned one (badness()) */
	spinlock_t alloc_lock;			/* task_lock(): guards ->mm */
	struct mm_struct *mm;
	_Atomic(struct mem_cgroup *) mem_cgroup;	/* the task's memory cgroup */
};

enum { TASK_RUNNING, TASK_DEAD };

#endif
