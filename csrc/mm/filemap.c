/* The page cache of named files and of shmem objects (mm/filemap.c, mm/shmem.c). */
#include <stdio.h>
#include "../include/linux/mm.h"

static struct address_space *mapping_alloc(struct machine *m, const char *path, int shmem)
{
	struct address_space *mapping = calloc(1, sizeof(*mapping));

	if (!mapping)
		return NULL;
	if (path && !(mapping->path = strdup(path))) {
		free(mapping);
		return NULL;
	}
	mapping->shmem = shmem;
	spin_lock_init(&mapping->tree_lock);
	spin_lock_init(&mapping->i_mmap_lock);
	INIT_LIST_HEAD(&mapping->i_mmap);
	atomic_init(&mapping->refcount, 1);
	/* kept until the machine goes: reclaim may still hold one of its pages */
	spin_lock(&m->files_lock);
	list_add_tail(&mapping->all, &m->files);
	spin_unlock(&m->files_lock);
	return mapping;
}

/* Whether @path lies under the mount point @dir. */
static int path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && path[n] == '/';
}

/*
 * The named file @path; created empty on first use when @create, on the
 * filesystem the reference machine mounts there: tmpfs on /tmp and /dev/shm
 * (shmem_file_setup() pages: swap backed), ramfs on /ramfs (ramfs_get_inode()
 * marks the mapping unevictable), a disk filesystem elsewhere.
 */
struct address_space *file_lookup(struct machine *m, const char *path, int create)
{
	struct address_space *mapping;

	spin_lock(&m->files_lock);
	list_for_each_entry(mapping, &m->files, all) {
		if (mapping->path && !strcmp(mapping->path, path)) {
			spin_unlock(&m->files_lock);
			return mapping;
		}
	}
	spin_unlock(&m->files_lock);
	if (!create)
		return NULL;
	mapping = mapping_alloc(m, path, path_under(path, "/tmp") || path_under(path, "/dev/shm"));
	if (mapping)
		mapping->unevictable = path_under(path, "/ramfs");
	return mapping;
}

/* shmem_file_setup(), mm/shmem.c: the object behind MAP_SHARED|MAP_ANONYMOUS. */
struct address_space *shmem_file_setup(struct machine *m)
{
	return mapping_alloc(m, NULL, 1);
}

/*
 * Empty slot @i of a dying shmem object.  A page is truncated under its page
 * lock, as truncate_inode_page() is, so that reclaim, which holds that lock,
 * sees page->mapping stay put; the slot may turn into a swap entry while we
 * wait for the lock, so look again.
 */
static void shmem_free_slot(struct address_space *mapping, unsigned long i)
{
	for (;;) {
		struct page *page = NULL;
		uintptr_t slot;
		int taken = 0;

		spin_lock(&mapping->tree_lock);
		slot = mapping->slots[i];
		if (slot && !SLOT_IS_SWAP(slot)) {
			page = (struct page *)slot;
			get_page(page);	/* held while we wait for its lock */
		}
		spin_unlock(&mapping->tree_lock);
		if (!slot)
			return;
		if (page)
			lock_page(page);
		spin_lock(&mapping->tree_lock);
		if (mapping->slots[i] == slot) {
			mapping->slots[i] = 0;
			if (page)
				page->mapping = 0;
			taken = 1;
		}
		spin_unlock(&mapping->tree_lock);
		if (page) {
			unlock_page(page);
			put_page(page);
		}
		if (taken) {
			if (page)
				put_page(page);	/* the page cache's reference */
			else
				swap_free(SLOT_SWAP_OFF(slot));
			return;
		}
	}
}

/* shmem_truncate_range(), mm/shmem.c: the last mapping of an anonymous shmem object is gone. */
void shmem_put(struct address_space *mapping)
{
	if (!mapping->shmem || mapping->path || atomic_fetch_sub(&mapping->refcount, 1) != 1)
		return;
	for (unsigned long i = 0; i < mapping->nr_slots; i++)
		shmem_free_slot(mapping, i);
}

