/*
 * Trace events (custom to the emulator, at the points the kernel has
 * tracepoints or natural boundaries).  Off unless emu_trace_start() ran on
 * the machine: then each emit point costs one predictable branch on a
 * per-machine flag.  Built with -DEMU_NO_TRACE every point compiles out
 * (bench/sweep_throughput.py measures the difference).
 *
 * At every point one line:
 *	trace_instant(EMU_TRACE_X, memcg_id, a0, a1, a2);
 *	TRACE_SLICE(EMU_TRACE_X, memcg_id, a0, a1, &end_arg);   (ends where its scope ends)
 *	TRACE_STEP(EMU_TRACE_X, ctx);                           (a move step, ends likewise)
 */
#ifndef _EMU_TRACE_H
#define _EMU_TRACE_H

#include "../include/linux/mm.h"

void emu_trace_emit(struct machine *m, int type, int ph, int memcg, long long a0, long long a1,
		    long long a2);

/* A slice in flight: its end is emitted by the cleanup when the scope is left. */
struct trace_slice {
	struct machine *m;	/* not cur_machine: EMU_RETURN has restored it by then */
	int type, memcg;
	const unsigned long *end_arg;
	const struct move_ctx *ctx;
};
void trace_slice_end(struct trace_slice *s);

#define TRACE_CAT_(a, b) a##b
#define TRACE_CAT(a, b) TRACE_CAT_(a, b)

#ifdef EMU_NO_TRACE
/* never run, but the arguments count as used */
#define trace_event(type, ph, memcg, a0, a1, a2) \
	do { if (0) { (void)(memcg); (void)(a0); (void)(a1); (void)(a2); } } while (0)
#define TRACE_SLICE(type, memcg, a0, a1, end_arg) trace_event(type, 'B', memcg, a0, a1, end_arg)
#define TRACE_STEP(type, ctx) trace_event(type, 'B', ctx, 0, 0, 0)
#else
#define trace_event(type, ph, memcg, a0, a1, a2) do {					\
	struct machine *tm_ = cur_machine;						\
	if (unlikely(atomic_load_explicit(&tm_->tracing, memory_order_relaxed)))	\
		emu_trace_emit(tm_, type, ph, memcg, a0, a1, a2);			\
} while (0)
#define TRACE_SLICE(type, memcg, a0, a1, end_arg)					\
	struct trace_slice TRACE_CAT(trace_slice_, __LINE__)				\
		__attribute__((cleanup(trace_slice_end))) =				\
		{ cur_machine, type, memcg, end_arg, NULL };				\
	trace_event(type, 'B', memcg, a0, a1, 0)
#define TRACE_STEP(type, ctx)								\
	struct trace_slice TRACE_CAT(trace_slice_, __LINE__)				\
		__attribute__((cleanup(trace_slice_end))) =				\
		{ cur_machine, type, (ctx)->to->id, NULL, ctx };			\
	trace_event(type, 'B', (ctx)->to->id, (long long)(ctx)->nr_isolated,		\
		    (long long)(ctx)->nr_moved, (long long)(ctx)->precharge)
#endif

#define trace_instant(type, memcg, a0, a1, a2) trace_event(type, 'i', memcg, a0, a1, a2)

void emu_trace_free(struct machine *m);

#endif
