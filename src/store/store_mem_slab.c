/*
 * store_mem_slab.c - pages of fixed-size slots for the in-process store's
 * entries (store_int.h, "slabs").
 *
 * Every login leaves entries that outlive it by a session lifetime: its end
 * marker and its place in the session index. From malloc each was a chunk
 * with a header of its own in the arena of whichever thread made it, in
 * between the short-lived buffers of requests. A long-lived chunk pins the
 * page it sits on, so the arenas kept the free memory around those chunks,
 * and how much depended on how the requests happened to interleave. Here
 * they come from pages of their own, packed slot after slot.
 *
 * A slab hands out slots in SLAB_STEP-byte size classes up to
 * SLAB_SLOT_MAX bytes; a larger request goes to malloc, and so does a
 * request of zero bytes. A page is SLAB_PAGE bytes mapped at an address
 * aligned to its size: a slot's page, and through it its slab, is found
 * from the slot's address, so a slot may be freed from any thread. A page
 * hands out the slots it never used from a bump offset (so untouched slots
 * take no memory) and reused ones from its free list. Pages with a free slot
 * are on their class's list; a page whose slots are all free again is
 * unmapped, unless it is the only page of its class with room, so a class
 * that empties and fills again does not map and unmap each time. Such a
 * kept page still holds the memory its slots once used: mem_slab_trim,
 * called by the store's sweeper, gives that back (MADV_DONTNEED) for pages
 * found empty at two calls in a row, and the page starts afresh.
 *
 * Each slab has its own mutex, held for a few pointer moves (and for the
 * rare mapping of a page). In a sanitizer build free slots are poisoned, so
 * a use after free of an entry is still caught.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/store_int.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLAB_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define SLAB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define SLAB_POISON(p, n) ((void)(p), (void)(n))
#define SLAB_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct slab_page {
	struct mem_slab *slab;
	struct slab_page *prev, *next;	 /* the class's pages with room */
	struct slab_page *aprev, *anext; /* all the slab's pages */
	void *free;			 /* freed slots, linked by first word */
	uint32_t bump;			 /* the first slot never handed out */
	uint32_t live;			 /* slots handed out */
	uint16_t cls;
	uint8_t listed; /* on its class's list */
	uint8_t quiet;	/* empty at the last mem_slab_trim */
};

/* Slots start after the header, on a SLAB_STEP boundary. */
#define SLAB_FIRST                                                             \
	((sizeof(struct slab_page) + SLAB_STEP - 1) / SLAB_STEP * SLAB_STEP)

_Static_assert(SLAB_SLOT_MAX % SLAB_STEP == 0, "classes are whole steps");
_Static_assert(SLAB_STEP >= sizeof(void *) && SLAB_STEP % 8 == 0,
	       "a free slot holds a pointer, and slots are aligned");
_Static_assert(SLAB_PAGE >= SLAB_FIRST + 64 * SLAB_SLOT_MAX,
	       "a page holds many slots of the largest class");

/* slab_class is the class of an n-byte request (0 < n <= SLAB_SLOT_MAX). */
static size_t
slab_class(size_t n)
{
	return (n + SLAB_STEP - 1) / SLAB_STEP - 1;
}

static size_t
slab_size(size_t cls)
{
	return (cls + 1) * SLAB_STEP;
}

void
mem_slab_init(struct mem_slab *sl)
{
	memset(sl, 0, sizeof(*sl));
	pthread_mutex_init(&sl->mu, NULL);
}

/* page_map maps SLAB_PAGE bytes aligned to their size: twice that, less
 * what lies outside the aligned middle. */
static struct slab_page *
page_map(void)
{
	char *p = mmap(NULL, 2 * SLAB_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;
	size_t head;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + SLAB_PAGE - 1) & ~(uintptr_t)(SLAB_PAGE - 1);
	head = a - (uintptr_t)p;
	if (head > 0)
		munmap(p, head);
	munmap((char *)a + SLAB_PAGE, SLAB_PAGE - head);
	return (struct slab_page *)a;
}

/* room_push puts pg at the head of its class's list; the caller holds mu. */
static void
room_push(struct mem_slab *sl, struct slab_page *pg)
{
	pg->prev = NULL;
	pg->next = sl->room[pg->cls];
	if (pg->next != NULL)
		pg->next->prev = pg;
	sl->room[pg->cls] = pg;
	pg->listed = 1;
}

static void
room_unlink(struct mem_slab *sl, struct slab_page *pg)
{
	if (pg->prev != NULL)
		pg->prev->next = pg->next;
	else
		sl->room[pg->cls] = pg->next;
	if (pg->next != NULL)
		pg->next->prev = pg->prev;
	pg->prev = pg->next = NULL;
	pg->listed = 0;
}

