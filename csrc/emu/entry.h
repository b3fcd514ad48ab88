/* What every entry point does on the way in and out (custom to the emulator). */
#ifndef _EMU_ENTRY_H
#define _EMU_ENTRY_H

#include "../include/linux/mm.h"
#include "trace.h"

extern __thread char emu_errbuf[256];
int emu_leave(struct machine *saved, int ret);
struct mem_cgroup *memcg_arg(struct machine *m, int id);
struct task_struct *task_arg(struct machine *m, int pid);

#define EMU_ENTER(m)							\
	struct machine *saved_machine_ = cur_machine;			\
	if (atomic_load(&(m)->bug))					\
		return emu_set_error(-ENOTRECOVERABLE, "%s", (m)->bug_msg); \
	cur_machine = (m);						\
	emu_errbuf[0] = 0

#define EMU_RETURN(ret) return emu_leave(saved_machine_, (ret))

#define MEMCG_ARG(memcg, m, id) \
	struct mem_cgroup *memcg = memcg_arg(m, id); \
	if (!memcg) \
		EMU_RETURN(-ENOENT)

#define TASK_ARG(p, m, pid) \
	struct task_struct *p = task_arg(m, pid); \
	if (!p) \
		EMU_RETURN(-ESRCH)


#endif
