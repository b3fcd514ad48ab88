/*
 * The move context and the per-policy entry points (custom to the
 * emulator): Python decides, these do the per-page work in C.
 */
#include "entry.h"

extern __thread struct mem_cgroup *current_memcg_in_oom;

int mem_cgroup_recharge_isolate(struct move_ctx *ctx);
int mem_cgroup_recharge_move(struct move_ctx *ctx);
int mem_cgroup_recharge_rollback(struct move_ctx *ctx);
int mem_cgroup_precharge_mc(struct move_ctx *ctx, int move_type);
int mem_cgroup_move_charge(struct move_ctx *ctx);
void mem_cgroup_clear_mc(struct move_ctx *ctx);

/*
 * A charge of the move gave up with the OOM killer armed: run it now, no
 * spinlocks held -- but under cgroup_mutex, which the attach path holds:
 * 0, or -EDEADLK where the OOM path takes it again.
 */
int move_ctx_oom(struct move_ctx *ctx)
{
	struct mem_cgroup *memcg = current_memcg_in_oom;
	struct oom_report *saved;
	int victim;

	if (!memcg)
		return 0;
	current_memcg_in_oom = NULL;
	saved = current_oom_report;
	current_oom_report = &ctx->oom;
	victim = mem_cgroup_out_of_memory(memcg, ctx->oom_cgroup_locked);
	current_oom_report = saved;
	return min(victim, 0);
}

int emu_move_begin(struct machine *m, int pid, int to_id, struct move_ctx **out)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	MEMCG_ARG(to, m, to_id);
	struct move_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		EMU_RETURN(emu_set_error(-ENOMEM, "out of host memory"));
	ctx->machine = m;
	ctx->task = p;
	ctx->mm = get_task_mm(p);
	ctx->from = mem_cgroup_from_task(p);
	ctx->to = to;
	ctx->oom_cgroup_locked = oom_takes_cgroup_lock(m);
	INIT_LIST_HEAD(&ctx->isolated);
	INIT_LIST_HEAD(&ctx->moved);
	spin_lock(&m->moves_lock);
	list_add(&ctx->node, &m->moves);
	spin_unlock(&m->moves_lock);
	trace_event(EMU_TRACE_MOVE, 'B', ctx->from->id, pid, to->id, 0);
	*out = ctx;
	EMU_RETURN(0);
}

/* putback_lru_pages() of both lists (phase 4 of the seed). */
int emu_move_putback(struct move_ctx *ctx)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_PUTBACK, ctx);

	putback_lru_pages(&ctx->isolated);
	putback_lru_pages(&ctx->moved);
	EMU_RETURN(cond_resched_phase(EMU_PHASE_PUTBACK, ctx->nr_moved));
}

int emu_move_end(struct move_ctx *ctx)
{
	struct machine *m = ctx->machine;
	EMU_ENTER(m);

	putback_lru_pages(&ctx->isolated);
	putback_lru_pages(&ctx->moved);
	spin_lock(&m->moves_lock);
	list_del(&ctx->node);
	spin_unlock(&m->moves_lock);
	if (ctx->mm)
		mmput(ctx->mm);
	trace_event(EMU_TRACE_MOVE, 'E', ctx->to->id, ctx->nr_moved, ctx->nr_leaked, ctx->oom.nr);
	free(ctx->counted);
	free(ctx);
	EMU_RETURN(0);
}

int emu_move_stats(struct move_ctx *ctx, struct emu_move_stats *out)
{
	out->isolated = ctx->nr_isolated;
	out->moved = ctx->nr_moved;
	out->leaked = ctx->nr_leaked;
	out->skipped = ctx->nr_skipped;
	out->precharge = ctx->precharge;
	out->moved_swap = ctx->moved_swap;
	out->nr_victims = ctx->oom.nr;
	for (int i = 0; i < ctx->oom.nr; i++)
		out->victims[i] = ctx->oom.victims[i];
	return 0;
}

int emu_memcg_margin(struct machine *m, int id, unsigned long long *out)
{
	EMU_ENTER(m);
	MEMCG_ARG(memcg, m, id);

	*out = mem_cgroup_margin(memcg);
	EMU_RETURN(0);
}

int emu_seed_isolate(struct move_ctx *ctx)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_WALK, ctx);

	int ret = ctx->mm ? mem_cgroup_recharge_isolate(ctx) : 0;	/* no mm: nothing to move */

	EMU_RETURN(ret ? ret : (int)min(ctx->nr_isolated, 0x7fffffffUL));
}

