/*
 * Entry points: the Python-visible API of csrc/include/memcg_emu.h.  Each
 * validates what Python hands it, sets the calling thread's machine and
 * maps a BUG_ON into an error instead of an abort.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "entry.h"

__thread struct machine *cur_machine __attribute__((tls_model("initial-exec")));
__thread int current_cpu;
extern __thread struct mem_cgroup *current_memcg_in_oom;

__thread char emu_errbuf[256];
__thread struct held_rwsems current_held_rwsems;

int emu_set_error(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(emu_errbuf, sizeof(emu_errbuf), fmt, ap);
	va_end(ap);
	return err;
}

int emu_last_error(char *buf, int len)
{
	snprintf(buf, (size_t)len, "%s", emu_errbuf);
	return 0;
}

void emu_bug(const char *file, int line, const char *cond)
{
	struct machine *m = cur_machine;
	int expected = 0;

	if (m && atomic_compare_exchange_strong(&m->bug, &expected, 1))
		snprintf(m->bug_msg, sizeof(m->bug_msg), "kernel BUG at %s:%d: %s", file, line, cond);
}

int emu_leave(struct machine *saved, int saved_cpu, int ret)
{
	struct machine *m = cur_machine;

	if (atomic_load(&m->bug))
		ret = emu_set_error(-ENOTRECOVERABLE, "%s", m->bug_msg);
	else if (ret < 0 && !emu_errbuf[0])
		emu_set_error(ret, "%s", strerror(-ret));
	cur_machine = saved;
	current_cpu = saved_cpu;
	return ret;
}

/* cond_resched(): the machine's hook runs here; non-zero means the hook raised. */
int cond_resched_phase(int phase, unsigned long pages)
{
	struct machine *m = cur_machine;
	void *handle = m->resched_handle;
	int ret;

	trace_instant(EMU_TRACE_BATCH, -1, phase, (long long)pages, 0);
	if (!handle)
		return 0;
	current_task_frame++;	/* the hook runs as another task */
	ret = emu_py_resched(handle, phase, pages);
	current_task_frame--;
	cur_machine = m;	/* the hook may have entered this or another machine */
	return ret ? -EINTR : 0;
}

int fatal_signal_pending(unsigned long done)
{
	struct machine *m = cur_machine;
	int ret;

	if ((done + 1) % EMU_SIGNAL_CHECK_PAGES)
		return 0;
	ret = emu_py_signal_pending();
	cur_machine = m;
	return ret;
}

void emu_set_resched_hook(struct machine *m, void *handle)
{
	m->resched_handle = handle;
}

/*
 * alloc_percpu(): one zeroed @size object per CPU, each on cache lines of
 * its own (calloc aligns to 16 bytes only; every per-CPU struct here is
 * 64-byte aligned, so its size is a multiple of the alignment).
 */
static void *alloc_percpu(int nr_cpus, size_t size)
{
	void *p = aligned_alloc(64, (size_t)nr_cpus * size);

	if (p)
		memset(p, 0, (size_t)nr_cpus * size);
	return p;
}

static void mem_cgroup_free(struct mem_cgroup *memcg)
{
	if (memcg)
		free(memcg->vmstats_percpu);
	free(memcg);
}

static struct mem_cgroup *mem_cgroup_alloc(struct machine *m, struct mem_cgroup *parent)
{
	struct mem_cgroup *memcg = calloc(1, sizeof(*memcg));

	if (!memcg)
		return NULL;
	memcg->vmstats_percpu = alloc_percpu(m->nr_cpus, sizeof(*memcg->vmstats_percpu));
	if (!memcg->vmstats_percpu) {
		free(memcg);
		return NULL;
	}
	memcg->machine = m;
	memcg->parent = parent;
	/* 5.11+ (our 6.x profiles) are always hierarchical; before, a child inherits */
	memcg->use_hierarchy = m->kernel >= EMU_KERNEL_6_1 ? 1 : (parent ? parent->use_hierarchy : 0);
	/* mem_cgroup_css_alloc(): the parent's swappiness; the root's is vm_swappiness (60) */
	atomic_store(&memcg->swappiness, parent ? atomic_load(&parent->swappiness) : 60);
	res_counter_init(&memcg->res, parent && parent->use_hierarchy ? &parent->res : NULL);
	res_counter_init(&memcg->memsw, parent && parent->use_hierarchy ? &parent->memsw : NULL);
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		spin_lock_init(&memcg->info[z].lru_lock);
		for (int l = 0; l < NR_LRU_LISTS; l++)
			INIT_LIST_HEAD(&memcg->info[z].lists[l]);
	}
	spin_lock(&m->memcg_lock);
	if (m->nr_memcg_ids > MEMCG_ID_MAX) {
		spin_unlock(&m->memcg_lock);
		mem_cgroup_free(memcg);
		return NULL;
	}
	memcg->id = m->nr_memcg_ids++;
	m->memcgs[memcg->id] = memcg;
	spin_unlock(&m->memcg_lock);
	return memcg;
}

int emu_machine_new(unsigned long ram_pages, unsigned long swap_pages, int kernel, int nr_cpus,
		    struct machine **out)
{
	struct machine *m;

