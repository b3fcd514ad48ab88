/*
 * Charge moving at task migration, cgroup v1 memory.move_charge_at_immigrate
 * (mm/memcontrol.c 2.6.34-6.0, mm/memcontrol-v1.c 6.1-6.12): count the
 * targets, precharge them on the new group, move page ownership with the
 * task's page tables as the guide, then uncharge the old group at once.
 * Kernel profiles select the version rules (mapcount, VM_SHARED, bits).
 */
#include "../include/linux/mm.h"
#include "../emu/trace.h"

enum mc_target_type { MC_TARGET_NONE, MC_TARGET_PAGE, MC_TARGET_SWAP };

int mem_cgroup_is_descendant(struct mem_cgroup *memcg, struct mem_cgroup *root);

/* mem_cgroup_under_move() and mem_cgroup_wait_acct_move(), mm/memcontrol.c */
int mem_cgroup_wait_acct_move(struct mem_cgroup *over_limit)
{
	struct machine *m = cur_machine;
	int waited = 0;

	pthread_mutex_lock(&m->mc_lock);
	if (m->mc_active && !pthread_equal(m->mc_moving_task, pthread_self()) &&
	    (mem_cgroup_is_descendant(m->mc_from, over_limit) ||
	     mem_cgroup_is_descendant(m->mc_to, over_limit))) {
		unsigned long wakeups = m->mc_wakeups;
		TRACE_SLICE(EMU_TRACE_MC_WAIT, over_limit->id, m->mc_from->id, m->mc_to->id, NULL);

		/* one wake-up, then the charge retries (it may wait again) */
		m->mc_waiters++;
		emu_sleep_begin(EMU_WAIT_MC_WAITQ);
		while (m->mc_active && m->mc_wakeups == wakeups)
			pthread_cond_wait(&m->mc_waitq, &m->mc_lock);
		emu_sleep_end();
		m->mc_waiters--;
		waited = 1;
	}
	pthread_mutex_unlock(&m->mc_lock);
	return waited;
}

/* The page the PTE maps, if it is a target under the profile's rules (mc_handle_present_pte). */
static struct page *mc_handle_present_pte(struct move_ctx *ctx, struct vm_area_struct *vma,
					  unsigned long addr, pte_t ptent)
{
	struct page *page = vm_normal_page(vma, addr, ptent);
	int kernel = ctx->machine->kernel;

	if (!page)
		return NULL;
	if (PageAnon(page)) {
		if (!(ctx->move_type & EMU_MOVE_ANON))
			return NULL;
		if (kernel == EMU_KERNEL_2_6_34 && page_mapcount(page) > 1)
			return NULL;
		/* the 2.6.35 slip (page_mapcount(page) > 2), kept until 3.4 dropped the test */
		if (kernel == EMU_KERNEL_2_6_35 && page_mapcount(page) > 2)
			return NULL;
	} else if (!(ctx->move_type & EMU_MOVE_FILE)) {
		return NULL;
	}
	return page;
}

/*
 * mc_handle_file_pte(): page cache behind an empty PTE of the mapped range,
 * faulted in by this task or not, with a reference (find_get_incore_page()).
 * The walks have no pte_hole: where no PTE table exists nothing is found.
 */
static struct page *mc_handle_file_pte(struct move_ctx *ctx, struct vm_area_struct *vma,
				       unsigned long addr, long *shmem_swp)
{
	struct address_space *mapping = vma->vm_file;
	unsigned long index = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
	struct page *page = NULL;
	uintptr_t slot;

	if (!mapping || !(ctx->move_type & EMU_MOVE_FILE))
		return NULL;
	spin_lock(&mapping->tree_lock);
	slot = index < mapping->nr_slots ? mapping->slots[index] : 0;
	if (slot && !SLOT_IS_SWAP(slot)) {
		page = (struct page *)slot;
		get_page(page);
	} else if (slot && ctx->machine->kernel < EMU_KERNEL_6_1) {
		/* mem_cgroup_get_shmem_target() 2.6.35-5.9: a shmem page out on swap; 5.10+ moves none */
		*shmem_swp = (long)SLOT_SWAP_OFF(slot);
	}
	spin_unlock(&mapping->tree_lock);
	return page;
}

