/* The memcg OOM killer (mm/oom_kill.c). */
#include <limits.h>
#include <string.h>
#include "../include/linux/mm.h"
#include "../emu/trace.h"

/* The pages an OOM score is a share of: mem_cgroup_get_max() (6.1), mem_cgroup_get_limit() (3.4). */
static unsigned long oom_totalpages(struct mem_cgroup *memcg)
{
	struct machine *m = cur_machine;
	unsigned long long limit = READ_ONCE(memcg->res.limit), swap;

	if (!memcg->parent)	/* the root: the machine, RAM and swap (out_of_memory()) */
		return m->nr_pages + m->nr_swap;
	limit = min(limit, (unsigned long long)LONG_MAX) / PAGE_SIZE;	/* PAGE_COUNTER_MAX */
	if (!do_swap_account(m))
		return (unsigned long)limit;
	swap = READ_ONCE(memcg->memsw.limit) / PAGE_SIZE - limit;
	return (unsigned long)(limit + min(swap, (unsigned long long)m->nr_swap));
}

/* mm->total_vm of a task, or -1 without an mm. */
static long task_total_vm(struct task_struct *p)
{
	struct mm_struct *mm = get_task_mm(p);
	long vm;

	if (!mm)
		return -1;
	vm = atomic_load(&mm->total_vm);
	mmput(mm);
	return vm;
}

/*
 * badness(), mm/oom_kill.c 2.6.26-2.6.35: the size of the address space
 * (total_vm) plus half of each child's with its own mm, shifted by oom_adj
 * (oom_score_adj scaled to -16..15).  No CPU or run time here, no nice, no
 * capabilities: those divisors are 1.  Caller holds tasklist_lock.
 */
static long badness(struct machine *m, struct task_struct *p, int adj)
{
	long points = task_total_vm(p);
	int oom_adj = adj * 15 / 1000;

	if (points < 0)
		return LONG_MIN;
	for (int pid = 1; pid < m->next_pid; pid++) {
		struct task_struct *child = m->tasks[pid];
		long vm;

		if (!child || child->parent_pid != p->pid)
			continue;
		vm = task_total_vm(child);	/* a forked child always has its own mm */
		if (vm >= 0)
			points += vm / 2 + 1;
	}
	if (oom_adj > 0)
		points = max(points, 1L) << oom_adj;
	else if (oom_adj < 0)
		points >>= -oom_adj;
	return points;
}

/*
 * oom_badness(), mm/oom_kill.c: resident pages and swap entries;
 * 3.4: per mille of @totalpages plus oom_score_adj, clamped to 1..1000;
 * 6.1: plus oom_score_adj per mille of @totalpages, unclamped.
 */
static long oom_badness(struct machine *m, struct task_struct *p, int adj, unsigned long totalpages)
{
	struct mm_struct *mm = get_task_mm(p);
	long points;

	if (!mm)
		return LONG_MIN;
	points = (long)(get_mm_rss(mm) + get_mm_swapents(mm));
	mmput(mm);
	if (m->kernel >= EMU_KERNEL_6_1)
		return points + (long)adj * (long)(totalpages / 1000);
	points = points * 1000 / (long)max(totalpages, 1UL) + adj;
	return points <= 0 ? 1 : min(points, 1000L);
}

/*
 * select_bad_process(), mm/oom_kill.c (mem_cgroup_out_of_memory()'s loop in
 * 3.4): the group's task with the highest score, by the profile's scoring
 * (badness() before 2.6.36, oom_badness() after); a tie goes to the first
 * task before 6.1, to the later one on 6.1 (oom_evaluate_task()).
 * -1 while an earlier victim is still exiting (TIF_MEMDIE): wait, kill no more.
 */
int select_bad_process(struct mem_cgroup *memcg)
{
	struct machine *m = cur_machine;
	unsigned long totalpages = oom_totalpages(memcg);
	long best = LONG_MIN;
	int victim = 0;

	down_read(&m->tasklist_lock);
	for (int pid = 1; pid < m->next_pid; pid++) {
		struct task_struct *p = m->tasks[pid];
		long points;
		int memdie, adj;

		if (!p || !mem_cgroup_is_descendant(mem_cgroup_from_task(p), memcg))
			continue;
		spin_lock(&p->alloc_lock);
		memdie = p->memdie;
		adj = p->oom_score_adj;
		spin_unlock(&p->alloc_lock);
		if (memdie) {
			victim = -1;
			break;
		}
		if (adj == -1000)
			continue;
		points = m->kernel < EMU_KERNEL_3_4 ? badness(m, p, adj) : oom_badness(m, p, adj, totalpages);
		if (points == LONG_MIN)
			continue;	/* no mm; a 6.1 score may be negative and still count */
		if (points > best || (m->kernel >= EMU_KERNEL_6_1 && points == best)) {
			best = points;
			victim = pid;
		}
	}
	up_read(&m->tasklist_lock);
	if (victim > 0)	/* trace_mark_victim(): mem_cgroup_out_of_memory() kills it next */
		trace_instant(EMU_TRACE_OOM_KILL, memcg->id, victim, best, 0);
	return victim;
}

