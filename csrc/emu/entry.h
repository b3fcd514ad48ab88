/* What every entry point does on the way in and out (custom to the emulator). */
#ifndef _EMU_ENTRY_H
#define _EMU_ENTRY_H

#include "../include/linux/mm.h"
#include "trace.h"

extern __thread char emu_errbuf[256];
int emu_leave(struct machine *saved, int saved_cpu, int ret);
struct mem_cgroup *memcg_arg(struct machine *m, int id);
struct task_struct *task_arg(struct machine *m, int pid);

#define EMU_ENTER(m)							\
	struct machine *saved_machine_ = cur_machine;			\
	if (atomic_load(&(m)->bug))					\
		return emu_set_error(-ENOTRECOVERABLE, "%s", (m)->bug_msg); \
	int saved_cpu_ = current_cpu;					\
	cur_machine = (m);						\
	if (current_cpu >= (m)->nr_cpus)	/* came from a smaller machine */ \
		current_cpu = 0;					\
	emu_errbuf[0] = 0

#define EMU_RETURN(ret) return emu_leave(saved_machine_, saved_cpu_, (ret))

#define MEMCG_ARG(memcg, m, id) \
	struct mem_cgroup *memcg = memcg_arg(m, id); \
	if (!memcg) \
		EMU_RETURN(-ENOENT)

#define TASK_ARG(p, m, pid) \
	struct task_struct *p = task_arg(m, pid); \
	if (!p) \
		EMU_RETURN(-ESRCH)

/* What the task itself does runs on the task's CPU (a mover's work on the mover's). */
#define ON_TASK_CPU(p) (current_cpu = atomic_load(&(p)->cpu))


#endif