/*
 * get_mctgt_type(), mm/memcontrol.c: what one PTE offers to the count or,
 * @moving, to the move.  A page found in the page cache behind an empty PTE,
 * or in the swap cache behind a swap PTE, comes with a reference (*ref set);
 * a mapped one is held by the PTE lock the caller holds.
 */
static enum mc_target_type get_mctgt_type(struct move_ctx *ctx, struct vm_area_struct *vma,
					  unsigned long addr, pte_t ptent, struct page **pagep,
					  unsigned long *swp, int *ref, int moving)
{
	struct machine *m = ctx->machine;
	struct page *page = NULL;

	if (pte_present(ptent)) {
		page = mc_handle_present_pte(ctx, vma, addr, ptent);
	} else if (is_swap_pte(ptent)) {
		unsigned long off = pte_to_swp_offset(ptent);

		if (!(ctx->move_type & EMU_MOVE_ANON))
			return MC_TARGET_NONE;
		/* mc_handle_swap_pte(): a page still in the swap cache is moved as a page */
		page = lookup_swap_cache(off);
		*ref = page != NULL;
		/* 2.6.34/35: a slot other mms still use is not moved (mem_cgroup_count_swap_user) */
		if (m->kernel <= EMU_KERNEL_2_6_35 &&
		    atomic_load(&m->swap_map[off]) - *ref + (page ? page_mapcount(page) : 0) > 1) {
			if (page)
				put_page(page);
			*ref = 0;
			return MC_TARGET_NONE;
		}
		if (page && page_memcg(page) == ctx->from) {
			*pagep = page;
			return MC_TARGET_PAGE;
		}
		if (page)
			put_page(page);
		*ref = 0;
		/* get_mctgt_type(): else the slot's own charge, if it is the old group's */
		if (atomic_load(&m->swap_cgroup[off]) != mem_cgroup_id(ctx->from))
			return MC_TARGET_NONE;
		*swp = off;
		return MC_TARGET_SWAP;
	} else if (pte_none(ptent)) {
		long shmem_swp = -1;

		page = mc_handle_file_pte(ctx, vma, addr, &shmem_swp);
		*ref = page != NULL;
		if (shmem_swp >= 0) {
			if (atomic_load(&m->swap_cgroup[shmem_swp]) != mem_cgroup_id(ctx->from))
				return MC_TARGET_NONE;
			*swp = (unsigned long)shmem_swp;
			return MC_TARGET_SWAP;
		}
		/*
		 * 6.1, moving (not counting): page_mapped() must hold still during
		 * the move; a page behind an empty PTE that is mapped elsewhere can
		 * unmap under us, so it is skipped.
		 */
		if (page && moving && m->kernel >= EMU_KERNEL_6_1 && page_mapcount(page) > 0) {
			put_page(page);
			*ref = 0;
			return MC_TARGET_NONE;
		}
	}
	/* a frame of a PTE-mapped huge page is charged as its head (folio_memcg()) */
	if (!page || page_memcg(compound_head(page)) != ctx->from) {
		if (page && *ref)
			put_page(page);
		*ref = 0;
		return MC_TARGET_NONE;
	}
	*pagep = page;
	return MC_TARGET_PAGE;
}

/* get_mctgt_type_thp(), 6.1: an anon huge page of the old group is a target with bit 0. */
static int mc_huge_target(struct move_ctx *ctx, struct page *head)
{
	return (ctx->move_type & EMU_MOVE_ANON) && page_memcg(head) == ctx->from;
}

/* The VMAs a walk visits: never hugetlb; 2.6.34 also skipped every VM_SHARED one. */
static int mc_walk_vma(struct vm_area_struct *vma, struct mm_walk *walk)
{
	struct move_ctx *ctx = walk->private;

	if (vma->vm_flags & VM_HUGETLB)
		return 0;
	if (ctx->machine->kernel == EMU_KERNEL_2_6_34 && (vma->vm_flags & VM_SHARED))
		return 0;
	return 1;
}

