/*
 * certref.h - the forms of certificate reference a CA's seals use to name
 * their signer, as a TSL declares them (docs/trust.md): which ids a form
 * admits, checked before anything is fetched, and whether a fetched
 * certificate is the one an id names.
 */
#ifndef SEALAUTH_TRUST_CERTREF_H
#define SEALAUTH_TRUST_CERTREF_H

#include <openssl/x509.h>

/* The forms, as bits of a CA's declared set. */
enum certref_form {
	CERTREF_SERIAL16 = 1u << 0, /* 4 hex digits: low 16 bits of serial */
	CERTREF_SERIAL20 = 1u << 1, /* 5 hex digits: low 20 bits of serial */
	CERTREF_CN = 1u << 2,	    /* 4 or 5 of [0-9A-Z]: the subject CN */
};

/* The set of a CA that declares none: our profile's form. */
#define CERTREF_DEFAULT CERTREF_SERIAL16

/*
 * certref_parse reads a space-separated list of form names ("serial16
 * serial20") into a set; 0 when a name is unknown, repeated or the list
 * is empty.
 */
unsigned int certref_parse(const char *s);

/* certref_describe writes the names of a set ("serial16 serial20"). */
void certref_describe(unsigned int set, char *out, size_t outsz);

/*
 * certref_form_of returns the first form of set, in the order of enum
 * certref_form, that admits id, or 0 when none does: such an id names no
 * certificate of the CA.
 */
unsigned int certref_form_of(unsigned int set, const char *id);

/* certref_matches tells whether certificate x is the one id names in
 * form (one bit). */
int certref_matches(unsigned int form, X509 *x, const char *id);

#endif
