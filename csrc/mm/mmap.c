/* VMAs: mmap, munmap, split, mlock, fork and exit (mm/mmap.c, mm/mlock.c, kernel/fork.c). */
#include "../include/linux/mm.h"

#define MMAP_MIN_ADDR	0x10000UL

/*
 * mmap_write_lock_killable(), include/linux/mmap_lock.h.  A hook runs inside
 * a move, on the mover's thread, while the move holds the task's mmap_lock
 * for read: a kernel would make this writer wait for the move to end, which
 * on the mover's own thread is never.
 */
int mmap_write_lock_killable(struct mm_struct *mm, int pid)
{
	if (down_write_killable(&mm->mmap_sem))
		return emu_set_error(-EDEADLK, "task %d's mmap_lock is held by the move this hook runs in: "
				     "a kernel would wait for the move to end; make this call from another thread",
				     pid);
	return 0;
}

/* find_vma(), mm/mmap.c: the first VMA ending above @addr. */
struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr)
{
	struct vm_area_struct *vma;

	for (vma = mm->mmap; vma; vma = vma->vm_next)
		if (vma->vm_end > addr)
			return vma;
	return NULL;
}

static void vma_link_list(struct mm_struct *mm, struct vm_area_struct *vma)
{
	struct vm_area_struct **pp = &mm->mmap;

	while (*pp && (*pp)->vm_start < vma->vm_start)
		pp = &(*pp)->vm_next;
	vma->vm_next = *pp;
	*pp = vma;
	atomic_fetch_add(&mm->total_vm, (long)((vma->vm_end - vma->vm_start) >> PAGE_SHIFT));
}

/* __vma_link_file(), mm/mmap.c */
static void vma_link_file(struct vm_area_struct *vma)
{
	struct address_space *mapping = vma->vm_file;

	if (!mapping)
		return;
	spin_lock(&mapping->i_mmap_lock);
	list_add_tail(&vma->shared, &mapping->i_mmap);
	spin_unlock(&mapping->i_mmap_lock);
}

/*
 * vm_area_dup(), kernel/fork.c: a copy of @old's mapping, not linked
 * anywhere.  Field by field: old's list nodes change under other mms'
 * rmap locks and must not be read here.
 */
static struct vm_area_struct *vm_area_dup(struct vm_area_struct *old)
{
	struct vm_area_struct *new = calloc(1, sizeof(*new));

	if (!new)
		return NULL;
	new->vm_mm = old->vm_mm;
	new->vm_start = old->vm_start;
	new->vm_end = old->vm_end;
	new->vm_flags = old->vm_flags;
	new->vm_pgoff = old->vm_pgoff;
	new->vm_file = old->vm_file;
	new->anon_vma = old->anon_vma;
	INIT_LIST_HEAD(&new->anon_vma_node);
	INIT_LIST_HEAD(&new->shared);
	return new;
}

/* unlink_file_vma() and anon_vma_unlink(), then the VMA itself goes (remove_vma()). */
static void remove_vma(struct vm_area_struct *vma)
{
	struct address_space *mapping = vma->vm_file;

	atomic_fetch_sub(&vma->vm_mm->total_vm, (long)((vma->vm_end - vma->vm_start) >> PAGE_SHIFT));
	anon_vma_unlink(vma);
	if (mapping) {
		spin_lock(&mapping->i_mmap_lock);
		list_del(&vma->shared);
		spin_unlock(&mapping->i_mmap_lock);
		shmem_put(mapping);
	}
	free(vma);
}

/* mmap_region(), mm/mmap.c: a new VMA at [@addr, @addr + @len), which the caller found free. */
int mmap_region(struct mm_struct *mm, unsigned long addr, unsigned long len, unsigned long flags,
		struct address_space *file)
{
	struct vm_area_struct *vma = calloc(1, sizeof(*vma));

