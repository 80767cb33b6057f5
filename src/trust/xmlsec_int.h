/*
 * xmlsec_int.h - what the files of src/trust/ that drive xmlsec share
 * (xmldsig.c signs and verifies, xmlenc.c encrypts); nothing outside reads
 * it.
 */
#ifndef SEALAUTH_XMLSEC_INT_H
#define SEALAUTH_XMLSEC_INT_H

#include <openssl/evp.h>
#include <xmlsec/keys.h>

/*
 * xmldsig_key_from_evp wraps an EVP_PKEY in a new xmlsec key (caller
 * destroys). The EVP_PKEY gains a reference; the caller keeps its own.
 * NULL when out of memory.
 */
xmlSecKeyPtr xmldsig_key_from_evp(EVP_PKEY *pkey);

#endif
