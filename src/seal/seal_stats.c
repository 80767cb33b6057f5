/*
 * seal_stats.c - counters of the seal quirks met at enrollment.
 */
#include "seal/seal_stats.h"

void
seal_stats_count(struct seal_stats *s, unsigned int quirks, int refused)
{
	for (unsigned int i = 0; i < VDS_QUIRK_COUNT; i++) {
		if (!(quirks & (1u << i)))
			continue;
		atomic_fetch_add(&s->seen[i], 1);
		if (refused)
			atomic_fetch_add(&s->refused[i], 1);
	}
}

json_t *
seal_stats_json(struct seal_stats *s, const char *policy)
{
	json_t *o = json_pack("{s:s, s:{}}", "policy", policy, "quirks");
	json_t *q = o != NULL ? json_object_get(o, "quirks") : NULL;

	if (q == NULL)
		goto bad;
	for (unsigned int i = 0; i < VDS_QUIRK_COUNT; i++) {
		/* json_object_set_new takes c even when it fails. */
		json_t *c = json_pack(
		    "{s:I, s:I}", "seen", (json_int_t)atomic_load(&s->seen[i]),
		    "refused", (json_int_t)atomic_load(&s->refused[i]));
		if (c == NULL ||
		    json_object_set_new(q, vds_quirk_name(i), c) != 0)
			goto bad;
	}
	return o;
bad:
	json_decref(o);
	return NULL;
}
