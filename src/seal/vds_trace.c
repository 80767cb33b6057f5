/*
 * vds_trace.c - the reader both seal parsers report to: the reason of a
 * refusal and, for `vds inspect --explain`, each field as it was read.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "seal/vds_int.h"

/* trace_add appends one field to a trace; past VDS_TRACE_MAX it only
 * counts. */
static void __attribute__((format(printf, 5, 0)))
trace_add(struct vds_trace *t, size_t off, size_t len, const char *field,
	  const char *fmt, va_list ap)
{
	struct vds_trace_field *f;

	t->ntotal++;
	if (t->n >= VDS_TRACE_MAX)
		return;
	f = &t->f[t->n++];
	f->offset = off;
	f->len = len;
	snprintf(f->name, sizeof(f->name), "%s", field);
	vsnprintf(f->value, sizeof(f->value), fmt, ap);
}

void
vds_rd_note(struct vds_rd *rd, size_t off, size_t len, const char *field,
	    const char *fmt, ...)
{
	va_list ap;

	if (rd->tr == NULL)
		return;
	va_start(ap, fmt);
	trace_add(rd->tr, off, len, field, fmt, ap);
	va_end(ap);
}

enum sa_err
vds_rd_fail(struct vds_rd *rd, size_t off, const char *fmt, ...)
{
	va_list ap;

	if (rd->why != NULL && rd->whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(rd->why, rd->whylen, fmt, ap);
		va_end(ap);
	}
	if (rd->tr != NULL) {
		rd->tr->failed = 1;
		rd->tr->fail_offset = off;
	}
	return SA_ERR_SEAL_DECODE;
}