/* mem_cgroup_count_precharge_pte_range() */
static int mem_cgroup_count_precharge_pte_range(struct pte_table *pt, unsigned long addr,
						unsigned long end, struct mm_walk *walk)
{
	struct move_ctx *ctx = walk->private;

	spin_lock(&pt->ptl);
	if (pt->huge) {
		/* get_mctgt_type_thp(): a PMD-mapped huge page counts HPAGE_PMD_NR */
		if (mc_huge_target(ctx, pt->huge))
			ctx->precharge += HPAGE_PMD_NR;
		addr = end;
	}
	for (; addr != end; addr += PAGE_SIZE) {
		struct page *page;
		unsigned long swp;
		int ref = 0;

		if (get_mctgt_type(ctx, walk->vma, addr, pt->pte[pte_index(addr)], &page, &swp, &ref, 0))
			ctx->precharge++;	/* counted here; charged by mem_cgroup_do_precharge() */
		if (ref)
			put_page(page);
	}
	spin_unlock(&pt->ptl);
	return cond_resched_phase(EMU_PHASE_WALK, ctx->precharge);
}

/* mem_cgroup_count_precharge(), mm/memcontrol.c */
static unsigned long mem_cgroup_count_precharge(struct move_ctx *ctx)
{
	/* no pte_hole: where no page table exists, nothing is looked at (as in the kernel) */
	struct mm_walk walk = { .pmd_entry = mem_cgroup_count_precharge_pte_range,
				.test_walk = mc_walk_vma, .mm = ctx->mm, .private = ctx };
	unsigned long counted = 0;
	TRACE_SLICE(EMU_TRACE_WALK, ctx->to->id, 0, 0, &counted);
	int ret = walk_page_vmas(&walk);

	counted = ret ? 0 : ctx->precharge;
	ctx->precharge = 0;
	return counted;
}

/*
 * mem_cgroup_do_precharge(), mm/memcontrol.c: one bulk charge without
 * reclaim, then page by page with reclaim, never the OOM killer: with every
 * reclaim retry before 6.1 (__mem_cgroup_try_charge(), oom false), with
 * __GFP_NORETRY on 6.1 (one reclaim round per page).
 */
static int mem_cgroup_do_precharge(struct move_ctx *ctx, unsigned long count)
{
	struct mem_cgroup *to = ctx->to;
	int flags = CHARGE_RECLAIM | (ctx->machine->kernel >= EMU_KERNEL_6_1 ? CHARGE_NORETRY : 0);
	int ret;

	if (!mem_cgroup_try_charge(to, count, 0, NULL)) {
		ctx->precharge += count;
		atomic_fetch_add(&to->reserved, (long)(count * PAGE_SIZE));
		return 0;
	}
	while (count--) {
		ret = mem_cgroup_try_charge(to, 1, flags, NULL);
		if (ret)
			return ret;
		ctx->precharge++;
		atomic_fetch_add(&to->reserved, (long)PAGE_SIZE);
		if (ctx->precharge % PTRS_PER_TABLE == 0 &&
		    (ret = cond_resched_phase(EMU_PHASE_PRECHARGE, ctx->precharge)))
			return ret;
	}
	return 0;
}

/* mem_cgroup_move_swap_account(), mm/memcontrol.c: the slot's record changes hands. */
static int mem_cgroup_move_swap_account(struct move_ctx *ctx, unsigned long off)
{
	unsigned short expected = mem_cgroup_id(ctx->from);

	if (!atomic_compare_exchange_strong(&ctx->machine->swap_cgroup[off], &expected,
					    mem_cgroup_id(ctx->to)))
		return -EINVAL;
	mem_cgroup_stat_add(ctx->from, EMU_STAT_SWAP, -1);
	mem_cgroup_stat_add(ctx->to, EMU_STAT_SWAP, 1);
	return 0;
}

/*
 * The pages the walk found in one PTE table, moved as a batch: trylock,
 * isolate, mem_cgroup_move_account(), put back, unlock -- what
 * mem_cgroup_move_charge_pte_range() does page by page, with each lock
 * taken once per batch.  @ref marks the pages whose reference to drop.
 */
