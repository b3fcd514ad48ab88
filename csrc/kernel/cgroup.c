/*
 * cgroup_mutex (kernel/cgroup.c cgroup_lock()/cgroup_unlock()) as a checked
 * lock: a real mutex, with lockdep's check for a thread taking it again.
 * The 2.6.26 memcg OOM path takes it while the attach path holds it; the
 * kernel hangs there, the emulator reports the self-deadlock and refuses
 * everything that needs the mutex from then on.
 */
#include "../emu/entry.h"

/*
 * The on_resched hook runs as another task on the mover's thread: a frame
 * deeper than the holder may not wait for it (it would wait on itself), so
 * it nests, as another task would have got the lock after the move.
 */
__thread int current_task_frame;

static int machine_deadlocked(struct machine *m)
{
	return emu_set_error(-EDEADLK, "machine deadlocked at %s (cgroup_mutex taken again while "
			     "held at %s): make a new Machine", m->deadlock.wanted_at, m->deadlock.held_at);
}

/* cgroup_lock() from @where: 0, or -EDEADLK on a self-deadlock or a machine hung by one. */
int cgroup_lock(struct machine *m, const char *where)
{
	pthread_t self = pthread_self();

	spin_lock(&m->cgroup_mutex_state);
	if (m->deadlock.deadlocked) {
		spin_unlock(&m->cgroup_mutex_state);
		return machine_deadlocked(m);
	}
	if (m->cgroup_mutex_held && pthread_equal(m->cgroup_mutex_owner, self)) {
		if (m->cgroup_mutex_frame < current_task_frame) {
			m->cgroup_mutex_nest++;
			spin_unlock(&m->cgroup_mutex_state);
			return 0;
		}
		/* lockdep: possible recursive locking detected -- the task waits on itself forever */
		m->deadlock.deadlocked = 1;
		snprintf(m->deadlock.held_at, sizeof(m->deadlock.held_at), "%s", m->cgroup_mutex_where);
		snprintf(m->deadlock.wanted_at, sizeof(m->deadlock.wanted_at), "%s", where);
		spin_unlock(&m->cgroup_mutex_state);
		return machine_deadlocked(m);
	}
	spin_unlock(&m->cgroup_mutex_state);
	mutex_lock_sleeping(&m->cgroup_mutex, EMU_WAIT_CGROUP_MUTEX);
	spin_lock(&m->cgroup_mutex_state);
	if (m->deadlock.deadlocked) {	/* hung while we waited */
		spin_unlock(&m->cgroup_mutex_state);
		pthread_mutex_unlock(&m->cgroup_mutex);
		return machine_deadlocked(m);
	}
	m->cgroup_mutex_held = 1;
	m->cgroup_mutex_owner = self;
	m->cgroup_mutex_frame = current_task_frame;
	m->cgroup_mutex_nest = 0;
	snprintf(m->cgroup_mutex_where, sizeof(m->cgroup_mutex_where), "%s", where);
	spin_unlock(&m->cgroup_mutex_state);
	return 0;
}

void cgroup_unlock(struct machine *m)
{
	spin_lock(&m->cgroup_mutex_state);
	if (m->cgroup_mutex_nest) {
		m->cgroup_mutex_nest--;
		spin_unlock(&m->cgroup_mutex_state);
		return;
	}
	m->cgroup_mutex_held = 0;
	spin_unlock(&m->cgroup_mutex_state);
	pthread_mutex_unlock(&m->cgroup_mutex);
}

int emu_cgroup_lock(struct machine *m, const char *where)
{
	EMU_ENTER(m);
	EMU_RETURN(cgroup_lock(m, where ? where : "?"));
}

int emu_cgroup_unlock(struct machine *m)
{
	EMU_ENTER(m);
	cgroup_unlock(m);
	EMU_RETURN(0);
}

int emu_deadlock_info(struct machine *m, struct emu_deadlock *out)
{
	spin_lock(&m->cgroup_mutex_state);
	*out = m->deadlock;
	spin_unlock(&m->cgroup_mutex_state);
	return out->deadlocked;
}
