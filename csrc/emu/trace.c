/*
 * Trace events (custom to the emulator): a buffer of fixed-size records
 * that Python drains and writes as a timeline (memcg_emu/trace.py).  Each
 * record is taken under one lock with its timestamp, so the buffer is in
 * time order; after it come counter records for every group whose usage or
 * limit changed since the last record, so a timeline's counters are exact
 * at every event.
 */
#include <pthread.h>
#include <time.h>
#include "entry.h"
#include "trace.h"

#define TRACE_MAX_EVENTS (1UL << 21)	/* ~100 MB: the buffer stops growing here, drops the rest */

struct trace_counter {
	unsigned long long usage, limit;
	int seen;
};

struct emu_trace {
	spinlock_t lock;
	struct emu_trace_event *ev;
	size_t head, n, cap;		/* events [head, n) wait to be read */
	long dropped;
	unsigned long long t0;
	struct trace_counter *counters;	/* by memcg id: the last values emitted */
	int nr_counters;
};

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

/* The emulated CPU of the caller: one CPU for now (tasks have no CPU yet). */
static int trace_cpu(void)
{
	return 0;
}

static struct emu_trace_event *trace_slot(struct emu_trace *t)
{
	if (t->head && t->n == t->cap) {	/* reuse the room reads have freed */
		memmove(t->ev, t->ev + t->head, (t->n - t->head) * sizeof(*t->ev));
		t->n -= t->head;
		t->head = 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		struct emu_trace_event *ev;

		if (cap > TRACE_MAX_EVENTS || !(ev = realloc(t->ev, cap * sizeof(*ev)))) {
			t->dropped++;
			return NULL;
		}
		t->ev = ev;
		t->cap = cap;
	}
	return &t->ev[t->n++];
}

static void trace_put(struct emu_trace *t, unsigned long long ts, int type, int ph, int memcg,
		      long long a0, long long a1, long long a2)
{
	struct emu_trace_event *e = trace_slot(t);

	if (!e)
		return;
	*e = (struct emu_trace_event){ .ts_ns = ts, .thread = (unsigned long long)pthread_self(),
		.type = type, .ph = ph, .cpu = trace_cpu(), .memcg = memcg, .args = { a0, a1, a2 } };
}

/* Counter records for the groups whose usage or limit moved since the last ones. */
static void trace_counters(struct machine *m, struct emu_trace *t, unsigned long long ts)
{
	for (int id = 0;; id++) {
		struct mem_cgroup *memcg;
		unsigned long long usage, limit;
		struct trace_counter *c;

		if (!mem_cgroup_by_index(m, id, &memcg))
			break;
		if (!memcg || memcg->dead)
			continue;
		if (id >= t->nr_counters) {
			int nr = max(id + 1, t->nr_counters * 2);
			struct trace_counter *cs = realloc(t->counters, nr * sizeof(*cs));

			if (!cs)
				return;
			memset(cs + t->nr_counters, 0, (nr - t->nr_counters) * sizeof(*cs));
			t->counters = cs;
			t->nr_counters = nr;
		}
		spin_lock(&memcg->res.lock);
		usage = memcg->res.usage;
		limit = memcg->res.limit;
		spin_unlock(&memcg->res.lock);
		c = &t->counters[id];
		if (!c->seen || c->usage != usage)
			trace_put(t, ts, EMU_TRACE_USAGE, 'C', id, (long long)usage, 0, 0);
		if (!c->seen || c->limit != limit)
			trace_put(t, ts, EMU_TRACE_LIMIT, 'C', id, (long long)limit, 0, 0);
		*c = (struct trace_counter){ usage, limit, 1 };
	}
}

void emu_trace_emit(struct machine *m, int type, int ph, int memcg, long long a0, long long a1,
		    long long a2)
{
	struct emu_trace *t = m->trace;
	unsigned long long ts;

	spin_lock(&t->lock);
	ts = now_ns() - t->t0;
	trace_counters(m, t, ts);
	trace_put(t, ts, type, ph, memcg, a0, a1, a2);
	spin_unlock(&t->lock);
}

void trace_slice_end(struct trace_slice *s)
{
	const struct move_ctx *ctx = s->ctx;

	if (!atomic_load_explicit(&s->m->tracing, memory_order_relaxed))
		return;
	if (ctx)
		emu_trace_emit(s->m, s->type, 'E', s->memcg, (long long)ctx->nr_isolated,
			       (long long)ctx->nr_moved, (long long)ctx->precharge);
	else
		emu_trace_emit(s->m, s->type, 'E', s->memcg, s->end_arg ? (long long)*s->end_arg : 0, 0, 0);
}

int emu_trace_start(struct machine *m)
{
	struct emu_trace *t;

	if (m->trace)
		return emu_set_error(-EBUSY, "the machine is already tracing");
	t = calloc(1, sizeof(*t));
	if (!t)
		return emu_set_error(-ENOMEM, "out of host memory");
	spin_lock_init(&t->lock);
	t->t0 = now_ns();
	m->trace = t;
	atomic_store(&m->tracing, 1);
	return 0;
}

int emu_trace_read(struct machine *m, struct emu_trace_event *buf, int max)
{
	struct emu_trace *t = m->trace;
	size_t n;

	if (!t)
		return emu_set_error(-EINVAL, "the machine is not tracing");
	if (max < 0)
		return emu_set_error(-EINVAL, "a negative count");
	spin_lock(&t->lock);
	trace_counters(m, t, now_ns() - t->t0);	/* what changed since the last event */
	n = min(t->n - t->head, (size_t)max);
	memcpy(buf, t->ev + t->head, n * sizeof(*buf));
	t->head += n;
	if (t->head == t->n)
		t->head = t->n = 0;
	spin_unlock(&t->lock);
	return (int)n;
}

long emu_trace_dropped(struct machine *m)
{
	long n;

	if (!m->trace)
		return 0;
	spin_lock(&m->trace->lock);
	n = m->trace->dropped;
	spin_unlock(&m->trace->lock);
	return n;
}

void emu_trace_free(struct machine *m)
{
	if (!m->trace)
		return;
	free(m->trace->ev);
	free(m->trace->counters);
	free(m->trace);
}