	if (ram_pages < 16)
		return emu_set_error(-EINVAL, "a machine needs at least 16 pages of RAM");
	if (swap_pages == 1 || swap_pages > 0xffffffffUL)
		return emu_set_error(-EINVAL, "swap must be 0 or 2..2^32 pages");
	if (nr_cpus < 1 || nr_cpus > EMU_MAX_CPUS)
		return emu_set_error(-EINVAL, "a machine has 1..%d CPUs", EMU_MAX_CPUS);
	m = calloc(1, sizeof(*m));
	if (!m)
		return emu_set_error(-ENOMEM, "out of host memory");
	m->kernel = kernel;
	m->nr_pages = ram_pages;
	m->mem_map = calloc(ram_pages, sizeof(struct page));
	m->page_cgroup_map = calloc(ram_pages, sizeof(struct page_cgroup));
	m->nr_swap = swap_pages;
	m->nr_cpus = nr_cpus;
	m->memcg_stock = alloc_percpu(nr_cpus, sizeof(*m->memcg_stock));
	m->pcp = alloc_percpu(nr_cpus, sizeof(*m->pcp));
	m->lru_add = alloc_percpu(nr_cpus, sizeof(*m->lru_add));
	if (swap_pages) {
		m->swap_map = calloc(swap_pages, sizeof(*m->swap_map));
		m->swap_cgroup = calloc(swap_pages, sizeof(*m->swap_cgroup));
		m->swap_cache = calloc(swap_pages, sizeof(*m->swap_cache));
		atomic_store(&m->nr_swap_free, (long)swap_pages - 1);
	}
	if (!m->mem_map || !m->page_cgroup_map || !m->memcg_stock || !m->pcp || !m->lru_add ||
	    (swap_pages && (!m->swap_map || !m->swap_cgroup || !m->swap_cache))) {
		free(m->mem_map);
		free(m->page_cgroup_map);
		free(m->swap_map);
		free(m->swap_cgroup);
		free(m->memcg_stock);
		free(m->pcp);
		free(m->lru_add);
		free(m->swap_cache);
		free(m);
		return emu_set_error(-ENOMEM, "out of host memory for %lu pages", ram_pages);
	}
	for (int cpu = 0; cpu < nr_cpus; cpu++)
		spin_lock_init(&m->memcg_stock[cpu].stock_lock);
	pcp_init(m);
	lru_add_init(m);
	spin_lock_init(&m->zone.lock);
	INIT_LIST_HEAD(&m->zone.free_list);
	INIT_LIST_HEAD(&m->zone.free_huge);
	spin_lock_init(&m->zone.lruvec.lru_lock);
	for (int l = 0; l < NR_LRU_LISTS; l++)
		INIT_LIST_HEAD(&m->zone.lruvec.lists[l]);
	/* frame 0 is the zero page */
	m->zero_page = &m->mem_map[0];
	atomic_store(&m->zero_page->flags, 1UL << PG_reserved);
	atomic_store(&m->zero_page->_count, 1);
	atomic_store(&m->zero_page->_mapcount, -1);
	m->zone.next_fresh = 1;
	m->zone.nr_free = ram_pages - 1;
	spin_lock_init(&m->swap_lock);
	spin_lock_init(&m->memcg_lock);
	init_rwsem(&m->tasklist_lock);
	spin_lock_init(&m->split_queue_lock);
	INIT_LIST_HEAD(&m->split_queue);
	spin_lock_init(&m->files_lock);
	INIT_LIST_HEAD(&m->files);
	spin_lock_init(&m->anon_vma_lock);
	INIT_LIST_HEAD(&m->anon_vmas);
	pthread_mutex_init(&m->mc_lock, NULL);
	pthread_cond_init(&m->mc_waitq, NULL);
	pthread_mutex_init(&m->work_lock, NULL);
	pthread_cond_init(&m->work_changed, NULL);
	pthread_mutex_init(&m->cgroup_mutex, NULL);
	pthread_mutex_init(&m->oom_lock, NULL);
	spin_lock_init(&m->cgroup_mutex_state);
	spin_lock_init(&m->moves_lock);
	INIT_LIST_HEAD(&m->moves);
	spin_lock_init(&m->oom_log_lock);
	m->next_pid = 1;
	if (!mem_cgroup_alloc(m, NULL)) {
		emu_machine_free(m);
		return emu_set_error(-ENOMEM, "out of host memory");
	}
	*out = m;
	return 0;
}