/* The seed-2.6.29 variant: the same patch on a kernel whose OOM path no longer takes cgroup_lock(). */
int emu_move_oom_unlocked(struct move_ctx *ctx)
{
	ctx->oom_cgroup_locked = 0;
	return 0;
}

int emu_seed_recharge(struct move_ctx *ctx)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_MOVE_PAGES, ctx);
	int ret = mem_cgroup_recharge_move(ctx);

	if (ret == -ENOMEM)
		emu_set_error(-ENOMEM, "memory cgroup %d is full: a page could not be charged to it",
			      ctx->to->id);
	EMU_RETURN(ret);
}

int emu_seed_rollback(struct move_ctx *ctx)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_ROLLBACK, ctx);

	EMU_RETURN(mem_cgroup_recharge_rollback(ctx));
}

/* mem_cgroup_can_attach(): count and precharge; on failure the precharge is cancelled. */
int emu_upstream_can_attach(struct move_ctx *ctx, int move_type)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_PRECHARGE, ctx);
	int ret;

	if (!ctx->mm || ctx->mm->owner != ctx->task)
		EMU_RETURN(0);	/* only the mm owner's move carries charges */
	ret = mem_cgroup_precharge_mc(ctx, move_type);
	if (ret) {
		mem_cgroup_clear_mc(ctx);
		if (ret == -ENOMEM)
			emu_set_error(-ENOMEM, "memory cgroup %d cannot take the %lu pages to move "
				      "(precharge failed)", ctx->to->id, ctx->nr_isolated);
	}
	EMU_RETURN(ret);
}

/* mem_cgroup_move_task(): the move walk; -ENOMEM when it stopped part way. */
int emu_upstream_move(struct move_ctx *ctx)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_MOVE_PAGES, ctx);
	int ret = ctx->mm && ctx->move_type ? mem_cgroup_move_charge(ctx) : 0;

	if (ret == -ENOMEM)
		emu_set_error(-ENOMEM, "memory cgroup %d filled up during the move: %lu pages moved, "
			      "the rest stay behind", ctx->to->id, ctx->nr_moved);
	EMU_RETURN(ret);
}

int emu_upstream_clear(struct move_ctx *ctx)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_CLEAR, ctx);

	mem_cgroup_clear_mc(ctx);
	EMU_RETURN(0);
}

int emu_mc_waiters(struct machine *m)
{
	int n;

	pthread_mutex_lock(&m->mc_lock);
	n = m->mc_waiters;
	pthread_mutex_unlock(&m->mc_lock);
	return n;
}

/*
 * run_on work (custom to the emulator): the thread's struct emu_work, where
 * its sleeps are counted, and the machine whose work_lock guards it.
 */
static __thread struct emu_work *current_work;
static __thread struct machine *current_work_machine;

int emu_work_begin(struct machine *m, struct emu_work *w, int cpu)
{
	if (cpu < 0 || cpu >= m->nr_cpus)
		return emu_set_error(-EINVAL, "no CPU %d (the machine has %d)", cpu, m->nr_cpus);
	current_cpu = cpu;	/* what this thread does runs on @cpu */
	current_work = w;
	current_work_machine = m;
	return 0;
}

static void work_update(struct machine *m, struct emu_work *w, int sleeping, int done)
{
	pthread_mutex_lock(&m->work_lock);
	w->sleeping = sleeping;
	w->sleeps += sleeping != EMU_WAIT_NONE;
	w->done = done;
	pthread_cond_broadcast(&m->work_changed);
	pthread_mutex_unlock(&m->work_lock);
}

void emu_sleep_begin(int what)
{
	if (current_work)
		work_update(current_work_machine, current_work, what, 0);
}

void emu_sleep_end(void)
{
	if (current_work)
		work_update(current_work_machine, current_work, EMU_WAIT_NONE, 0);
}

void emu_work_done(struct machine *m, struct emu_work *w)
{
	work_update(m, w, EMU_WAIT_NONE, 1);
	current_work = NULL;
}

/*
 * Sleep until @w has gone to sleep once more since the last call (what on:
 * an enum emu_wait) or has finished (EMU_WAIT_NONE).  Real
 * synchronization, no polling.
 */
int emu_wait_blocked_or_done(struct machine *m, struct emu_work *w)
{
	int on;

	pthread_mutex_lock(&m->work_lock);
	while (!w->done && (w->sleeping == EMU_WAIT_NONE || w->sleeps == w->seen))
		pthread_cond_wait(&m->work_changed, &m->work_lock);
	w->seen = w->sleeps;
	on = w->done ? EMU_WAIT_NONE : w->sleeping;
	pthread_mutex_unlock(&m->work_lock);
	return on;
}
