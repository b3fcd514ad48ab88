/* The memcg OOM killer (mm/oom_kill.c). */
#include <string.h>
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
		r.points = (long)(r.anon_rss + r.file_rss + r.shmem_rss + r.swapents) +
			   (long)r.oom_score_adj * (long)(m->nr_pages / 1000);
		mmput(mm);
	}
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
 * mem_cgroup_out_of_memory(), mm/oom_kill.c: kill the worst task; its pid, or 0.
 * With memory.oom_control's oom_kill_disable set, mem_cgroup_oom() kills no one.
 */
int mem_cgroup_out_of_memory(struct mem_cgroup *memcg)
{
	int pid;
	struct task_struct *p;

	if (atomic_load(&memcg->oom_kill_disable))
		return 0;
	pid = select_bad_process(memcg);
	if (pid <= 0)
		return 0;
	p = find_task_by_pid(cur_machine, pid);
	if (!p)
		return 0;
	oom_log_kill(memcg, p);
	spin_lock(&p->alloc_lock);
	p->oom_killed = 1;
	p->memdie = 1;
	spin_unlock(&p->alloc_lock);
	do_exit(p);
	return pid;
}