void emu_machine_free(struct machine *m)
{
	struct machine *saved = cur_machine;
	int saved_cpu = current_cpu;

	/* the garbage collector may free us on a thread running another machine's CPU 1 */
	cur_machine = m;
	current_cpu = 0;
	for (int pid = 1; pid < m->next_pid; pid++) {
		if (m->tasks[pid]) {
			do_exit(m->tasks[pid]);
			free(m->tasks[pid]);
		}
	}
	while (!list_empty(&m->files)) {
		struct address_space *mapping = list_first_entry(&m->files, struct address_space, all);

		list_del(&mapping->all);
		free(mapping->slots);
		free(mapping->path);
		free(mapping);
	}
	while (!list_empty(&m->anon_vmas)) {
		struct anon_vma *av = list_first_entry(&m->anon_vmas, struct anon_vma, all);

		list_del(&av->all);
		free(av);
	}
	for (int id = 0; id < m->nr_memcg_ids; id++)
		mem_cgroup_free(m->memcgs[id]);
	destroy_rwsem(&m->tasklist_lock);
	pthread_mutex_destroy(&m->mc_lock);
	pthread_cond_destroy(&m->mc_waitq);
	pthread_mutex_destroy(&m->work_lock);
	pthread_cond_destroy(&m->work_changed);
	pthread_mutex_destroy(&m->cgroup_mutex);
	pthread_mutex_destroy(&m->oom_lock);
	free(m->mem_map);
	free(m->page_cgroup_map);
	free(m->swap_map);
	free(m->swap_cgroup);
	free(m->swap_cache);
	emu_trace_free(m);
	free(m->memcg_stock);
	free(m->pcp);
	free(m->lru_add);
	free(m);
	cur_machine = saved;
	current_cpu = saved_cpu;
}

struct mem_cgroup *memcg_arg(struct machine *m, int id)
{
	struct mem_cgroup *memcg = mem_cgroup_lookup(m, id);

	if (!memcg)
		emu_set_error(-ENOENT, "no memory cgroup with id %d", id);
	return memcg;
}

struct task_struct *task_arg(struct machine *m, int pid)
{
	struct task_struct *p = find_task_by_pid(m, pid);

	if (!p)
		emu_set_error(-ESRCH, "no task with pid %d", pid);
	return p;
}

int emu_memcg_create(struct machine *m, int parent_id)
{
	EMU_ENTER(m);
	MEMCG_ARG(parent, m, parent_id);
	struct mem_cgroup *memcg = mem_cgroup_alloc(m, parent);

	if (!memcg)
		EMU_RETURN(emu_set_error(-ENOSPC, "no memory cgroup ids left"));
	EMU_RETURN(memcg->id);
}

/*
 * mem_cgroup_move_parent(), mm/memcontrol.c 2.6.28-3.x: hand @page (held
 * by the caller) of a dying group to its parent.  A hierarchical parent
 * already counts it.
 */
static int mem_cgroup_move_parent(struct page *page, struct mem_cgroup *memcg)
{
	struct mem_cgroup *parent = memcg->parent;
	int hierarchical = memcg->res.parent != NULL;
	unsigned long nr;

	if (isolate_lru_page(page))
		return 0;
	lock_page(page);	/* a huge page stays one while its charge moves */
	nr = thp_nr_pages(page);
	if (!hierarchical) {
		struct mem_cgroup *over;
		int memsw;

		if (mem_cgroup_charge_counters(parent, nr, &over, &memsw)) {
			unlock_page(page);
			putback_lru_page(page);
			return emu_set_error(-EBUSY, "parent group is full");
		}
	}
	if (mem_cgroup_move_account(page, memcg, parent, !hierarchical) == 0 && hierarchical) {
		res_counter_uncharge_until(&memcg->res, &parent->res, nr * PAGE_SIZE);
		if (do_swap_account(memcg->machine))
			res_counter_uncharge_until(&memcg->memsw, &parent->memsw, nr * PAGE_SIZE);
	}
	unlock_page(page);
	putback_lru_page(page);
	return 0;
}

/*
 * mem_cgroup_force_empty(), mm/memcontrol.c: take the pages off @memcg's
 * lists one at a time, list by list and oldest first (list->prev in
 * mem_cgroup_force_empty_list()), until only kernel memory is charged to
 * it -- on 2.6.26 each loses its charge (mem_cgroup_drop_page()), from
 * 2.6.28 each goes to the parent (mem_cgroup_move_parent(), commit
 * f817ed48535a, "memcg: move all acccounting to parent at rmdir()"), to
 * the young end of its list there: the parent's lists keep their age order.
 */
static int mem_cgroup_force_empty_lists(struct mem_cgroup *memcg)
{
	struct mem_cgroup_per_zone *mz = &memcg->info[0];
	int drop = memcg->machine->kernel < EMU_KERNEL_2_6_34;

	/* page tables stay: their kernel memory goes to the parent below (memcg_reparent_objcgs()) */
	for (long spins = 0; res_counter_read_usage(&memcg->res) >
		     (unsigned long long)atomic_load(&memcg->kmem) * PAGE_SIZE; spins++) {
		struct page *page = NULL;
		int ret;

		spin_lock(&mz->lru_lock);
		for (int l = 0; l < NR_LRU_LISTS && !page; l++)
			if (!list_empty(&mz->lists[l]))
				page = list_last_entry(&mz->lists[l], struct page, lru);
		if (page && !get_page_unless_zero(page))
			page = NULL;	/* being freed: its put_page() takes it off */
		spin_unlock(&mz->lru_lock);
		if (!page) {
			/* a page of ours is isolated by reclaim, or being freed, right now */
			if (spins > 10000000)
				return emu_set_error(-EBUSY, "pages of the group stay isolated");
			sched_yield();
			continue;
		}
		ret = drop ? mem_cgroup_drop_page(page, memcg) : mem_cgroup_move_parent(page, memcg);
		put_page(page);
		if (ret == -EBUSY)
			return ret;
	}
	return 0;
}