static void mc_move_pages(struct move_ctx *ctx, struct page **pages, const unsigned char *ref,
			  unsigned long n)
{
	struct page *isolated[PTRS_PER_TABLE], *moving[PTRS_PER_TABLE];
	unsigned long moved;

	for (unsigned long i = 0; i < n; i++)
		isolated[i] = pages[i];
	trylock_isolate_lru_page_batch(isolated, n);
	for (unsigned long i = 0; i < n; i++)
		moving[i] = isolated[i];
	moved = mem_cgroup_move_account_batch(moving, n, ctx->from, ctx->to);
	lru_add_page_batch(isolated, n, LRU_ADD_UNLOCK);	/* moved or not, back to its group's list, unlocked */
	for (unsigned long i = 0; i < n; i++)
		if (ref[i])
			put_page(pages[i]);
	ctx->precharge -= moved;
	ctx->moved_charge += moved;
	/* the charge is now the page's on to, and the old group's until clear_mc */
	atomic_fetch_sub(&ctx->to->reserved, (long)(moved * PAGE_SIZE));
	atomic_fetch_add(&ctx->from->reserved, (long)(moved * PAGE_SIZE));
}

/*
 * mem_cgroup_move_charge_pte_range(), mm/memcontrol.c: move what the
 * precharge covers; when it runs out, charge one more page, and stop the
 * whole walk if that fails (a partial move).
 */
static int mem_cgroup_move_charge_pte_range(struct pte_table *pt, unsigned long addr,
					    unsigned long end, struct mm_walk *walk)
{
	struct move_ctx *ctx = walk->private;
	struct page *pages[PTRS_PER_TABLE];
	unsigned char ref[PTRS_PER_TABLE];
	unsigned long n;
	int ret;

retry:
	n = 0;
	spin_lock(&pt->ptl);
	if (pt->huge) {
		/* the huge-PMD branch: moved whole, or skipped when the precharge left is smaller */
		if (ctx->precharge >= HPAGE_PMD_NR && mc_huge_target(ctx, pt->huge)) {
			pages[0] = pt->huge;
			ref[0] = 0;
			mc_move_pages(ctx, pages, ref, 1);
		}
		spin_unlock(&pt->ptl);
		return cond_resched_phase(EMU_PHASE_MOVE, ctx->moved_charge + ctx->moved_swap);
	}
	for (; addr != end && ctx->precharge > n; addr += PAGE_SIZE) {
		struct page *page = NULL;
		unsigned long swp = 0;
		int r = 0;

		switch (get_mctgt_type(ctx, walk->vma, addr, pt->pte[pte_index(addr)], &page, &swp, &r, 1)) {
		case MC_TARGET_PAGE:
			/*
			 * mem_cgroup_move_charge_pte_range(), 6.1: part of a split
			 * PMD is not moved; it stays in the old group with its head.
			 */
			if (PageCompound(page)) {
				if (r)
					put_page(page);
				break;
			}
			pages[n] = page;
			ref[n++] = (unsigned char)r;
			break;
		case MC_TARGET_SWAP:
			if (!mem_cgroup_move_swap_account(ctx, swp)) {
				ctx->precharge--;
				ctx->moved_swap++;
			}
			break;
		default:
			break;
		}
	}
	if (n)
		mc_move_pages(ctx, pages, ref, n);
	spin_unlock(&pt->ptl);
	if (addr != end) {
		/* more targets than counted (they appeared meanwhile): charge one more */
		ret = mem_cgroup_do_precharge(ctx, 1);
		if (!ret)
			goto retry;
		return ret;
	}
	return cond_resched_phase(EMU_PHASE_MOVE, ctx->moved_charge + ctx->moved_swap);
}

/* Count the targets and precharge them: mem_cgroup_can_attach()/mem_cgroup_precharge_mc(). */
int mem_cgroup_precharge_mc(struct move_ctx *ctx, int move_type)
{
	struct machine *m = ctx->machine;
	unsigned long count;

	ctx->move_type = move_type;
	pthread_mutex_lock(&m->mc_lock);
	m->mc_from = ctx->from;
	m->mc_to = ctx->to;
	m->mc_moving_task = pthread_self();
	m->mc_active = 1;
	pthread_mutex_unlock(&m->mc_lock);
	count = mem_cgroup_count_precharge(ctx);
	ctx->nr_isolated = count;
	return mem_cgroup_do_precharge(ctx, count);
}

static void __mem_cgroup_clear_mc(struct move_ctx *ctx);

/*
 * mem_cgroup_move_charge()'s retry, 2.6.35 on (2.6.34 took mmap_sem with
 * down_read()): a writer holding or waiting for the task's mmap_lock may be
 * a charger waiting for this move, so give the precharge back, wake the
 * waiters, cond_resched() and try again.  0 with mmap_sem held for read.
 */
