/* The memcg OOM killer (mm/oom_kill.c). */
#include "../include/linux/mm.h"

/*
 * select_bad_process(), mm/oom_kill.c: the group's task with the highest
 * oom_badness() (resident pages and swap entries, shifted by oom_score_adj per
 * mille of RAM);
 * -1 while an earlier victim is still exiting (TIF_MEMDIE): wait, kill no more.
 */
int select_bad_process(struct mem_cgroup *memcg)
{
	struct machine *m = cur_machine;
	long best = 0;
	int victim = 0;

	down_read(&m->tasklist_lock);
	for (int pid = 1; pid < m->next_pid; pid++) {
		struct task_struct *p = m->tasks[pid];
		struct mm_struct *mm;
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
		mm = get_task_mm(p);
		if (!mm)
			continue;
		points = (long)(get_mm_rss(mm) + get_mm_swapents(mm)) + (long)adj * (long)(m->nr_pages / 1000);
		mmput(mm);
		if (points <= 0)
			points = 1;
		if (points >= best) {	/* oom_evaluate_task(): a tie goes to the later task */
			best = points;
			victim = pid;
		}
	}
	up_read(&m->tasklist_lock);
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
 * oom_kill_process(), mm/oom_kill.c: mark the victim (TIF_MEMDIE) and, with
 * @exit_now, tear it down; the charging task itself exits only once its
 * fault has unwound (it holds its own mmap_sem here).
 */
void oom_kill_process(struct machine *m, int pid, int exit_now)
{
	struct task_struct *p = find_task_by_pid(m, pid);

	if (!p)
		return;
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
		oom_kill_process(m, pid, 1);
	if (cgroup_locked)
		cgroup_unlock(m);
	oom_note(memcg, max(pid, 0));
	return max(pid, 0);
}