int emu_memcg_destroy(struct machine *m, int id)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);
	long kmem;
	int ret;

	if (!memcg->parent)
		EMU_RETURN(emu_set_error(-EBUSY, "the root group cannot be removed"));
	drain_all_stock(memcg);	/* mem_cgroup_css_offline(), 6.1; force_empty's before */
	lru_add_drain_all();	/* the lists we hand over are whole (2.6.26's held batched pages) */
	ret = mem_cgroup_force_empty_lists(memcg);	/* mem_cgroup_pre_destroy() */
	if (ret)
		EMU_RETURN(ret);
	/*
	 * Swap slots keep the dead group's id (mem_cgroup_id_put() waits for
	 * them in 6.1): a swap-in then charges the faulting task's group.
	 */
	spin_lock(&m->memcg_lock);
	memcg->dead = 1;
	kmem = atomic_exchange(&memcg->kmem, 0);
	if (kmem) {	/* only 6.x accounts kmem, and is always hierarchical */
		atomic_fetch_add(&memcg->parent->kmem, kmem);
		res_counter_uncharge_until(&memcg->res, &memcg->parent->res, kmem * PAGE_SIZE);
		res_counter_uncharge_until(&memcg->memsw, &memcg->parent->memsw, kmem * PAGE_SIZE);
	}
	spin_unlock(&m->memcg_lock);
	EMU_RETURN(0);
}

/* memory.kmem.usage_in_bytes */
int emu_memcg_kmem(struct machine *m, int id, unsigned long long *out)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);

	*out = (unsigned long long)atomic_load(&memcg->kmem) * PAGE_SIZE;
	EMU_RETURN(0);
}

int emu_machine_set_kmem(struct machine *m, int on)
{
	EMU_ENTER(m);

	m->kmem_account = !!on;
	EMU_RETURN(0);
}

/*
 * mem_cgroup_resize_max(), mm/memcontrol.c 6.1 (mem_cgroup_resize_limit()
 * and mem_cgroup_resize_memsw_limit() before): with swap accounting the
 * memory limit may not exceed the memory+swap limit (EINVAL); below usage,
 * reclaim while it helps (without swapping for memory+swap), then EBUSY.
 */
static int mem_cgroup_resize_max(struct mem_cgroup *memcg, unsigned long long limit, int memsw)
{
	extern __thread int current_reclaim_noswap;
	struct res_counter *counter = memsw ? &memcg->memsw : &memcg->res;
	int drained = 0;

	if (memsw && !do_swap_account(memcg->machine))
		return emu_set_error(-ENOENT, "this kernel does not account memory+swap");
	if (memcg->machine->kernel < EMU_KERNEL_2_6_34) {
		/* res_counter_write(), 2.6.26: any limit, below usage too; the next charges reclaim */
		res_counter_write_limit(counter, limit);
		return 0;
	}
	for (;;) {
		unsigned long reclaimed;
		int ret;

		spin_lock(&memcg->machine->memcg_lock);	/* memcg_max_mutex */
		if (do_swap_account(memcg->machine) &&
		    (memsw ? limit < READ_ONCE(memcg->res.limit) : limit > READ_ONCE(memcg->memsw.limit))) {
			spin_unlock(&memcg->machine->memcg_lock);
			return emu_set_error(-EINVAL, "the memory limit may not exceed the memory+swap limit");
		}
		ret = res_counter_set_limit(counter, limit);
		spin_unlock(&memcg->machine->memcg_lock);
		if (!ret)
			return 0;
		if (!drained) {	/* the other CPUs' stocks first */
			drain_all_stock(memcg);
			drained = 1;
			continue;
		}
		current_reclaim_noswap = memsw;
		reclaimed = try_to_free_mem_cgroup_pages(memcg, 1);
		current_reclaim_noswap = 0;
		if (!reclaimed)
			return emu_set_error(-EBUSY, "usage stays above the new limit");
	}
}

static struct res_counter *memcg_counter(struct mem_cgroup *memcg, int memsw)
{
	if (memsw && !do_swap_account(memcg->machine)) {
		emu_set_error(-ENOENT, "this kernel does not account memory+swap");
		return NULL;
	}
	return memsw ? &memcg->memsw : &memcg->res;
}

int emu_memcg_resize_limit(struct machine *m, int id, int memsw, unsigned long long limit)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);

	EMU_RETURN(mem_cgroup_resize_max(memcg, limit, memsw));
}

int emu_memcg_res(struct machine *m, int id, int memsw, struct emu_res *out)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);
	struct res_counter *c = memcg_counter(memcg, memsw);

	if (!c)
		EMU_RETURN(-ENOENT);
	spin_lock(&c->lock);
	out->usage = c->usage;
	out->max_usage = c->max_usage;
	out->limit = c->limit;
	out->failcnt = c->failcnt;
	spin_unlock(&c->lock);
	EMU_RETURN(0);
}