	if (!vma)
		return -ENOMEM;
	vma->vm_mm = mm;
	vma->vm_start = addr;
	vma->vm_end = addr + len;
	vma->vm_flags = VM_READ | VM_WRITE | flags;
	vma->vm_file = file;
	INIT_LIST_HEAD(&vma->anon_vma_node);
	INIT_LIST_HEAD(&vma->shared);
	vma_link_list(mm, vma);
	vma_link_file(vma);
	return 0;
}

/* do_mmap_pgoff(), mm/mmap.c: a new VMA below the last one (top-down layout). */
int do_mmap(struct mm_struct *mm, unsigned long len, unsigned long flags,
	    struct address_space *file, unsigned long *addr)
{
	unsigned long start;
	int ret;

	len = (len + PAGE_SIZE - 1) & PAGE_MASK;
	if (!len || len > mm->free_area_cache - MMAP_MIN_ADDR)
		return -ENOMEM;
	start = mm->free_area_cache - len;
	ret = mmap_region(mm, start, len, flags, file);
	if (ret)
		return ret;
	/* one guard page between mappings keeps them apart, as distinct VMAs */
	mm->free_area_cache = start - PAGE_SIZE;
	*addr = start;
	return 0;
}

/*
 * split_vma(), mm/mmap.c: cut @vma at @addr; the rmap walkers see the new
 * bounds under their locks (vma_adjust()).
 */
static int split_vma(struct vm_area_struct *vma, unsigned long addr)
{
	struct vm_area_struct *new = vm_area_dup(vma);
	struct address_space *mapping = vma->vm_file;
	struct pte_table *pt = pte_table_lookup(vma->vm_mm, addr, 0);

	if (!new)
		return -ENOMEM;
	/* vma_adjust_trans_huge(): no huge PMD may straddle the new boundary (the page stays whole) */
	if (pt && (addr & (PMD_SIZE - 1)))
		split_huge_pmd(pt);
	new->vm_start = addr;
	new->vm_next = vma->vm_next;
	if (mapping)
		new->vm_pgoff += (addr - vma->vm_start) >> PAGE_SHIFT;
	if (mapping) {
		atomic_fetch_add(&mapping->refcount, 1);
		spin_lock(&mapping->i_mmap_lock);
	}
	if (vma->anon_vma)
		spin_lock(&vma->anon_vma->lock);
	vma->vm_end = addr;
	vma->vm_next = new;
	if (vma->anon_vma) {
		list_add_tail(&new->anon_vma_node, &vma->anon_vma->head);
		spin_unlock(&vma->anon_vma->lock);
	}
	if (mapping) {
		list_add_tail(&new->shared, &mapping->i_mmap);
		spin_unlock(&mapping->i_mmap_lock);
	}
	return 0;
}

/* Split so that [start, end) is made of whole VMAs. */
static int split_range(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	struct vm_area_struct *vma = find_vma(mm, start);
	int ret;

	if (vma && vma->vm_start < start && (ret = split_vma(vma, start)))
		return ret;
	vma = find_vma(mm, end);
	if (vma && vma->vm_start < end && (ret = split_vma(vma, end)))
		return ret;
	return 0;
}

/* do_munmap(), mm/mmap.c */
int do_munmap(struct mm_struct *mm, unsigned long start, unsigned long len)
{
	unsigned long end = start + len;
	struct vm_area_struct **pp;
	int ret = split_range(mm, start, end);

	if (ret)
		return ret;
	pp = &mm->mmap;
	while (*pp) {
		struct vm_area_struct *vma = *pp;

		if (vma->vm_start >= start && vma->vm_end <= end) {
			*pp = vma->vm_next;
			zap_page_range(vma, vma->vm_start, vma->vm_end);
			remove_vma(vma);
		} else {
			pp = &vma->vm_next;
		}
	}
	return 0;
}

/*
 * mlock_fixup() and __mm_populate(), mm/mlock.c: mark [start, end) VM_LOCKED,
 * fault every page in (writing private mappings, as populate_vma_page_range
 * does) and move the pages to the unevictable list.  Caller holds mmap_sem
 * for write.
 */
