/* Tasks and their mm: creation, fork, exec and exit (kernel/fork.c, kernel/exit.c, fs/exec.c). */
#include "../include/linux/mm.h"

#define MMAP_BASE 0x7f0000000000UL

/* mm_alloc(), kernel/fork.c */
struct mm_struct *mm_alloc(void)
{
	struct mm_struct *mm = calloc(1, sizeof(*mm));

	if (!mm)
		return NULL;
	mm->pgd = calloc(1, sizeof(struct pt_dir));
	if (!mm->pgd) {
		free(mm);
		return NULL;
	}
	init_rwsem(&mm->mmap_sem);
	spin_lock_init(&mm->page_table_lock);
	atomic_init(&mm->mm_users, 1);
	mm->free_area_cache = MMAP_BASE;
	mm->machine = cur_machine;
	return mm;
}

/* mmput(), kernel/fork.c: the last user tears the address space down. */
void mmput(struct mm_struct *mm)
{
	if (atomic_fetch_sub(&mm->mm_users, 1) != 1)
		return;
	exit_mmap(mm);
	for (; mm->kobj_pages; mm->kobj_pages--)
		memcg_kmem_uncharge_page(mm->machine, mm->kobj_memcg);
	if (mm->owner) {
		spin_lock(&mm->owner->alloc_lock);
		if (mm->owner->mm != mm)
			mm->owner->memdie = 0;	/* an OOM victim's memory is free now */
		spin_unlock(&mm->owner->alloc_lock);
	}
	destroy_rwsem(&mm->mmap_sem);
	free(mm);
}

/* get_task_mm(), kernel/fork.c */
struct mm_struct *get_task_mm(struct task_struct *task)
{
	struct mm_struct *mm;

	spin_lock(&task->alloc_lock);
	mm = task->mm;
	if (mm)
		atomic_fetch_add(&mm->mm_users, 1);
	spin_unlock(&task->alloc_lock);
	return mm;
}

unsigned long get_mm_rss(struct mm_struct *mm)
{
	return atomic_load(&mm->rss[MM_FILEPAGES]) + atomic_load(&mm->rss[MM_ANONPAGES]) +
	       atomic_load(&mm->rss[MM_SHMEMPAGES]);
}

/* get_mm_counter(mm, MM_SWAPENTS) */
unsigned long get_mm_swapents(struct mm_struct *mm)
{
	return atomic_load(&mm->rss[MM_SWAPENTS]);
}

/* find_task_by_vpid(), kernel/pid.c: a live task, or NULL. */
struct task_struct *find_task_by_pid(struct machine *m, int pid)
{
	struct task_struct *p = NULL;

	if (pid <= 0 || pid >= PID_MAX)
		return NULL;
	down_read(&m->tasklist_lock);
	p = m->tasks[pid];
	up_read(&m->tasklist_lock);
	if (p) {
		int dead;

		spin_lock(&p->alloc_lock);
		dead = p->state == TASK_DEAD;
		spin_unlock(&p->alloc_lock);
		if (dead)
			p = NULL;
	}
	return p;
}

/* alloc_pid() and the new task_struct; returns the pid or -errno. */
static int task_register(struct machine *m, struct task_struct *p)
{
	int pid;

	down_write(&m->tasklist_lock);
	if (m->next_pid >= PID_MAX) {
		up_write(&m->tasklist_lock);
		return emu_set_error(-EAGAIN, "out of pids (%d)", PID_MAX);
	}
	pid = m->next_pid++;
	p->pid = pid;
	m->tasks[pid] = p;
	up_write(&m->tasklist_lock);
	return pid;
}

static struct task_struct *task_alloc(struct mm_struct *mm, struct mem_cgroup *memcg)
{
	struct task_struct *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	spin_lock_init(&p->alloc_lock);
	p->mm = mm;
	p->state = TASK_RUNNING;
	atomic_init(&p->mem_cgroup, memcg);
	mm->owner = p;
	return p;
}

/* A new task owning @mm in @memcg: its pid; on failure the mm goes too. */
static int task_install(struct machine *m, struct mm_struct *mm, struct mem_cgroup *memcg, int parent_pid)
{
	struct task_struct *p = task_alloc(mm, memcg);
	int pid;

	if (!p) {
		mmput(mm);
		return emu_set_error(-ENOMEM, "out of host memory");
	}
	p->parent_pid = parent_pid;
	pid = task_register(m, p);
	if (pid < 0) {
		mmput(mm);
		free(p);
	}
	return pid;
}

/* A task with an empty mm in @memcg. */
int task_new(struct machine *m, struct mem_cgroup *memcg)
{
	struct mm_struct *mm = mm_alloc();

	if (!mm)
		return emu_set_error(-ENOMEM, "out of host memory");
	return task_install(m, mm, memcg, 0);
}

/*
 * The kernel objects of a new mm besides its page tables (its PGD,
 * mm_struct, VMAs: GFP_KERNEL_ACCOUNT), charged as kmem to the group of
 * @mm's owner -- at fork the parent, whose group pays -- as a fork's page
 * tables are: ENOMEM, no OOM kill, when they do not fit.
 */