int emu_memcg_reset_max_usage(struct machine *m, int id, int memsw)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);
	struct res_counter *c = memcg_counter(memcg, memsw);

	if (!c)
		EMU_RETURN(-ENOENT);
	res_counter_reset_max(c);
	EMU_RETURN(0);
}

int emu_memcg_reset_failcnt(struct machine *m, int id, int memsw)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);
	struct res_counter *c = memcg_counter(memcg, memsw);

	if (!c)
		EMU_RETURN(-ENOENT);
	res_counter_reset_failcnt(c);
	EMU_RETURN(0);
}

/* mem_cgroup_oom_control_write(), mm/memcontrol.c: the caller checked the value and the group. */
int emu_memcg_set_oom_kill_disable(struct machine *m, int id, int val)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);

	atomic_store(&memcg->oom_kill_disable, !!val);
	EMU_RETURN(0);
}

/* mem_cgroup_swappiness_write(), mm/memcontrol.c: the caller checked the value and the group. */
int emu_memcg_set_swappiness(struct machine *m, int id, int val)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);

	atomic_store(&memcg->swappiness, val);
	EMU_RETURN(0);
}

int emu_memcg_oom_kills(struct machine *m, int id)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);

	EMU_RETURN(atomic_load(&memcg->oom_kill));
}

int emu_oom_log_drain(struct machine *m, struct emu_oom_record *out, int max)
{
	EMU_ENTER(m);
	int n;

	spin_lock(&m->oom_log_lock);
	n = min(m->oom_log_len, max);
	memcpy(out, m->oom_log, n * sizeof(*out));
	memmove(m->oom_log, m->oom_log + n, (m->oom_log_len - n) * sizeof(*out));
	m->oom_log_len -= n;
	spin_unlock(&m->oom_log_lock);
	EMU_RETURN(n);
}

/*
 * memory.force_empty (the caller refuses a group with tasks, and before 6.1
 * with children, EBUSY): mem_cgroup_force_empty(), mm/memcontrol.c.  2.6.26
 * drops every charge; 2.6.28-3.x reclaim all they can (free_all), then
 * move what is left to the parent; 6.1 reclaims all it can and never fails.
 */
int emu_memcg_force_empty(struct machine *m, int id)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);
	int nr_retries = MEM_CGROUP_RECLAIM_RETRIES;

	lru_add_drain_all();
	drain_all_stock(memcg);
	if (m->kernel < EMU_KERNEL_2_6_34)
		EMU_RETURN(mem_cgroup_force_empty_lists(memcg));
	while (nr_retries && res_counter_read_usage(&memcg->res))
		if (!try_to_free_mem_cgroup_pages(memcg, 1))
			nr_retries--;
	if (m->kernel < EMU_KERNEL_6_1) {
		lru_add_drain_all();
		EMU_RETURN(mem_cgroup_force_empty_lists(memcg));
	}
	EMU_RETURN(0);
}

/* Statistics of a group, removed ones included (their swap slots still count in the parent). */
int emu_memcg_stat(struct machine *m, int id, long long *out)
{
	EMU_ENTER(m);
	struct mem_cgroup *memcg;

	if (!mem_cgroup_by_index(m, id, &memcg) || !memcg)
		EMU_RETURN(emu_set_error(-ENOENT, "no memory cgroup with id %d", id));
	static const int lru_stat[NR_LRU_LISTS] = {
		EMU_STAT_INACTIVE_ANON, EMU_STAT_ACTIVE_ANON, EMU_STAT_INACTIVE_FILE,
		EMU_STAT_ACTIVE_FILE, EMU_STAT_UNEVICTABLE,
	};

	for (int i = 0; i < EMU_NR_STATS; i++)
		out[i] = memcg_page_state(memcg, i);
	unsigned long count[NR_LRU_LISTS] = { 0 };

	/* 6.1 counts a page on its list as it joins (update_lru_size()); 2.6.26 at charge */
	if (m->kernel == EMU_KERNEL_2_6_26)
		lru_add_count_batched(memcg, count);
	spin_lock(&memcg->info[0].lru_lock);
	for (int l = 0; l < NR_LRU_LISTS; l++)
		out[lru_stat[l]] = (long long)(memcg->info[0].count[l] + count[l]);
	spin_unlock(&memcg->info[0].lru_lock);
	EMU_RETURN(0);
}

int emu_memcg_set_use_hierarchy(struct machine *m, int id, int val)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);

	memcg->use_hierarchy = !!val;
	EMU_RETURN(0);
}

int emu_memcg_tasks(struct machine *m, int id, int *pids, int max)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);
	int n = 0;

	down_read(&m->tasklist_lock);
	for (int pid = 1; pid < m->next_pid; pid++) {
		struct task_struct *p = m->tasks[pid];
		int alive;

		if (!p || mem_cgroup_from_task(p) != memcg)
			continue;
		spin_lock(&p->alloc_lock);
		alive = p->state != TASK_DEAD;
		spin_unlock(&p->alloc_lock);
		if (alive && n < max)
			pids[n++] = pid;
		else if (alive)
			n++;
	}
	up_read(&m->tasklist_lock);
	EMU_RETURN(n);
}

