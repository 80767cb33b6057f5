/*
 * curl_lib.h - whether libcurl, which the binary opens on first use
 * (core/curl_lib.c), can be used.
 */
#ifndef SEALAUTH_CURL_LIB_H
#define SEALAUTH_CURL_LIB_H

/* The library's ABI name, as the loader opens it and its errors name it. */
#define CURL_LIB_SONAME "libcurl.so.4"

/*
 * curl_lib_usable opens libcurl if that was not tried yet and says whether
 * every function sealauth calls resolved (1) or not (0), so a caller whose
 * curl_easy_init returned NULL can tell a missing library from a lack of
 * memory.
 */
int curl_lib_usable(void);

#endif
