/*
 * seal_stats.h - what the server accepted and refused of the issuer
 * quirks the seal parsers recognise (VDS_QUIRK_*), for /health.
 *
 * The counters live in the application object and are only ever added
 * to; readers see each counter atomically (not all of them at one
 * instant).
 */
#ifndef SEALAUTH_SEAL_STATS_H
#define SEALAUTH_SEAL_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "seal/vds.h"

struct seal_stats {
	atomic_uint_least64_t seen[VDS_QUIRK_COUNT];
	atomic_uint_least64_t refused[VDS_QUIRK_COUNT];
};

/* seal_stats_count adds one seal with these quirk bits, refused by the
 * quirk policy or not. A seal without quirks counts nothing. */
void seal_stats_count(struct seal_stats *s, unsigned int quirks, int refused);

/* seal_stats_json describes the counters and the policy ("accept" or
 * "refuse") as a new object: {"policy":..,"quirks":{name:{"seen":n,
 * "refused":n}}}. NULL on no memory. */
json_t *seal_stats_json(struct seal_stats *s, const char *policy);

#endif