int emu_memcg_reclaim(struct machine *m, int id, unsigned long nr_pages, int retries)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);

	unsigned long done = 0, freed;

	if (retries < 0)
		EMU_RETURN(emu_set_error(-EINVAL, "reclaim retries must be 0 or more"));
	/* as memory_reclaim() (cgroup v2's memory.reclaim, 6.1): SWAP_CLUSTER_MAX at a time,
	 * one round at least, until @nr_pages are freed or @retries rounds more have freed
	 * nothing (a round that only aged the lists frees nothing, the next one may) */
	do {
		freed = try_to_free_mem_cgroup_pages(memcg, min(nr_pages - done, SWAP_CLUSTER_MAX));
		done += freed;
	} while (done < nr_pages && (freed || retries--));
	EMU_RETURN((int)min(done, 0x7fffffffUL));
}

int emu_task_new(struct machine *m, int memcg_id)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, memcg_id);

	EMU_RETURN(task_new(m, memcg));
}

int emu_task_fork(struct machine *m, int pid)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	ON_TASK_CPU(p);

	EMU_RETURN(copy_process(p));
}

int emu_task_exec(struct machine *m, int pid, struct emu_image *img)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	ON_TASK_CPU(p);

	EMU_RETURN(do_execve(p, img));
}

int emu_task_exit(struct machine *m, int pid)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	ON_TASK_CPU(p);

	do_exit(p);
	EMU_RETURN(0);
}

int emu_task_memcg(struct machine *m, int pid)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);

	EMU_RETURN(mem_cgroup_from_task(p)->id);
}

/* mem_cgroup_move_task(), mm/memcontrol.c: the task's charges go to its new group from now on. */
int emu_task_attach(struct machine *m, int pid, int memcg_id)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	MEMCG_ARG(memcg, m, memcg_id);

	atomic_store(&p->mem_cgroup, memcg);
	EMU_RETURN(0);
}

/*
 * sched_setaffinity() to one CPU: the task runs there from now on.  Also
 * how the caller places a task at spawn or fork (select_task_rq()).
 */
int emu_task_set_cpu(struct machine *m, int pid, int cpu)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);

	if (cpu < 0 || cpu >= m->nr_cpus)
		EMU_RETURN(emu_set_error(-EINVAL, "no CPU %d (the machine has %d)", cpu, m->nr_cpus));
	atomic_store(&p->cpu, cpu);
	EMU_RETURN(0);
}

int emu_task_cpu(struct machine *m, int pid)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);

	EMU_RETURN(atomic_load(&p->cpu));
}

/*
 * drain(): every CPU's charge stock back to the counters (drain_all_stock()
 * of the root) and its LRU add batches onto the lists (lru_add_drain_all()).
 */
int emu_drain(struct machine *m)
{
	EMU_ENTER(m);

	drain_all_stock(NULL);
	lru_add_drain_all();
	EMU_RETURN(0);
}

/* /proc/<pid>/oom_score_adj */
int emu_task_set_oom_score_adj(struct machine *m, int pid, int adj)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);

	if (adj < -1000 || adj > 1000)
		EMU_RETURN(emu_set_error(-EINVAL, "oom_score_adj %d is outside -1000..1000", adj));
	spin_lock(&p->alloc_lock);
	p->oom_score_adj = adj;
	spin_unlock(&p->alloc_lock);
	EMU_RETURN(0);
}

static int range_arg(unsigned long long addr, unsigned long long len)
{
	if (addr & ~PAGE_MASK)
		return emu_set_error(-EINVAL, "address 0x%llx is not page aligned", addr);
	if (!len || len > TASK_SIZE || addr > TASK_SIZE - len)
		return emu_set_error(-EINVAL, "bad length %llu at 0x%llx", len, addr);
	return 0;
}

/* Is [start, end) covered by VMAs without a hole? */
static int range_mapped(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	struct vm_area_struct *vma = find_vma(mm, start);

	for (unsigned long addr = start; addr < end; vma = vma->vm_next) {
		if (!vma || vma->vm_start > addr)
			return 0;
		addr = vma->vm_end;
	}
	return 1;
}

/* A fault's context on this thread: the charging task and where its OOM kills are reported. */
struct fault_ctx {
	int saved_pid;
	struct oom_report *saved_report;
	struct oom_report report;
};

static void fault_begin(struct fault_ctx *f, int pid)
{
	memset(&f->report, 0, sizeof(f->report));
	f->saved_pid = current_pid;
	f->saved_report = current_oom_report;
	current_pid = pid;
	current_oom_report = &f->report;
}

/*
 * The fault has unwound, mmap_sem and the mm dropped
 * (mem_cgroup_oom_synchronize(), 3.12+): an OOM kill a 2.6.26 charge armed
 * runs now, and a task the OOM killer chose while it was charging (6.1)
 * exits now.  The fault fails with -ENOMEM if its charge did.
 */