/* Make room for index @index in the slot array; tree_lock held. */
static int mapping_grow(struct address_space *mapping, unsigned long index)
{
	unsigned long n;
	uintptr_t *slots;

	if (index < mapping->nr_slots)
		return 0;
	n = max(index + 1, mapping->nr_slots * 2);
	slots = realloc(mapping->slots, n * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	memset(slots + mapping->nr_slots, 0, (n - mapping->nr_slots) * sizeof(*slots));
	mapping->slots = slots;
	mapping->nr_slots = n;
	return 0;
}

/*
 * filemap_fault()/shmem_getpage(): the page at @index with a reference,
 * read in (a new page charged as cache to @mm's group) or swapped in (shmem,
 * charged as the slot's record says) when it is not in the cache.
 */
int filemap_fault(struct mm_struct *mm, struct address_space *mapping, unsigned long index,
		  struct page **pagep)
{
	for (;;) {
		struct mem_cgroup *memcg = NULL;
		struct page *page;
		uintptr_t slot;

		spin_lock(&mapping->tree_lock);
		if (mapping_grow(mapping, index)) {
			spin_unlock(&mapping->tree_lock);
			return -ENOMEM;
		}
		slot = mapping->slots[index];
		if (slot && !SLOT_IS_SWAP(slot)) {
			get_page((struct page *)slot);
			spin_unlock(&mapping->tree_lock);
			*pagep = (struct page *)slot;
			return 0;
		}
		spin_unlock(&mapping->tree_lock);

		page = alloc_page_vma();
		if (!page)
			return -ENOMEM;
		if (mapping->shmem)
			SetPageFlag(page, PG_swapbacked);
		if (mapping->unevictable)	/* folio_evictable(): mapping_unevictable() */
			SetPageFlag(page, PG_unevictable);
		if (SLOT_IS_SWAP(slot))
			memcg = mem_cgroup_swapin_memcg(mm, SLOT_SWAP_OFF(slot));
		if (mem_cgroup_charge_common(page, mm, memcg, mapping->shmem ?
					     MEM_CGROUP_CHARGE_TYPE_SHMEM : MEM_CGROUP_CHARGE_TYPE_CACHE,
					     CHARGE_RECLAIM | CHARGE_OOM)) {
			put_page(page);
			return -ENOMEM;
		}
		spin_lock(&mapping->tree_lock);
		if (mapping->slots[index] != slot) {
			spin_unlock(&mapping->tree_lock);
			put_page(page);
			continue;
		}
		/* add_to_page_cache_lru(): the allocation reference becomes the cache's */
		page->mapping = (uintptr_t)mapping;
		page->index = index;
		mapping->slots[index] = (uintptr_t)page;
		if (index >= mapping->size)
			mapping->size = index + 1;
		get_page(page);
		lru_cache_add(page);
		spin_unlock(&mapping->tree_lock);
		if (SLOT_IS_SWAP(slot)) {
			swap_free(SLOT_SWAP_OFF(slot));
			mem_cgroup_stat_add(try_get_mem_cgroup_from_mm(mm), EMU_STAT_PGMAJFAULT, 1);
		}
		*pagep = page;
		return 0;
	}
}

/* generic_perform_write(), mm/filemap.c: write(2) extending the file to @pages. */
int generic_file_write(struct mm_struct *mm, struct address_space *mapping, unsigned long pages)
{
	unsigned long size;

	spin_lock(&mapping->tree_lock);
	size = mapping->size;
	spin_unlock(&mapping->tree_lock);
	for (unsigned long index = size; index < pages; index++) {
		struct page *page;
		int ret = filemap_fault(mm, mapping, index, &page);

		if (ret)
			return ret;
		put_page(page);
		if (fatal_signal_pending(index - size))
			return emu_set_error(-EINTR, "write interrupted after %lu pages", index - size + 1);
	}
	return 0;
}
