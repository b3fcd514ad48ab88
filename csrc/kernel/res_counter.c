/* Resource counters, after kernel/res_counter.c (2.6.26, with the 2.6.29 parent link). */
#include "../include/linux/memcontrol.h"

/* res_counter_init(), kernel/res_counter.c */
void res_counter_init(struct res_counter *counter, struct res_counter *parent)
{
	spin_lock_init(&counter->lock);
	counter->usage = counter->max_usage = counter->failcnt = 0;
	counter->limit = RESOURCE_MAX;
	counter->parent = parent;
}

/* res_counter_charge_locked(), kernel/res_counter.c */
static int res_counter_charge_locked(struct res_counter *counter, unsigned long long val)
{
	lockdep_assert_held(&counter->lock);
	if (counter->usage + val > counter->limit || counter->usage + val < counter->usage) {
		counter->failcnt++;
		return -ENOMEM;
	}
	counter->usage += val;
	if (counter->usage > counter->max_usage)
		counter->max_usage = counter->usage;
	return 0;
}

static void res_counter_uncharge_locked(struct res_counter *counter, unsigned long long val)
{
	BUG_ON(counter->usage < val);
	if (counter->usage < val)
		val = counter->usage;
	counter->usage -= val;
}

/*
 * res_counter_charge(), kernel/res_counter.c (2.6.29): charge every level up
 * to the root; on failure undo the levels already charged and report the one
 * over its limit.
 */
int res_counter_charge(struct res_counter *counter, unsigned long long val,
		       struct res_counter **limit_fail_at)
{
	struct res_counter *c, *u;

	*limit_fail_at = NULL;
	for (c = counter; c; c = c->parent) {
		int ret;

		spin_lock(&c->lock);
		ret = res_counter_charge_locked(c, val);
		spin_unlock(&c->lock);
		if (ret) {
			*limit_fail_at = c;
			for (u = counter; u != c; u = u->parent) {
				spin_lock(&u->lock);
				res_counter_uncharge_locked(u, val);
				spin_unlock(&u->lock);
			}
			return ret;
		}
	}
	return 0;
}

/* res_counter_charge_nofail(), kernel/res_counter.c (3.x): charge past the limit. */
void res_counter_charge_nofail(struct res_counter *counter, unsigned long long val)
{
	for (struct res_counter *c = counter; c; c = c->parent) {
		spin_lock(&c->lock);
		c->usage += val;
		if (c->usage > c->max_usage)
			c->max_usage = c->usage;
		spin_unlock(&c->lock);
	}
}

/* res_counter_uncharge_until(), kernel/res_counter.c (3.x): stop below @top. */
void res_counter_uncharge_until(struct res_counter *counter, struct res_counter *top,
				unsigned long long val)
{
	for (struct res_counter *c = counter; c != top; c = c->parent) {
		spin_lock(&c->lock);
		res_counter_uncharge_locked(c, val);
		spin_unlock(&c->lock);
	}
}

/* res_counter_uncharge(), kernel/res_counter.c */
void res_counter_uncharge(struct res_counter *counter, unsigned long long val)
{
	res_counter_uncharge_until(counter, NULL, val);
}

/* res_counter_set_limit(), include/linux/res_counter.h: EBUSY below usage. */
int res_counter_set_limit(struct res_counter *counter, unsigned long long limit)
{
	int ret = -EBUSY;

	spin_lock(&counter->lock);
	if (counter->usage <= limit) {
		counter->limit = limit;
		ret = 0;
	}
	spin_unlock(&counter->lock);
	return ret;
}

/* res_counter_write(), kernel/res_counter.c 2.6.26: the limit is stored whatever the usage. */
void res_counter_write_limit(struct res_counter *counter, unsigned long long limit)
{
	spin_lock(&counter->lock);
	counter->limit = limit;
	spin_unlock(&counter->lock);
}

unsigned long long res_counter_read_usage(struct res_counter *counter)
{
	unsigned long long usage;

	spin_lock(&counter->lock);
	usage = counter->usage;
	spin_unlock(&counter->lock);
	return usage;
}

/* res_counter_reset_max(), include/linux/res_counter.h */
void res_counter_reset_max(struct res_counter *counter)
{
	spin_lock(&counter->lock);
	counter->max_usage = counter->usage;
	spin_unlock(&counter->lock);
}

/* res_counter_reset_failcnt(), include/linux/res_counter.h */
void res_counter_reset_failcnt(struct res_counter *counter)
{
	spin_lock(&counter->lock);
	counter->failcnt = 0;
	spin_unlock(&counter->lock);
}