static int mc_mmap_read_lock(struct move_ctx *ctx)
{
	int ret;

	if (ctx->machine->kernel < EMU_KERNEL_2_6_35) {
		down_read(&ctx->mm->mmap_sem);
		return 0;
	}
	while (!down_read_trylock(&ctx->mm->mmap_sem)) {
		trace_instant(EMU_TRACE_MC_RETRY, ctx->to->id, (long long)ctx->precharge, 0, 0);
		__mem_cgroup_clear_mc(ctx);
		if ((ret = cond_resched_phase(EMU_PHASE_MOVE, ctx->moved_charge + ctx->moved_swap)))
			return ret;
	}
	return 0;
}

/* mem_cgroup_move_charge(), mm/memcontrol.c: the walk that moves ownership. */
int mem_cgroup_move_charge(struct move_ctx *ctx)
{
	struct mm_walk walk = { .pmd_entry = mem_cgroup_move_charge_pte_range,
				.test_walk = mc_walk_vma, .mm = ctx->mm, .private = ctx };
	int ret;

	lru_add_drain_all();	/* a page still in a CPU's batch is not on the LRU to isolate */
	atomic_fetch_add(&ctx->from->moving_account, 1);
	ret = mc_mmap_read_lock(ctx);
	if (!ret) {
		ret = walk_page_vmas_locked(&walk);
		up_read(&ctx->mm->mmap_sem);
	}
	atomic_fetch_sub(&ctx->from->moving_account, 1);
	ctx->nr_moved = ctx->moved_charge;
	return ret;
}

/*
 * __mem_cgroup_clear_mc(), mm/memcontrol.c: cancel the leftover precharge,
 * uncharge the old group for everything moved, in one go, and wake the
 * chargers that wait for the move.
 */
static void __mem_cgroup_clear_mc(struct move_ctx *ctx)
{
	struct machine *m = ctx->machine;

	if (ctx->precharge) {
		mem_cgroup_cancel_charge(ctx->to, ctx->precharge);
		atomic_fetch_sub(&ctx->to->reserved, (long)(ctx->precharge * PAGE_SIZE));
		ctx->precharge = 0;
	}
	if (ctx->moved_charge) {
		mem_cgroup_cancel_charge(ctx->from, ctx->moved_charge);
		atomic_fetch_sub(&ctx->from->reserved, (long)(ctx->moved_charge * PAGE_SIZE));
		ctx->moved_charge = 0;
	}
	if (ctx->moved_swap > ctx->swap_settled) {
		/*
		 * __mem_cgroup_clear_mc(), 6.1: the precharge put the swap entries on
		 * to's memory counter, but they live on swap: only to's memory+swap
		 * keeps them, and from's memory+swap lets them go.
		 */
		unsigned long n = ctx->moved_swap - ctx->swap_settled;

		res_counter_uncharge(&ctx->to->res, n * PAGE_SIZE);
		if (do_swap_account(m))
			res_counter_uncharge(&ctx->from->memsw, n * PAGE_SIZE);
		atomic_fetch_sub(&ctx->to->reserved, (long)(n * PAGE_SIZE));
		ctx->swap_settled = ctx->moved_swap;
	}
	pthread_mutex_lock(&m->mc_lock);
	m->mc_wakeups++;
	pthread_cond_broadcast(&m->mc_waitq);
	pthread_mutex_unlock(&m->mc_lock);
}

/*
 * mem_cgroup_clear_mc(): the move is over (moving_task cleared before the
 * wake-up), then the rest.  The mover lets go of the task's mm before the
 * waiters wake (the kernel just after): a waiter whose OOM kill takes the
 * task frees its memory at once, as the kernel's oom_reaper would anyway.
 */
void mem_cgroup_clear_mc(struct move_ctx *ctx)
{
	struct machine *m = ctx->machine;

	pthread_mutex_lock(&m->mc_lock);
	if (m->mc_active && pthread_equal(m->mc_moving_task, pthread_self())) {
		m->mc_active = 0;
		m->mc_from = m->mc_to = NULL;
	}
	pthread_mutex_unlock(&m->mc_lock);
	if (ctx->mm) {
		mmput(ctx->mm);
		ctx->mm = NULL;
	}
	__mem_cgroup_clear_mc(ctx);
}