static int mm_charge_kobjs(struct mm_struct *mm, long pages)
{
	for (; mm->kobj_pages < pages; mm->kobj_pages++) {
		struct mem_cgroup *memcg = memcg_kmem_charge_page(mm);

		if (memcg == ERR_MEMCG)
			return emu_set_error(-ENOMEM, "a new mm's kernel objects: no room in its memory cgroup");
		mm->kobj_memcg = memcg;
	}
	return 0;
}

/* copy_process()/dup_mm(), kernel/fork.c: the child shares every page copy-on-write. */
int copy_process(struct task_struct *parent)
{
	struct mm_struct *oldmm = get_task_mm(parent), *mm;
	int ret;

	if (!oldmm)
		return emu_set_error(-ESRCH, "task %d has exited", parent->pid);
	mm = mm_alloc();
	if (!mm) {
		mmput(oldmm);
		return emu_set_error(-ENOMEM, "out of host memory");
	}
	/* the child's page tables are charged to the forking task's group (current's) */
	mm->owner = parent;
	ret = mmap_write_lock_killable(oldmm, parent->pid);
	if (!ret) {
		ret = dup_mmap(mm, oldmm) ? emu_set_error(-ENOMEM, "out of host memory") : 0;
		up_write(&oldmm->mmap_sem);
	}
	if (!ret)
		ret = mm_charge_kobjs(mm, oldmm->kobj_pages);
	mmput(oldmm);
	if (ret) {
		mm->owner = NULL;
		mmput(mm);
		return ret;
	}
	return task_install(cur_machine, mm, mem_cgroup_from_task(parent), parent->pid);
}

/* The program's data, bss and heap: in the 2 MiB above a static binary's text at 0x400000. */
#define ELF_DATA_START	0x4c0000UL
#define ELF_DATA_MAX	(PMD_SIZE - (ELF_DATA_START & (PMD_SIZE - 1)))
/* STACK_TOP, arch/x86/include/asm/processor.h: the last page below TASK_SIZE is a guard. */
#define STACK_TOP	(TASK_SIZE - PAGE_SIZE)

/*
 * load_elf_binary(), setup_arg_pages() and arch_pick_mmap_layout() for
 * @img: its data and stack VMAs, and its mmap base.  The mm is not the
 * task's yet, so a failed charge of its kernel objects is ENOMEM, as a
 * failed mm_alloc() is for execve().
 */
static int exec_image(struct mm_struct *mm, struct emu_image *img)
{
	unsigned long data = PAGE_ALIGN(img->data_len), stack = PAGE_ALIGN(img->stack_len);
	unsigned long rnd = PAGE_ALIGN(img->mmap_rnd);
	int ret;

	if (img->data_len > ELF_DATA_MAX || img->stack_len > 1UL << 30 || img->mmap_rnd > 1UL << 40 ||
	    img->kernel_pages > 1UL << 20)
		return emu_set_error(-EINVAL, "an image's data fits in 0x%lx bytes, its stack in 1 GiB, its "
				     "mmap_rnd in 1 TiB, its kernel objects in 2^20 pages", ELF_DATA_MAX);
	mm->free_area_cache = MMAP_BASE - rnd;
	ret = data ? mmap_region(mm, ELF_DATA_START, data, 0, NULL) : 0;
	if (!ret && stack)
		ret = mmap_region(mm, STACK_TOP - stack, stack, 0, NULL);
	if (ret)
		return emu_set_error(ret, "out of host memory");
	img->data_addr = ELF_DATA_START;
	img->stack_addr = STACK_TOP - stack;
	return mm_charge_kobjs(mm, img->kernel_pages);
}

/* exec_mmap(), fs/exec.c: a fresh mm (laid out as @img, if any); the old one is torn down (uncharged). */
int do_execve(struct task_struct *task, struct emu_image *img)
{
	struct mm_struct *mm = mm_alloc(), *old;
	int ret;

	if (!mm)
		return emu_set_error(-ENOMEM, "out of host memory");
	mm->owner = task;
	ret = img ? exec_image(mm, img) : 0;
	if (ret) {
		mmput(mm);
		return ret;
	}
	spin_lock(&task->alloc_lock);
	old = task->mm;
	task->mm = old ? mm : NULL;
	spin_unlock(&task->alloc_lock);
	if (!old) {
		mmput(mm);
		return emu_set_error(-ESRCH, "task %d has exited", task->pid);
	}
	mmput(old);
	return 0;
}

/* do_exit(), kernel/exit.c: the task is gone and drops its mm. */
void do_exit(struct task_struct *task)
{
	struct mm_struct *mm;

	spin_lock(&task->alloc_lock);
	mm = task->mm;
	task->mm = NULL;
	task->state = TASK_DEAD;
	spin_unlock(&task->alloc_lock);
	if (mm)
		mmput(mm);
}