static int fault_end(struct fault_ctx *f, int ret, int pid, struct emu_fault_info *info)
{
	struct machine *m = cur_machine;
	struct mem_cgroup *memcg = current_memcg_in_oom;
	struct oom_report *r = &f->report;
	struct task_struct *p = find_task_by_pid(m, pid);
	int victim;

	if (memcg) {
		current_memcg_in_oom = NULL;
		victim = mem_cgroup_out_of_memory(memcg, oom_takes_cgroup_lock(m));
		if (victim < 0)
			ret = victim;
	}
	current_pid = f->saved_pid;
	current_oom_report = f->saved_report;
	if (p) {
		int killed;

		spin_lock(&p->alloc_lock);
		killed = p->oom_killed && p->state != TASK_DEAD;
		spin_unlock(&p->alloc_lock);
		if (killed)
			do_exit(p);
	}
	if (ret == -EDEADLK || !r->oom)
		return ret;
	victim = r->nr ? r->victims[r->nr - 1] : 0;
	if (info) {
		info->oom_victim = victim;
		info->oom_memcg = r->memcg;
	}
	if (!ret)
		return 0;	/* 2.6.34+: the charge retried after the kill and went through */
	if (victim == pid)
		return emu_set_error(-ENOMEM, "memory cgroup %d out of memory: task %d was OOM-killed",
				     r->memcg, victim);
	if (victim)
		return emu_set_error(-ENOMEM, "memory cgroup %d out of memory: task %d was OOM-killed "
				     "instead of task %d", r->memcg, victim, pid);
	return emu_set_error(-ENOMEM, "memory cgroup %d out of memory: no task to kill", r->memcg);
}

int emu_mmap(struct machine *m, int pid, unsigned long long len, int kind,
	     const char *path, int private_, unsigned long long *addr)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	ON_TASK_CPU(p);
	struct address_space *file = NULL;
	unsigned long flags = 0, start = 0;
	struct mm_struct *mm;
	int ret;

	if (kind != EMU_VMA_ANON && kind != EMU_VMA_FILE && kind != EMU_VMA_SHM)
		EMU_RETURN(emu_set_error(-EINVAL, "unknown mapping kind %d", kind));
	if (!len || len > TASK_SIZE)
		EMU_RETURN(emu_set_error(-EINVAL, "bad mapping length %llu", len));
	if (kind == EMU_VMA_FILE && (!path || !path[0]))
		EMU_RETURN(emu_set_error(-EINVAL, "a file mapping needs a path"));
	mm = get_task_mm(p);
	if (!mm)
		EMU_RETURN(emu_set_error(-ESRCH, "task %d has exited", pid));
	if (kind == EMU_VMA_FILE)
		file = file_lookup(m, path, 1);
	else if (kind == EMU_VMA_SHM)
		file = shmem_file_setup(m);
	if (kind != EMU_VMA_ANON && !file) {
		mmput(mm);
		EMU_RETURN(emu_set_error(-ENOMEM, "out of host memory"));
	}
	if (kind == EMU_VMA_SHM || (kind == EMU_VMA_FILE && !private_))
		flags = VM_SHARED | VM_MAYSHARE;
	ret = mmap_write_lock_killable(mm, pid);
	if (!ret) {
		ret = do_mmap(mm, (unsigned long)len, flags, file, &start);
		up_write(&mm->mmap_sem);
		if (ret)
			emu_set_error(ret, "no room for %llu bytes in the address space", len);
	}
	if (ret && kind == EMU_VMA_SHM)
		shmem_put(file);
	mmput(mm);
	if (ret)
		EMU_RETURN(ret);
	*addr = start;
	EMU_RETURN(0);
}

int emu_munmap(struct machine *m, int pid, unsigned long long addr, unsigned long long len)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	ON_TASK_CPU(p);
	struct mm_struct *mm;
	int ret = range_arg(addr, len);

	if (ret)
		EMU_RETURN(ret);
	len = (len + PAGE_SIZE - 1) & PAGE_MASK;
	mm = get_task_mm(p);
	if (!mm)
		EMU_RETURN(emu_set_error(-ESRCH, "task %d has exited", pid));
	ret = mmap_write_lock_killable(mm, pid);
	if (!ret) {
		ret = do_munmap(mm, (unsigned long)addr, (unsigned long)len);
		up_write(&mm->mmap_sem);
	}
	mmput(mm);
	EMU_RETURN(ret);
}

/* The page-aligned [*start, *end) around [addr, addr+len) and the task's mm, or an error. */
static int task_range(struct task_struct *p, unsigned long long addr, unsigned long long len,
		      unsigned long *start, unsigned long *end, struct mm_struct **mm)
{
	if (!len || len > TASK_SIZE || addr > TASK_SIZE - len)
		return emu_set_error(-EINVAL, "bad length %llu at 0x%llx", len, addr);
	*start = addr & PAGE_MASK;
	*end = (unsigned long)((addr + len + PAGE_SIZE - 1) & PAGE_MASK);
	*mm = get_task_mm(p);
	return *mm ? 0 : emu_set_error(-ESRCH, "task %d has exited", p->pid);
}