/* page_new maps a page for class cls, on both lists; the caller holds mu. */
static struct slab_page *
page_new(struct mem_slab *sl, size_t cls)
{
	struct slab_page *pg = page_map();

	if (pg == NULL)
		return NULL;
	memset(pg, 0, sizeof(*pg));
	pg->slab = sl;
	pg->cls = (uint16_t)cls;
	pg->bump = SLAB_FIRST;
	SLAB_POISON((char *)pg + SLAB_FIRST, SLAB_PAGE - SLAB_FIRST);
	pg->anext = sl->pages;
	if (pg->anext != NULL)
		pg->anext->aprev = pg;
	sl->pages = pg;
	sl->npages++;
	room_push(sl, pg);
	return pg;
}

/* page_drop unmaps pg, off both lists; the caller holds mu. */
static void
page_drop(struct mem_slab *sl, struct slab_page *pg)
{
	if (pg->listed)
		room_unlink(sl, pg);
	if (pg->aprev != NULL)
		pg->aprev->anext = pg->anext;
	else
		sl->pages = pg->anext;
	if (pg->anext != NULL)
		pg->anext->aprev = pg->aprev;
	sl->npages--;
	SLAB_UNPOISON(pg, SLAB_PAGE);
	munmap(pg, SLAB_PAGE);
}

void *
mem_slab_alloc(struct mem_slab *sl, size_t n)
{
	struct slab_page *pg;
	size_t cls, size;
	char *p;

	if (n == 0 || n > SLAB_SLOT_MAX)
		return malloc(n);
	cls = slab_class(n);
	size = slab_size(cls);
	pthread_mutex_lock(&sl->mu);
	if ((pg = sl->room[cls]) == NULL && (pg = page_new(sl, cls)) == NULL) {
		pthread_mutex_unlock(&sl->mu);
		return NULL;
	}
	if (pg->free != NULL) {
		p = pg->free;
		SLAB_UNPOISON(p, sizeof(void *));
		memcpy(&pg->free, p, sizeof(void *));
		SLAB_POISON(p, sizeof(void *));
	} else {
		p = (char *)pg + pg->bump;
		pg->bump += (uint32_t)size;
	}
	pg->live++;
	if (pg->free == NULL && pg->bump + size > SLAB_PAGE)
		room_unlink(sl, pg); /* full */
	pthread_mutex_unlock(&sl->mu);
	SLAB_UNPOISON(p, n);
	return p;
}

void
mem_slab_free(void *p, size_t n)
{
	struct slab_page *pg;
	struct mem_slab *sl;

	if (p == NULL)
		return;
	if (n == 0 || n > SLAB_SLOT_MAX) {
		free(p);
		return;
	}
	pg = (struct slab_page *)((uintptr_t)p & ~(uintptr_t)(SLAB_PAGE - 1));
	sl = pg->slab;
	pthread_mutex_lock(&sl->mu);
	SLAB_UNPOISON(p, sizeof(void *));
	memcpy(p, &pg->free, sizeof(void *));
	SLAB_POISON(p, slab_size(pg->cls));
	pg->free = p;
	pg->live--;
	if (!pg->listed)
		room_push(sl, pg);
	/* Empty, and not its class's only page with room: let it go. */
	if (pg->live == 0 && (pg->prev != NULL || pg->next != NULL))
		page_drop(sl, pg);
	pthread_mutex_unlock(&sl->mu);
}

void
mem_slab_trim(struct mem_slab *sl)
{
	/* Memory goes back in whole pages of the system's: the one holding
	 * the header stays. */
	long sys = sysconf(_SC_PAGESIZE);
	size_t off = SLAB_PAGE;

	if (sys > 0 && (size_t)sys < SLAB_PAGE)
		off =
		    (SLAB_FIRST + (size_t)sys - 1) / (size_t)sys * (size_t)sys;
	pthread_mutex_lock(&sl->mu);
	for (size_t c = 0; c < SLAB_SLOT_MAX / SLAB_STEP; c++) {
		for (struct slab_page *pg = sl->room[c]; pg != NULL;
		     pg = pg->next) {
			if (pg->live != 0 || pg->bump == SLAB_FIRST) {
				pg->quiet = 0; /* in use, or untouched */
				continue;
			}
			if (!pg->quiet) {
				pg->quiet = 1; /* let it go next time */
				continue;
			}
			/* Empty at this call and the last: start it afresh
			 * (slots used and freed in between do not count). */
			if (off < SLAB_PAGE)
				madvise((char *)pg + off, SLAB_PAGE - off,
					MADV_DONTNEED);
			pg->free = NULL;
			pg->bump = SLAB_FIRST;
			pg->quiet = 0;
		}
	}
	pthread_mutex_unlock(&sl->mu);
}

size_t
mem_slab_pages(struct mem_slab *sl)
{
	size_t n;

	pthread_mutex_lock(&sl->mu);
	n = sl->npages;
	pthread_mutex_unlock(&sl->mu);
	return n;
}

void
mem_slab_destroy(struct mem_slab *sl)
{
	while (sl->pages != NULL)
		page_drop(sl, sl->pages);
	pthread_mutex_destroy(&sl->mu);
}
