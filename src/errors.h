/*
 * errors.h - the one error enum of sealauth.
 *
 * Values are stable and explicit: they appear in logs and audit rows, so a
 * value is never renumbered or reused. Each value has a stable machine code
 * (the "error" field of JSON error bodies), a human text and an HTTP status,
 * all kept in one table in errors.c.
 */
#ifndef SEALAUTH_ERRORS_H
#define SEALAUTH_ERRORS_H

enum sa_err {
	SA_OK = 0,

	/* Generic failures. */
	SA_ERR_NOMEM = 1,	 /* allocation failed */
	SA_ERR_INTERNAL = 2,	 /* a bug or an unexpected library failure */
	SA_ERR_IO = 3,		 /* file or socket I/O failed */
	SA_ERR_CONFIG = 4,	 /* configuration is invalid */
	SA_ERR_UNAVAILABLE = 5,	 /* a backend (database, Redis) is unreachable */
	SA_ERR_TIMEOUT = 6,	 /* an operation took too long */
	SA_ERR_SHUTTING_DOWN = 7,/* the server is stopping */

	/* Request problems (4xx). */
	SA_ERR_BAD_REQUEST = 20,      /* malformed request, generic */
	SA_ERR_BAD_JSON = 21,	      /* body is not valid JSON */
	SA_ERR_VALIDATION = 22,	      /* body does not match the schema */
	SA_ERR_BODY_TOO_LARGE = 23,   /* body over the limit */
	SA_ERR_UNSUPPORTED_MEDIA = 24,/* wrong Content-Type */
	SA_ERR_NOT_FOUND = 25,	      /* no such route or resource */
	SA_ERR_METHOD = 26,	      /* method not allowed on this route */
	SA_ERR_RATE_LIMITED = 27,     /* too many requests */
	SA_ERR_UNAUTHORIZED = 28,     /* missing or bad credentials */
	SA_ERR_FORBIDDEN = 29,	      /* authenticated but not allowed */
	SA_ERR_CONFLICT = 30,	      /* state conflict (replay, duplicate) */
	SA_ERR_ORIGIN = 31,	      /* Origin not allowed */
	SA_ERR_GONE = 32,	      /* expired resource */
	SA_ERR_UNPROCESSABLE = 33,    /* well-formed but semantically refused */

	/* Seal and trust failures; the name says which step failed. */
	SA_ERR_SEAL_DECODE = 40,     /* the seal bytes do not parse */
	SA_ERR_SEAL_SIGNATURE = 41,  /* the seal signature does not verify */
	SA_ERR_TRUST_CHAIN = 42,     /* no valid path to a trusted CA */
	SA_ERR_TRUST_EXPIRY = 43,    /* a certificate or list is out of date */
	SA_ERR_TRUST_USAGE = 44,     /* UsageList does not authorise the manifest */
	SA_ERR_TRUST_REVOKED = 45,   /* CRL or VRL revokes it */
	SA_ERR_TRUST_GOVERNANCE = 46,/* governance or scheme list refused */
	SA_ERR_TRUST_LIST = 47,	     /* a trust list is malformed */
	SA_ERR_TRUST_LIST_SIG = 48,  /* a trust list signature does not verify */

	/* Login failures. */
	SA_ERR_NOT_ENROLLED = 60,
	SA_ERR_TOKEN_REVOKED = 61,
	SA_ERR_SCOPE = 62,
	SA_ERR_SESSION_UNKNOWN = 63,
	SA_ERR_SESSION_EXPIRED = 64,
	SA_ERR_BAD_SIGNATURE = 65,
	SA_ERR_BAD_OTP = 66,
	SA_ERR_TOO_MANY_ATTEMPTS = 67,
	SA_ERR_REPLAY = 68,
	SA_ERR_CLOCK_SKEW = 69,
	SA_ERR_PUSH = 70,

	/* Administration. */
	SA_ERR_LAST_PASSKEY = 80,
	SA_ERR_STEP_UP = 81,
};

/* sa_err_code returns the stable snake_case code of an error ("validation"). */
const char *sa_err_code(enum sa_err err);

/* sa_err_str returns a short English sentence describing an error. */
const char *sa_err_str(enum sa_err err);

/* sa_err_http returns the HTTP status an error maps to (500 for unknown). */
unsigned int sa_err_http(enum sa_err err);

#endif