int mlock_fixup(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	struct vm_area_struct *vma;
	int ret = split_range(mm, start, end);

	if (ret)
		return ret;
	for (vma = find_vma(mm, start); vma && vma->vm_start < end; vma = vma->vm_next)
		vma->vm_flags |= VM_LOCKED;
	for (vma = find_vma(mm, start); vma && vma->vm_start < end; vma = vma->vm_next) {
		for (unsigned long addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
			struct pte_table *pt;
			struct page *page = NULL;

			ret = handle_mm_fault(mm, vma, addr, !(vma->vm_flags & VM_SHARED));
			if (ret)
				return ret;
			pt = pte_table_lookup(mm, addr, 0);
			/* a huge page faulted in before mlock: 4 KiB mlocked pages */
			split_huge_pages_of_table(pt, vma, addr, addr + PAGE_SIZE);
			spin_lock(&pt->ptl);
			if (pte_present(pt->pte[pte_index(addr)]))
				page = vm_normal_page(vma, addr, pt->pte[pte_index(addr)]);
			/* mlock_pte_range(), 6.1: a PTE-mapped huge page is not mlocked */
			if (page && !PageCompound(page))
				mlock_vma_page(page);
			spin_unlock(&pt->ptl);
		}
	}
	return 0;
}

/*
 * madvise_update_vma() for MADV_HUGEPAGE/MADV_NOHUGEPAGE, mm/madvise.c and
 * hugepage_madvise(): [start, end) becomes whole VMAs with VM_HUGEPAGE set
 * (or VM_NOHUGEPAGE); pages already there stay as they are.  Caller holds
 * mmap_sem for write.
 */
int madvise_hugepage(struct mm_struct *mm, unsigned long start, unsigned long end, int advice)
{
	unsigned long set = advice == EMU_MADV_HUGEPAGE ? VM_HUGEPAGE : VM_NOHUGEPAGE;
	int ret = split_range(mm, start, end);

	if (ret)
		return ret;
	for (struct vm_area_struct *vma = find_vma(mm, start); vma && vma->vm_start < end; vma = vma->vm_next)
		vma->vm_flags = (vma->vm_flags & ~(VM_HUGEPAGE | VM_NOHUGEPAGE)) | set;
	return 0;
}

/* exit_mmap(), mm/mmap.c: unmap everything, unlink every VMA, then free the tables. */
void exit_mmap(struct mm_struct *mm)
{
	struct vm_area_struct *vma = mm->mmap, *next;

	mm->mmap = NULL;
	for (; vma; vma = next) {
		next = vma->vm_next;
		zap_page_range(vma, vma->vm_start, vma->vm_end);
		remove_vma(vma);
	}
	free_pgtables(mm);
}

/* dup_mmap(), kernel/fork.c: copy the VMAs (without VM_LOCKED) and share the pages. */
int dup_mmap(struct mm_struct *mm, struct mm_struct *oldmm)
{
	struct vm_area_struct *mpnt, **pp = &mm->mmap;

	mm->free_area_cache = oldmm->free_area_cache;
	atomic_store(&mm->total_vm, atomic_load(&oldmm->total_vm));
	for (mpnt = oldmm->mmap; mpnt; mpnt = mpnt->vm_next) {
		struct vm_area_struct *tmp = vm_area_dup(mpnt);

		if (!tmp)
			return -ENOMEM;
		tmp->vm_mm = mm;
		tmp->vm_flags &= ~VM_LOCKED;
		anon_vma_link(tmp);
		if (tmp->vm_file)
			atomic_fetch_add(&tmp->vm_file->refcount, 1);
		vma_link_file(tmp);
		*pp = tmp;
		pp = &tmp->vm_next;
		if (copy_page_range(mm, oldmm, mpnt))
			return -ENOMEM;
	}
	return 0;
}
