/* The RFD's other policies, custom to the emulator: reserve, lazy, lazy-move, half. */
#include "../include/linux/mm.h"

/*
 * lazy-move: under memory pressure a WRONG_CHARGE page is recharged to the
 * group its task is in now, when that group has room, instead of being
 * reclaimed.  Returns 0 if the page left its group that way.
 */
int mem_cgroup_lazy_recharge(struct page *page)
{
	(void)page;
	return -EAGAIN;
}
