/*
 * Charge moving at task migration, cgroup v1 (mm/memcontrol-v1.c, 6.12;
 * mm/memcontrol.c before): memory.move_charge_at_immigrate.
 */
#include "../include/linux/mm.h"

/*
 * mem_cgroup_wait_acct_move(), mm/memcontrol.c: a charger over the limit of
 * a group an upstream move is working on waits for the move to end, then
 * retries, instead of reclaiming and going OOM.  Returns 1 if it waited.
 */
int mem_cgroup_wait_acct_move(struct mem_cgroup *over_limit)
{
	(void)over_limit;
	return 0;
}