/* madvise(2) with MADV_HUGEPAGE or MADV_NOHUGEPAGE over a mapped range. */
int emu_madvise(struct machine *m, int pid, unsigned long long addr, unsigned long long len, int advice)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	unsigned long start, end;
	struct mm_struct *mm;
	int ret;

	if (advice != EMU_MADV_HUGEPAGE && advice != EMU_MADV_NOHUGEPAGE)
		EMU_RETURN(emu_set_error(-EINVAL, "unknown madvise advice %d", advice));
	ret = task_range(p, addr, len, &start, &end, &mm);
	if (ret)
		EMU_RETURN(ret);
	down_write(&mm->mmap_sem);
	ret = range_mapped(mm, start, end) ? madvise_hugepage(mm, start, end, advice)
		: emu_set_error(-ENOMEM, "[0x%lx, 0x%lx) is not mapped", start, end);
	up_write(&mm->mmap_sem);
	mmput(mm);
	EMU_RETURN(ret);
}

/* /sys/kernel/mm/transparent_hugepage/enabled */
int emu_machine_set_thp(struct machine *m, int mode)
{
	EMU_ENTER(m);

	if (mode != EMU_THP_NEVER && mode != EMU_THP_MADVISE && mode != EMU_THP_ALWAYS)
		EMU_RETURN(emu_set_error(-EINVAL, "unknown transparent_hugepage mode %d", mode));
	m->thp = mode;
	EMU_RETURN(0);
}

int emu_mlock(struct machine *m, int pid, unsigned long long addr, unsigned long long len,
	      struct emu_fault_info *info)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	ON_TASK_CPU(p);
	unsigned long start, end;
	struct mm_struct *mm;
	struct fault_ctx f;
	TRACE_SLICE(EMU_TRACE_FAULT, mem_cgroup_from_task(p)->id, pid, (long long)len, NULL);
	int ret = task_range(p, addr, len, &start, &end, &mm);

	if (ret)
		EMU_RETURN(ret);
	/* sys_mlock(), 2.6.28 to 5.17: "flush pagevec" (6.1's mlock finds batched pages itself) */
	if (m->kernel > EMU_KERNEL_2_6_26 && m->kernel < EMU_KERNEL_6_1)
		lru_add_drain_all();
	fault_begin(&f, pid);
	ret = mmap_write_lock_killable(mm, pid);
	if (!ret) {
		ret = range_mapped(mm, start, end) ? mlock_fixup(mm, start, end)
			: emu_set_error(-ENOMEM, "[0x%lx, 0x%lx) is not mapped", start, end);
		up_write(&mm->mmap_sem);
	}
	mmput(mm);
	EMU_RETURN(fault_end(&f, ret, pid, info));
}

int emu_touch(struct machine *m, int pid, unsigned long long addr, unsigned long long len,
	      int write, struct emu_fault_info *info)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	ON_TASK_CPU(p);
	unsigned long start, end, done = 0;
	struct mm_struct *mm;
	struct fault_ctx f;
	TRACE_SLICE(EMU_TRACE_FAULT, mem_cgroup_from_task(p)->id, pid, (long long)len, &done);
	int ret = task_range(p, addr, len, &start, &end, &mm);

	if (ret)
		EMU_RETURN(ret);
	fault_begin(&f, pid);
	down_read(&mm->mmap_sem);
	if (!range_mapped(mm, start, end)) {
		ret = emu_set_error(-EFAULT, "task %d: [0x%lx, 0x%lx) is not mapped", pid, start, end);
	} else {
		struct vm_area_struct *vma = find_vma(mm, start);

		for (unsigned long a = start; a < end && !ret; a += PAGE_SIZE, done++) {
			if (a >= vma->vm_end)
				vma = vma->vm_next;
			ret = handle_mm_fault(mm, vma, a, write);
			if (!ret && fatal_signal_pending(done))
				ret = emu_set_error(-EINTR, "task %d: interrupted after %lu pages", pid, done + 1);
		}
	}
	up_read(&mm->mmap_sem);
	mmput(mm);
	if (info)
		info->pages_faulted = done;
	EMU_RETURN(fault_end(&f, ret, pid, info));
}

int emu_file_write(struct machine *m, int pid, const char *path, unsigned long long len,
		   struct emu_fault_info *info)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	ON_TASK_CPU(p);
	struct address_space *mapping;
	struct mm_struct *mm;
	struct fault_ctx f;
	int ret;
	TRACE_SLICE(EMU_TRACE_FAULT, mem_cgroup_from_task(p)->id, pid, (long long)len, NULL);

	if (!path || !path[0])
		EMU_RETURN(emu_set_error(-EINVAL, "a file write needs a path"));
	if (len > TASK_SIZE)
		EMU_RETURN(emu_set_error(-EFBIG, "file too large"));
	mapping = file_lookup(m, path, 1);
	if (!mapping)
		EMU_RETURN(emu_set_error(-ENOMEM, "out of host memory"));
	mm = get_task_mm(p);
	if (!mm)
		EMU_RETURN(emu_set_error(-ESRCH, "task %d has exited", pid));
	fault_begin(&f, pid);
	ret = generic_file_write(mm, mapping, (unsigned long)((len + PAGE_SIZE - 1) >> PAGE_SHIFT));
	mmput(mm);
	EMU_RETURN(fault_end(&f, ret, pid, info));
}

int emu_check_locked(struct machine *m);

int emu_check(struct machine *m)
{
	EMU_ENTER(m);
	EMU_RETURN(emu_check_locked(m));
}