__thread struct oom_report *current_oom_report;
__thread int current_pid;

/* Record an OOM in @memcg (and its victim, if any) where this thread's charge reports to. */
void oom_note(struct mem_cgroup *memcg, int victim)
{
	struct oom_report *r = current_oom_report;

	if (!r)
		return;
	r->oom = 1;
	r->memcg = memcg->id;
	if (victim && r->nr < OOM_MAX_VICTIMS)
		r->victims[r->nr++] = victim;
}

/*
 * The figures oom_kill_process() prints for its victim (mm/oom_kill.c): what
 * memcg_emu's dmesg formats as each profile's kernel words it.
 */
static void oom_log_kill(struct mem_cgroup *memcg, struct task_struct *p)
{
	struct machine *m = cur_machine;
	struct emu_oom_record r = { .pid = p->pid, .oom_memcg = memcg->id };
	struct mem_cgroup *task_memcg = mem_cgroup_from_task(p);
	struct mm_struct *mm = get_task_mm(p);

	r.task_memcg = task_memcg ? task_memcg->id : 0;
	spin_lock(&p->alloc_lock);
	r.oom_score_adj = p->oom_score_adj;
	spin_unlock(&p->alloc_lock);
	if (mm) {		/* the counters only: the charging task may hold its own mmap_sem */
		r.total_vm = atomic_load(&mm->total_vm);
		r.anon_rss = atomic_load(&mm->rss[MM_ANONPAGES]);
		r.file_rss = atomic_load(&mm->rss[MM_FILEPAGES]);
		r.shmem_rss = atomic_load(&mm->rss[MM_SHMEMPAGES]);
		r.swapents = atomic_load(&mm->rss[MM_SWAPENTS]);
		mmput(mm);
	}
	down_read(&m->tasklist_lock);	/* the score select_bad_process() chose it by */
	r.points = m->kernel < EMU_KERNEL_3_4 ? badness(m, p, r.oom_score_adj) :
		   oom_badness(m, p, r.oom_score_adj, oom_totalpages(memcg));
	up_read(&m->tasklist_lock);
	if (task_memcg)		/* memcg_memory_event_mm(mm, MEMCG_OOM_KILL): v1 counts the victim's group only */
		atomic_fetch_add(&task_memcg->oom_kill, 1);
	spin_lock(&m->oom_log_lock);
	if (m->oom_log_len == OOM_LOG_MAX) {
		memmove(m->oom_log, m->oom_log + 1, (OOM_LOG_MAX - 1) * sizeof(r));
		m->oom_log_len--;
	}
	m->oom_log[m->oom_log_len++] = r;
	spin_unlock(&m->oom_log_lock);
}

/*
 * oom_kill_process(), mm/oom_kill.c: log the kill, mark the victim (TIF_MEMDIE)
 * and, with @exit_now, tear it down; the charging task itself exits only once
 * its fault has unwound (it holds its own mmap_sem here).
 */
void oom_kill_process(struct machine *m, struct mem_cgroup *memcg, int pid, int exit_now)
{
	struct task_struct *p = find_task_by_pid(m, pid);

	if (!p)
		return;
	oom_log_kill(memcg, p);
	spin_lock(&p->alloc_lock);
	p->oom_killed = 1;
	p->memdie = 1;
	spin_unlock(&p->alloc_lock);
	if (exit_now)
		do_exit(p);
}

/* task_is_dying(), mm/memcontrol.c: the charging task was chosen by the OOM killer. */
int current_task_dying(void)
{
	struct task_struct *p = current_pid ? find_task_by_pid(cur_machine, current_pid) : NULL;
	int dying = 0;

	if (p) {
		spin_lock(&p->alloc_lock);
		dying = p->memdie;
		spin_unlock(&p->alloc_lock);
	}
	return dying;
}

/*
 * mem_cgroup_out_of_memory(), mm/oom_kill.c 2.6.26: kill the worst task; its
 * pid, 0, or -EDEADLK.  With @cgroup_locked (2.6.26: cgroup_lock() around
 * the selection and kill, until 2.6.29) it takes cgroup_mutex, which the
 * attach path may already hold on this thread.
 */
int mem_cgroup_out_of_memory(struct mem_cgroup *memcg, int cgroup_locked)
{
	struct machine *m = cur_machine;
	int pid, ret;

	if (cgroup_locked && (ret = cgroup_lock(m, "mem_cgroup_out_of_memory")))
		return ret;
	pid = select_bad_process(memcg);
	if (pid > 0)
		oom_kill_process(m, memcg, pid, 1);
	if (cgroup_locked)
		cgroup_unlock(m);
	oom_note(memcg, max(pid, 0));
	return max(pid, 0);
}
