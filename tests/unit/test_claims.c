/*
 * test_claims.c - the scope table of SPEC §5, the derived claims at their
 * boundaries and the stored identity (docs/claims.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "core/json_out.h"
#include "login/claims.h"
#include "core/util.h"
#include "seal/vds.h"

/* A few bytes that look like the start of a WEBP file, with bytes that
 * need every base64 character class. */
static const unsigned char photo_bytes[] = {'R',  'I',	'F',  'F',  0x24, 0x00,
					    0x00, 0x00, 'W',  'E',  'B',  'P',
					    0xff, 0xfe, 0xfb, 0x00, 0x3e};
#define PHOTO_B64 "UklGRiQAAABXRUJQ//77AD4="

/* unix_at is the instant of "YYYY-MM-DD" at hh:mm:ss UTC. */
static int64_t
unix_at(const char *date, int hh, int mm, int ss)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	assert_int_equal(
	    sscanf(date, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday), 3);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	return (int64_t)timegm(&tm);
}

static int64_t
noon(const char *date)
{
	return unix_at(date, 12, 0, 0);
}

/* full_identity fills id with every field; the caller clears it. */
static void
full_identity(struct identity *id)
{
	memset(id, 0, sizeof(*id));
	strcpy(id->given_name, "Max");
	strcpy(id->family_name, "Mustermann");
	strcpy(id->date_of_birth, "1990-05-17");
	strcpy(id->nationality, "DEU");
	strcpy(id->document_number, "C01X00T47");
	strcpy(id->trust_level, "high");
	id->photo = malloc(sizeof(photo_bytes));
	assert_non_null(id->photo);
	memcpy(id->photo, photo_bytes, sizeof(photo_bytes));
	id->photo_len = sizeof(photo_bytes);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * key_set writes the keys of obj, sorted and comma-joined, into out; it
 * also fails the test if any value is JSON null.
 */
static void
key_set(const json_t *obj, char *out, size_t outsz)
{
	const char *keys[64];
	const char *k;
	json_t *v;
	size_t n = 0;

	json_object_foreach((json_t *)obj, k, v)
	{
		assert_false(json_is_null(v));
		assert_true(n < ARRAY_LEN(keys));
		keys[n++] = k;
	}
	qsort(keys, n, sizeof(keys[0]), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strncat(out, ",", outsz - strlen(out) - 1);
		strncat(out, keys[i], outsz - strlen(out) - 1);
	}
}

/* claims_for runs claims_add for one scope and returns a new object. */
static json_t *
claims_for(const struct identity *id, const char *scope, int64_t now)
{
	json_t *o = json_object();
	const char *scopes[1] = {scope};

	assert_non_null(o);
	assert_int_equal(claims_add(id, scopes, 1, now, o), SA_OK);
	return o;
}

static const struct {
	const char *scope;
	const char *keys; /* sorted */
} scope_cases[] = {
    {"identity:name", "familyName,givenName"},
    {"identity:given_name", "givenName"},
    {"identity:family_name", "familyName"},
    {"identity:date_of_birth", "dateOfBirth"},
    {"identity:nationality", "nationality"},
    {"identity:document", "documentNumber"},
    {"identity:photo", "photoBase64"},
    {"identity:trust_level", "trustLevel"},
    {"identity:age_over_18", "ageOver18"},
    {"identity:age_over_21", "ageOver21"},
    {"identity:age_over_25", "ageOver25"},
    {"identity:age_range", "ageRange"},
    {"identity:is_eu_citizen", "isEuCitizen"},
    {"identity:name_initial", "nameInitial"},
    {"identity:basic", "familyName,givenName,trustLevel"},
    {"identity:age_verification", "ageOver18,familyName,givenName"},
    {"identity:full", "dateOfBirth,documentNumber,familyName,givenName,"
		      "nationality,trustLevel"},
    {"identity:full_with_photo",
     "dateOfBirth,documentNumber,familyName,givenName,nationality,"
     "photoBase64,trustLevel"},
};

static void
test_each_scope_gives_exactly_its_claims(void **state)
{
	struct identity id;
	char keys[512];

	full_identity(&id);
	for (size_t i = 0; i < ARRAY_LEN(scope_cases); i++) {
		json_t *o =
		    claims_for(&id, scope_cases[i].scope, noon("2026-06-01"));
		key_set(o, keys, sizeof(keys));
		if (strcmp(keys, scope_cases[i].keys) != 0)
			fail_msg("%s gave {%s}, want {%s}",
				 scope_cases[i].scope, keys,
				 scope_cases[i].keys);
		json_decref(o);
	}
	claims_identity_clear(&id);
}

static void
test_all_scopes_list_matches_the_table(void **state)
{
	size_t n = 0;
	char keys[512];
	json_t *o = json_object();
	struct identity id;

	while (claims_all_scopes[n] != NULL) {
		assert_true(n < ARRAY_LEN(scope_cases));
		assert_string_equal(claims_all_scopes[n], scope_cases[n].scope);
		n++;
	}
	assert_int_equal(n, ARRAY_LEN(scope_cases));
	assert_int_equal(claims_scopes_known(claims_all_scopes, n, NULL),
			 SA_OK);
	/* All scopes together give every claim once. */
	full_identity(&id);
	assert_int_equal(
	    claims_add(&id, claims_all_scopes, n, noon("2026-06-01"), o),
	    SA_OK);
	key_set(o, keys, sizeof(keys));
	assert_string_equal(keys,
			    "ageOver18,ageOver21,ageOver25,ageRange,"
			    "dateOfBirth,documentNumber,familyName,givenName,"
			    "isEuCitizen,nameInitial,nationality,photoBase64,"
			    "trustLevel");
	json_decref(o);
	claims_identity_clear(&id);
}

static void
test_claim_values(void **state)
{
	struct identity id;
	json_t *o = json_object();
	const char *scopes[] = {
	    "identity:full_with_photo", "identity:age_over_18",
	    "identity:age_over_21",	"identity:age_over_25",
	    "identity:age_range",	"identity:is_eu_citizen",
	    "identity:name_initial"};

	full_identity(&id);
	assert_int_equal(
	    claims_add(&id, scopes, ARRAY_LEN(scopes), noon("2026-06-01"), o),
	    SA_OK);
	assert_string_equal(json_string_value(json_object_get(o, "givenName")),
			    "Max");
	assert_string_equal(json_string_value(json_object_get(o, "familyName")),
			    "Mustermann");
	assert_string_equal(
	    json_string_value(json_object_get(o, "dateOfBirth")), "1990-05-17");
	assert_string_equal(
	    json_string_value(json_object_get(o, "nationality")), "DEU");
	assert_string_equal(
	    json_string_value(json_object_get(o, "documentNumber")),
	    "C01X00T47");
	assert_string_equal(json_string_value(json_object_get(o, "trustLevel")),
			    "high");
	assert_string_equal(
	    json_string_value(json_object_get(o, "photoBase64")), PHOTO_B64);
	assert_true(json_is_true(json_object_get(o, "ageOver18")));
	assert_true(json_is_true(json_object_get(o, "ageOver21")));
	assert_true(json_is_true(json_object_get(o, "ageOver25")));
	assert_string_equal(json_string_value(json_object_get(o, "ageRange")),
			    "35-44");
	assert_true(json_is_true(json_object_get(o, "isEuCitizen")));
	assert_string_equal(
	    json_string_value(json_object_get(o, "nameInitial")), "M. M.");
	json_decref(o);
	claims_identity_clear(&id);
}

static void
test_missing_source_is_left_out(void **state)
{
	struct identity id;
	char keys[512];
	json_t *o = json_object();

	memset(&id, 0, sizeof(id));
	strcpy(id.given_name, "Erika");
	strcpy(id.family_name, "Musterfrau");
	/* No birth date, nationality, document, trust level or photo. */
	assert_int_equal(claims_add(&id, claims_all_scopes,
				    ARRAY_LEN(scope_cases), noon("2026-06-01"),
				    o),
			 SA_OK);
	key_set(o, keys, sizeof(keys));
	assert_string_equal(keys, "familyName,givenName,nameInitial");
	json_decref(o);

	/* Only a birth date: names and initials are absent too. */
	memset(&id, 0, sizeof(id));
	strcpy(id.date_of_birth, "2002-01-01");
	o = json_object();
	assert_int_equal(claims_add(&id, claims_all_scopes,
				    ARRAY_LEN(scope_cases), noon("2026-06-01"),
				    o),
			 SA_OK);
	key_set(o, keys, sizeof(keys));
	assert_string_equal(
	    keys, "ageOver18,ageOver21,ageOver25,ageRange,dateOfBirth");
	assert_true(json_is_false(json_object_get(o, "ageOver25")));
	json_decref(o);
}

/*
 * test_write_is_the_same_text_as_add: claims_write, which a login's token
 * uses, writes byte for byte what json_out gives of the object claims_add
 * fills, for each scope alone, every scope at once, identities with fields
 * missing, and after members of the caller's own; and refuses as it does.
 */
static void
test_write_is_the_same_text_as_add(void **state)
{
	size_t nall = 0;

	(void)state;
	while (claims_all_scopes[nall] != NULL)
		nall++;
	for (int shape = 0; shape < 3; shape++) {
		struct identity id;

		full_identity(&id);
		if (shape == 1) {
			/* No photo, nationality or birth date. */
			free(id.photo);
			id.photo = NULL;
			id.photo_len = 0;
			id.nationality[0] = '\0';
			id.date_of_birth[0] = '\0';
		} else if (shape == 2) {
			/* Names only, one of them with an accent. */
			strcpy(id.given_name, "\xc3\x89lodie");
			id.document_number[0] = '\0';
		}
		for (size_t i = 0; i <= nall; i++) {
			const char *const *scopes = i < nall
							? &claims_all_scopes[i]
							: claims_all_scopes;
			size_t n = i < nall ? 1 : nall, got_n = 0, want_n = 0;
			json_t *o = json_pack("{s:s, s:I}", "iss", "x", "exp",
					      (json_int_t)7);
			struct json_obj w;
			char *got, *want;

			assert_non_null(o);
			assert_int_equal(
			    claims_add(&id, scopes, n, noon("2026-06-01"), o),
			    SA_OK);
			want = json_out(o, 0, &want_n);
			json_obj_begin(&w);
			json_obj_str(&w, "iss", "x");
			json_obj_int(&w, "exp", 7);
			assert_int_equal(claims_write(&id, scopes, n,
						      noon("2026-06-01"), &w),
					 SA_OK);
			got = json_obj_end(&w, &got_n);
			assert_non_null(want);
			assert_non_null(got);
			assert_int_equal(got_n, want_n);
			assert_string_equal(got, want);
			free(got);
			free(want);
			json_decref(o);
		}
		claims_identity_clear(&id);
	}
	/* The same refusals. */
	{
		struct identity id;
		struct json_obj w;
		const char *bad[] = {"identity:name", "identity:nope"};

		full_identity(&id);
		json_obj_begin(&w);
		assert_int_equal(
		    claims_write(&id, bad, 2, noon("2026-06-01"), &w),
		    SA_ERR_SCOPE);
		assert_int_equal(
		    claims_write(NULL, bad, 1, noon("2026-06-01"), &w),
		    SA_ERR_VALIDATION);
		assert_int_equal(
		    claims_write(&id, bad, 1, noon("2026-06-01"), NULL),
		    SA_ERR_VALIDATION);
		strcpy(id.nationality, "de");
		assert_int_equal(
		    claims_write(&id, bad, 1, noon("2026-06-01"), &w),
		    SA_ERR_VALIDATION);
		free(json_obj_end(&w, NULL));
		claims_identity_clear(&id);
	}
}

static void
test_unknown_scope_refused_with_its_index(void **state)
{
	const char *a[] = {"identity:name", "identity:email", "identity:bogus"};
	const char *b[] = {"identity:name", "identity:basic", NULL};
	const char *c[] = {"IDENTITY:NAME"};
	const char *d[] = {"identity:name "};
	const char *e[] = {"identity:"};
	const char *f[] = {""};
	const char *many[CLAIMS_SCOPES_MAX + 1];
	char longs[CLAIMS_SCOPE_MAX + 40];
	const char *g[] = {"identity:name", longs};
	size_t bad = 999;
	struct identity id;
	json_t *o = json_object();
	char keys[256];

	assert_int_equal(claims_scopes_known(a, 3, &bad), SA_ERR_SCOPE);
	assert_int_equal(bad, 1);
	assert_int_equal(claims_scopes_known(b, 3, &bad), SA_ERR_SCOPE);
	assert_int_equal(bad, 2);
	assert_int_equal(claims_scopes_known(c, 1, &bad), SA_ERR_SCOPE);
	assert_int_equal(bad, 0);
	assert_int_equal(claims_scopes_known(d, 1, &bad), SA_ERR_SCOPE);
	assert_int_equal(claims_scopes_known(e, 1, &bad), SA_ERR_SCOPE);
	assert_int_equal(claims_scopes_known(f, 1, &bad), SA_ERR_SCOPE);
	memset(longs, 'a', sizeof(longs) - 1);
	memcpy(longs, "identity:", 9);
	longs[sizeof(longs) - 1] = '\0';
	assert_int_equal(claims_scopes_known(g, 2, &bad), SA_ERR_SCOPE);
	assert_int_equal(bad, 1);
	assert_int_equal(claims_scopes_known(g, 2, NULL), SA_ERR_SCOPE);
	assert_int_equal(claims_scopes_known(a, 1, &bad), SA_OK);
	assert_int_equal(claims_scopes_known(NULL, 0, &bad), SA_OK);
	assert_int_equal(claims_scopes_known(NULL, 2, &bad), SA_ERR_SCOPE);
	assert_int_equal(bad, 0);

	/* Known scopes, but more than CLAIMS_SCOPES_MAX of them. */
	for (size_t i = 0; i < ARRAY_LEN(many); i++)
		many[i] = "identity:name";
	assert_int_equal(claims_scopes_known(many, CLAIMS_SCOPES_MAX, &bad),
			 SA_OK);
	assert_int_equal(claims_scopes_known(many, ARRAY_LEN(many), &bad),
			 SA_ERR_SCOPE);
	assert_int_equal(bad, CLAIMS_SCOPES_MAX);

	/* claims_add refuses too, and leaves out as it was. */
	full_identity(&id);
	json_object_set_new(o, "sub", json_string("tok-1"));
	assert_int_equal(claims_add(&id, a, 3, noon("2026-06-01"), o),
			 SA_ERR_SCOPE);
	key_set(o, keys, sizeof(keys));
	assert_string_equal(keys, "sub");
	json_decref(o);
	claims_identity_clear(&id);
}

static void
test_add_keeps_other_keys_and_checks_input(void **state)
{
	struct identity id;
	const char *scopes[] = {"identity:basic", "identity:name",
				"identity:basic"};
	json_t *o = json_object();
	json_t *arr = json_array();
	char keys[256];

	full_identity(&id);
	json_object_set_new(o, "sub", json_string("tok-1"));
	json_object_set_new(o, "aud", json_string("svc"));
	assert_int_equal(claims_add(&id, scopes, 3, noon("2026-06-01"), o),
			 SA_OK);
	key_set(o, keys, sizeof(keys));
	assert_string_equal(keys, "aud,familyName,givenName,sub,trustLevel");
	/* No scopes: nothing added. */
	assert_int_equal(claims_add(&id, NULL, 0, noon("2026-06-01"), o),
			 SA_OK);
	assert_int_equal(json_object_size(o), 5);
	assert_int_equal(claims_add(&id, scopes, 1, noon("2026-06-01"), arr),
			 SA_ERR_VALIDATION);
	assert_int_equal(json_array_size(arr), 0);

	/* A hand-built identity that breaks the rules is refused. */
	strcpy(id.given_name, "Ma\xc3");
	assert_int_equal(claims_add(&id, scopes, 1, noon("2026-06-01"), o),
			 SA_ERR_VALIDATION);
	strcpy(id.given_name, "Max");
	memset(id.nationality, 'A', sizeof(id.nationality)); /* no NUL */
	assert_int_equal(claims_add(&id, scopes, 1, noon("2026-06-01"), o),
			 SA_ERR_VALIDATION);
	strcpy(id.nationality, "deu");
	assert_int_equal(claims_add(&id, scopes, 1, noon("2026-06-01"), o),
			 SA_ERR_VALIDATION);
	strcpy(id.nationality, "DEU");
	strcpy(id.date_of_birth, "1990-02-30");
	assert_int_equal(claims_add(&id, scopes, 1, noon("2026-06-01"), o),
			 SA_ERR_VALIDATION);
	assert_int_equal(claims_add(NULL, scopes, 1, noon("2026-06-01"), o),
			 SA_ERR_VALIDATION);
	key_set(o, keys, sizeof(keys));
	assert_string_equal(keys, "aud,familyName,givenName,sub,trustLevel");
	json_decref(o);
	json_decref(arr);
	claims_identity_clear(&id);
}

/*
 * age_claim returns the value of claim ("ageOver18", ...) for a person born
 * on dob at now: 1 true, 0 false, -1 absent.
 */
static int
age_claim(const char *dob, int64_t now, const char *scope, const char *key)
{
	struct identity id;
	json_t *o, *v;
	int r;

	memset(&id, 0, sizeof(id));
	strcpy(id.date_of_birth, dob);
	o = claims_for(&id, scope, now);
	v = json_object_get(o, key);
	r = v == NULL ? -1 : json_is_true(v) ? 1 : 0;
	if (v != NULL)
		assert_true(json_is_boolean(v));
	json_decref(o);
	return r;
}

static int
over18(const char *dob, int64_t now)
{
	return age_claim(dob, now, "identity:age_over_18", "ageOver18");
}

static int
over21(const char *dob, int64_t now)
{
	return age_claim(dob, now, "identity:age_over_21", "ageOver21");
}

static int
over25(const char *dob, int64_t now)
{
	return age_claim(dob, now, "identity:age_over_25", "ageOver25");
}

/* range_of returns the ageRange for dob at now ("" when absent). */
static const char *
range_of(const char *dob, int64_t now)
{
	static char r[32];
	struct identity id;
	json_t *o, *v;

	memset(&id, 0, sizeof(id));
	strcpy(id.date_of_birth, dob);
	o = claims_for(&id, "identity:age_range", now);
	v = json_object_get(o, "ageRange");
	snprintf(r, sizeof(r), "%s", v ? json_string_value(v) : "");
	json_decref(o);
	return r;
}

static void
test_age_birthday_boundaries(void **state)
{
	/* The day before and the day of the 18th, 21st, 25th birthday. */
	assert_int_equal(over18("2000-06-15", noon("2018-06-14")), 0);
	assert_int_equal(over18("2000-06-15", noon("2018-06-15")), 1);
	assert_int_equal(over21("2000-06-15", noon("2021-06-14")), 0);
	assert_int_equal(over21("2000-06-15", noon("2021-06-15")), 1);
	assert_int_equal(over25("2000-06-15", noon("2025-06-14")), 0);
	assert_int_equal(over25("2000-06-15", noon("2025-06-15")), 1);
	/* A month earlier in the year: the month decides, not the day. */
	assert_int_equal(over18("2000-06-15", noon("2018-05-20")), 0);
	assert_int_equal(over18("2000-06-15", noon("2018-07-01")), 1);
	/* The UTC date counts: the last and first second of the day. */
	assert_int_equal(
	    over18("2000-06-15", unix_at("2018-06-14", 23, 59, 59)), 0);
	assert_int_equal(over18("2000-06-15", unix_at("2018-06-15", 0, 0, 0)),
			 1);
	/* Over a year end. */
	assert_int_equal(over18("2000-12-31", noon("2018-12-30")), 0);
	assert_int_equal(over18("2000-12-31", noon("2018-12-31")), 1);
	assert_int_equal(over18("2001-01-01", noon("2018-12-31")), 0);
	assert_int_equal(over18("2001-01-01", noon("2019-01-01")), 1);
	/* Long past: still true. */
	assert_int_equal(over25("1930-01-01", noon("2026-06-01")), 1);
	/* Born before 1970 and checked before 1970. */
	assert_int_equal(over18("1940-03-10", noon("1958-03-09")), 0);
	assert_int_equal(over18("1940-03-10", noon("1958-03-10")), 1);
}

static void
test_age_leap_day_birthdays(void **state)
{
	/* Born 29 February: a year older on 1 March in common years. */
	assert_int_equal(over18("2008-02-29", noon("2026-02-28")), 0);
	assert_int_equal(over18("2008-02-29", noon("2026-03-01")), 1);
	assert_int_equal(over21("2004-02-29", noon("2025-02-28")), 0);
	assert_int_equal(over21("2004-02-29", noon("2025-03-01")), 1);
	assert_int_equal(over25("2000-02-29", noon("2025-02-28")), 0);
	assert_int_equal(over25("2000-02-29", noon("2025-03-01")), 1);
	/* The 65th birthday falls in a common year: 1 March again. */
	assert_string_equal(range_of("1956-02-29", noon("2020-02-29")),
			    "55-64");
	assert_string_equal(range_of("1956-02-29", noon("2021-02-28")),
			    "55-64");
	assert_string_equal(range_of("1956-02-29", noon("2021-03-01")), "65+");
	/* Born 28 February or 1 March of a leap year: no surprise. */
	assert_int_equal(over18("2008-02-28", noon("2026-02-28")), 1);
	assert_int_equal(over18("2008-03-01", noon("2026-02-28")), 0);
	assert_int_equal(over18("2008-03-01", noon("2026-03-01")), 1);
}

static void
test_age_future_birth_date(void **state)
{
	struct identity id;
	char keys[256];
	json_t *o = json_object();
	const char *scopes[] = {"identity:age_over_18", "identity:age_over_21",
				"identity:age_over_25", "identity:age_range",
				"identity:date_of_birth"};

	/* A birth date after today gives no age claim at all. */
	memset(&id, 0, sizeof(id));
	strcpy(id.date_of_birth, "2030-01-01");
	assert_int_equal(
	    claims_add(&id, scopes, ARRAY_LEN(scopes), noon("2026-06-01"), o),
	    SA_OK);
	key_set(o, keys, sizeof(keys));
	assert_string_equal(keys, "dateOfBirth");
	json_decref(o);
	assert_int_equal(over18("2026-06-02", noon("2026-06-01")), -1);
	assert_string_equal(range_of("2026-06-02", noon("2026-06-01")), "");
	/* Born today: age 0. */
	assert_int_equal(over18("2026-06-01", noon("2026-06-01")), 0);
	assert_string_equal(range_of("2026-06-01", noon("2026-06-01")),
			    "under-18");
}

static void
test_age_range_buckets(void **state)
{
	static const struct {
		int age;
		const char *range;
	} cases[] = {
	    {0, "under-18"}, {17, "under-18"}, {18, "18-20"}, {20, "18-20"},
	    {21, "21-24"},   {24, "21-24"},    {25, "25-34"}, {34, "25-34"},
	    {35, "35-44"},   {44, "35-44"},    {45, "45-54"}, {54, "45-54"},
	    {55, "55-64"},   {64, "55-64"},    {65, "65+"},   {120, "65+"},
	};
	char date[32];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		/* Born 1900-07-10: exactly `age` on 1900+age-07-10 ... */
		snprintf(date, sizeof(date), "%04d-07-10", 1900 + cases[i].age);
		assert_string_equal(range_of("1900-07-10", noon(date)),
				    cases[i].range);
		/* ... and still `age` the day before the next birthday. */
		snprintf(date, sizeof(date), "%04d-07-09",
			 1900 + cases[i].age + 1);
		assert_string_equal(range_of("1900-07-10", noon(date)),
				    cases[i].range);
	}
}

/* eu_of returns isEuCitizen for nat: 1, 0 or -1 when absent. */
static int
eu_of(const char *nat)
{
	struct identity id;
	json_t *o, *v;
	int r;

	memset(&id, 0, sizeof(id));
	strcpy(id.given_name, "A");
	strcpy(id.nationality, nat);
	o = claims_for(&id, "identity:is_eu_citizen", noon("2026-06-01"));
	v = json_object_get(o, "isEuCitizen");
	if (v != NULL)
		assert_true(json_is_boolean(v));
	r = v == NULL ? -1 : json_is_true(v);
	/* Only that claim, never the nationality itself. */
	assert_int_equal(json_object_size(o), v == NULL ? 0 : 1);
	json_decref(o);
	return r;
}

static void
test_eu_citizen(void **state)
{
	static const char *const eu27[] = {
	    "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN",
	    "FRA", "DEU", "GRC", "HUN", "IRL", "ITA", "LVA", "LTU", "LUX",
	    "MLT", "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE"};
	static const char *const not_eu[] = {
	    "GBR", "CHE", "NOR", "ISL", "LIE", "USA", "TUR", "UKR",
	    "GBD", "EUE", "UTO", "XXA", "DE",  "DD",  "DEN", "A",
	};

	assert_int_equal(ARRAY_LEN(eu27), 27);
	for (size_t i = 0; i < ARRAY_LEN(eu27); i++)
		if (eu_of(eu27[i]) != 1)
			fail_msg("%s should be EU", eu27[i]);
	assert_int_equal(eu_of("D"), 1);
	for (size_t i = 0; i < ARRAY_LEN(not_eu); i++)
		if (eu_of(not_eu[i]) != 0)
			fail_msg("%s should not be EU", not_eu[i]);
	/* Unknown or unspecified nationality: no claim. */
	assert_int_equal(eu_of(""), -1);
	assert_int_equal(eu_of("XXX"), -1);
}

/* initial_of returns nameInitial for the names ("" when absent). */
static const char *
initial_of(const char *gn, const char *fn)
{
	static char r[2 * (CLAIMS_NAME_MAX + 2)];
	struct identity id;
	json_t *o, *v;

	memset(&id, 0, sizeof(id));
	strcpy(id.given_name, gn);
	strcpy(id.family_name, fn);
	o = claims_for(&id, "identity:name_initial", noon("2026-06-01"));
	v = json_object_get(o, "nameInitial");
	snprintf(r, sizeof(r), "%s", v ? json_string_value(v) : "");
	assert_int_equal(json_object_size(o), v == NULL ? 0 : 1);
	json_decref(o);
	return r;
}

static void
test_name_initial(void **state)
{
	assert_string_equal(initial_of("Max", "Mustermann"), "M. M.");
	assert_string_equal(initial_of("ERIKA", "MUSTERFRAU"), "E. M.");
	/* Two-byte first letters. */
	assert_string_equal(initial_of("\xc3\x9clrich", "\xc3\x96zil"),
			    "\xc3\x9c. \xc3\x96.");
	assert_string_equal(
	    initial_of("\xc5\x81ukasz", "\xc5\xbb\xc3\xb3\xc5\x82\x63"),
	    "\xc5\x81. \xc5\xbb.");
	/* Three bytes (CJK), four bytes (U+1D504). */
	assert_string_equal(
	    initial_of("\xe5\xa4\xaa\xe9\x83\x8e", "\xe5\xb1\xb1\xe7\x94\xb0"),
	    "\xe5\xa4\xaa. \xe5\xb1\xb1.");
	assert_string_equal(initial_of("\xf0\x9d\x94\x84lpha", "Beta"),
			    "\xf0\x9d\x94\x84. B.");
	/* A decomposed "U" + U+0308 keeps its diaeresis. */
	assert_string_equal(initial_of("U\xcc\x88lrich", "Zeta"),
			    "U\xcc\x88. Z.");
	/* Only the first letter of compound names; leading spaces skipped. */
	assert_string_equal(initial_of("Hans-Peter", "  von Berg"), "H. v.");
	/* One name only, or none. */
	assert_string_equal(initial_of("Max", ""), "M.");
	assert_string_equal(initial_of("", "Mustermann"), "M.");
	assert_string_equal(initial_of("", ""), "");
	assert_string_equal(initial_of("   ", " "), "");
}

static void
test_photo_base64(void **state)
{
	struct identity id;
	json_t *o;
	unsigned char *back = NULL;
	size_t backlen = 0;
	const char *s;

	full_identity(&id);
	o = claims_for(&id, "identity:photo", noon("2026-06-01"));
	s = json_string_value(json_object_get(o, "photoBase64"));
	assert_non_null(s);
	assert_string_equal(s, PHOTO_B64);
	assert_int_equal(b64_decode(s, strlen(s), 1 << 16, &back, &backlen),
			 SA_OK);
	assert_int_equal(backlen, sizeof(photo_bytes));
	assert_memory_equal(back, photo_bytes, backlen);
	free(back);
	json_decref(o);
	claims_identity_clear(&id);

	/* No photo: nothing, not null. */
	full_identity(&id);
	free(id.photo);
	id.photo = NULL;
	id.photo_len = 0;
	o = claims_for(&id, "identity:photo", noon("2026-06-01"));
	assert_int_equal(json_object_size(o), 0);
	json_decref(o);
	/* A photo pointer without a length (or the reverse) is malformed. */
	id.photo_len = 3;
	o = json_object();
	{
		const char *sc[] = {"identity:photo"};
		assert_int_equal(claims_add(&id, sc, 1, 0, o),
				 SA_ERR_VALIDATION);
	}
	id.photo_len = 0;
	json_decref(o);
	claims_identity_clear(&id);
}

static void
assert_identity_equal(const struct identity *a, const struct identity *b)
{
	assert_string_equal(a->given_name, b->given_name);
	assert_string_equal(a->family_name, b->family_name);
	assert_string_equal(a->date_of_birth, b->date_of_birth);
	assert_string_equal(a->nationality, b->nationality);
	assert_string_equal(a->document_number, b->document_number);
	assert_string_equal(a->trust_level, b->trust_level);
	assert_int_equal(a->photo_len, b->photo_len);
	assert_true((a->photo == NULL) == (b->photo == NULL));
	if (a->photo != NULL)
		assert_memory_equal(a->photo, b->photo, a->photo_len);
}

static void
test_identity_json_round_trip(void **state)
{
	struct identity id, back;
	json_t *j, *re;
	char *text, keys[256];
	json_error_t err;

	full_identity(&id);
	/* Longest fields and non-ASCII text survive too. */
	memset(id.given_name, 'x', CLAIMS_NAME_MAX);
	id.given_name[CLAIMS_NAME_MAX] = '\0';
	strcpy(id.family_name, "\xc5\xbb\xc3\xb3\xc5\x82\x63");
	j = claims_identity_to_json(&id);
	assert_non_null(j);
	key_set(j, keys, sizeof(keys));
	assert_string_equal(keys, "dateOfBirth,documentNumber,familyName,"
				  "givenName,nationality,photo,trustLevel");
	assert_string_equal(json_string_value(json_object_get(j, "photo")),
			    PHOTO_B64);
	/* Through text, as the store keeps it. */
	text = json_dumps(j, JSON_COMPACT);
	assert_non_null(text);
	re = json_loads(text, 0, &err);
	assert_non_null(re);
	memset(&back, 0, sizeof(back));
	assert_int_equal(claims_identity_from_json(re, &back), SA_OK);
	assert_identity_equal(&id, &back);
	assert_ptr_not_equal(back.photo, id.photo);
	claims_identity_clear(&back);
	free(text);
	json_decref(re);
	json_decref(j);

	/* A sparse identity: absent fields stay absent. */
	claims_identity_clear(&id);
	strcpy(id.given_name, "Max");
	strcpy(id.family_name, "Mustermann");
	strcpy(id.date_of_birth, "1990-05-17");
	strcpy(id.nationality, "D");
	j = claims_identity_to_json(&id);
	assert_non_null(j);
	key_set(j, keys, sizeof(keys));
	assert_string_equal(keys, "dateOfBirth,familyName,givenName,"
				  "nationality");
	assert_int_equal(claims_identity_from_json(j, &back), SA_OK);
	assert_identity_equal(&id, &back);
	assert_null(back.photo);
	claims_identity_clear(&back);
	json_decref(j);

	/* An identity that breaks the rules is not stored. */
	strcpy(id.trust_level, "very high");
	assert_null(claims_identity_to_json(&id));
	assert_null(claims_identity_to_json(NULL));
}

/* refused checks that from_json refuses text and leaves out untouched. */
static void
refused(const char *text)
{
	struct identity out;
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

	if (j == NULL)
		fail_msg("test JSON does not parse: %s: %s", text, err.text);
	memset(&out, 0x5a, sizeof(out));
	if (claims_identity_from_json(j, &out) != SA_ERR_VALIDATION)
		fail_msg("accepted: %s", text);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(((unsigned char *)&out)[i], 0x5a);
	json_decref(j);
}

static void
test_identity_from_json_refuses(void **state)
{
	char big[CLAIMS_PHOTO_MAX + 2];
	char *b64, *text;
	size_t tlen;
	struct identity ok;
	json_t *j;

	refused("[]");
	refused("\"givenName\"");
	refused("null");
	refused("{\"givenName\":\"Max\",\"email\":\"m@example.org\"}");
	refused("{\"givenName\":42}");
	refused("{\"givenName\":null}");
	refused("{\"givenName\":true}");
	refused("{\"givenName\":[\"Max\"]}");
	refused("{\"givenName\":{\"v\":\"Max\"}}");
	refused("{\"givenName\":\"\"}");
	refused("{\"givenName\":\"Ma\\u0000x\"}");
	refused("{\"givenName\":\"Ma\\nx\"}");
	refused("{\"givenName\":\"Ma\\u0085x\"}");
	refused("{\"dateOfBirth\":\"1990-02-30\"}");
	refused("{\"dateOfBirth\":\"1990-5-17\"}");
	refused("{\"dateOfBirth\":\"17.05.1990\"}");
	refused("{\"dateOfBirth\":\"0000-01-01\"}");
	refused("{\"nationality\":\"deu\"}");
	refused("{\"nationality\":\"DEUT\"}");
	refused("{\"nationality\":\"D<<\"}");
	refused("{\"documentNumber\":\"C01\\u00e9\"}");
	refused("{\"documentNumber\":\"01234567890123456789012345678901"
		"234567890123456789012345678901234\"}"); /* 65 */
	refused("{\"trustLevel\":\"high level\"}");
	refused("{\"trustLevel\":\"abcdefghijklmnop\"}"); /* 16 */
	refused("{\"photo\":\"not base64!\"}");
	refused("{\"photo\":\"UklGRh\"}"); /* spare bits not zero */
	refused("{\"photo\":42}");

	/* The 128-byte name fits; 129 bytes do not. */
	memset(big, 'n', CLAIMS_NAME_MAX + 1);
	big[CLAIMS_NAME_MAX] = '\0';
	j = json_pack("{s:s}", "givenName", big);
	assert_int_equal(claims_identity_from_json(j, &ok), SA_OK);
	assert_int_equal(strlen(ok.given_name), CLAIMS_NAME_MAX);
	claims_identity_clear(&ok);
	json_decref(j);
	big[CLAIMS_NAME_MAX] = 'n';
	big[CLAIMS_NAME_MAX + 1] = '\0';
	tlen = strlen(big) + 32;
	text = malloc(tlen);
	snprintf(text, tlen, "{\"givenName\":\"%s\"}", big);
	refused(text);
	free(text);

	/* A photo of CLAIMS_PHOTO_MAX bytes fits; one more byte does not. */
	memset(big, 0xab, sizeof(big));
	b64 = b64_encode((const unsigned char *)big, CLAIMS_PHOTO_MAX);
	j = json_pack("{s:s}", "photo", b64);
	assert_int_equal(claims_identity_from_json(j, &ok), SA_OK);
	assert_int_equal(ok.photo_len, CLAIMS_PHOTO_MAX);
	claims_identity_clear(&ok);
	json_decref(j);
	free(b64);
	b64 = b64_encode((const unsigned char *)big, CLAIMS_PHOTO_MAX + 1);
	tlen = strlen(b64) + 32;
	text = malloc(tlen);
	snprintf(text, tlen, "{\"photo\":\"%s\"}", b64);
	refused(text);
	free(text);
	free(b64);
}

static void
test_identity_from_vds(void **state)
{
	struct vds_claims c;
	struct identity id;
	static const unsigned char face[] = {1, 2, 3};

	memset(&c, 0, sizeof(c));
	strcpy(c.given_name, "Erika");
	strcpy(c.family_name, "Musterfrau");
	strcpy(c.birth_date, "1964-08-12");
	strcpy(c.nationality, "DEU");
	strcpy(c.document, "T22000129");
	strcpy(c.token_id, "DE-1234567");
	strcpy(c.expiry, "2031-08-01");
	c.photo = photo_bytes;
	c.photo_len = sizeof(photo_bytes);
	c.face = face;
	c.face_len = sizeof(face);

	assert_int_equal(claims_identity_from_vds(&c, "substantial", &id),
			 SA_OK);
	assert_string_equal(id.given_name, "Erika");
	assert_string_equal(id.family_name, "Musterfrau");
	assert_string_equal(id.date_of_birth, "1964-08-12");
	assert_string_equal(id.nationality, "DEU");
	assert_string_equal(id.document_number, "T22000129");
	assert_string_equal(id.trust_level, "substantial");
	assert_int_equal(id.photo_len, sizeof(photo_bytes));
	assert_ptr_not_equal(id.photo, photo_bytes); /* a copy */
	assert_memory_equal(id.photo, photo_bytes, sizeof(photo_bytes));
	claims_identity_clear(&id);
	assert_null(id.photo);
	assert_int_equal(id.photo_len, 0);
	assert_string_equal(id.given_name, "");
	assert_string_equal(id.trust_level, "");

	/* No trust level, no photo, no nationality or document. */
	c.photo = NULL;
	c.photo_len = 0;
	c.nationality[0] = '\0';
	c.document[0] = '\0';
	assert_int_equal(claims_identity_from_vds(&c, NULL, &id), SA_OK);
	assert_string_equal(id.trust_level, "");
	assert_null(id.photo);
	assert_string_equal(id.nationality, "");
	claims_identity_clear(&id);

	/* Fields that break the rules leave *out untouched. */
	memset(&id, 0x5a, sizeof(id));
	assert_int_equal(claims_identity_from_vds(&c, "bad level", &id),
			 SA_ERR_VALIDATION);
	assert_int_equal(claims_identity_from_vds(&c, "abcdefghijklmnop", &id),
			 SA_ERR_VALIDATION);
	strcpy(c.birth_date, "1964-13-01");
	assert_int_equal(claims_identity_from_vds(&c, "high", &id),
			 SA_ERR_VALIDATION);
	strcpy(c.birth_date, "1964-08-12");
	strcpy(c.given_name, "Er\xffka");
	assert_int_equal(claims_identity_from_vds(&c, "high", &id),
			 SA_ERR_VALIDATION);
	strcpy(c.given_name, "Erika");
	c.photo = photo_bytes;
	c.photo_len = CLAIMS_PHOTO_MAX + 1;
	assert_int_equal(claims_identity_from_vds(&c, "high", &id),
			 SA_ERR_VALIDATION);
	assert_int_equal(claims_identity_from_vds(NULL, "high", &id),
			 SA_ERR_VALIDATION);
	for (size_t i = 0; i < sizeof(id); i++)
		assert_int_equal(((unsigned char *)&id)[i], 0x5a);
}

/* From a real seal: encode, decode, copy out, issue claims. */
static void
test_identity_from_decoded_seal(void **state)
{
	struct vds_claims c;
	struct identity id;
	struct vds *v = NULL;
	unsigned char *seal = NULL;
	size_t seallen = 0;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	json_t *o = json_object();
	const char *scopes[] = {
	    "identity:full_with_photo", "identity:age_verification",
	    "identity:is_eu_citizen", "identity:name_initial"};
	char keys[512];

	assert_non_null(key);
	memset(&c, 0, sizeof(c));
	strcpy(c.given_name, "\xc5\x81ukasz");
	strcpy(c.family_name, "Nowak");
	strcpy(c.birth_date, "2008-02-29");
	strcpy(c.nationality, "POL");
	strcpy(c.document, "AB1234567");
	strcpy(c.token_id, "PL-0001");
	c.photo = photo_bytes;
	c.photo_len = sizeof(photo_bytes);
	assert_int_equal(vds_encode_iso("TEST", "0001", VDS_PROFILE_MANIFEST,
					1700000000, &c, key, &seal, &seallen),
			 SA_OK);
	assert_int_equal(vds_decode(seal, seallen, &v, NULL, 0), SA_OK);
	assert_non_null(vds_claims(v));
	assert_int_equal(claims_identity_from_vds(vds_claims(v), "high", &id),
			 SA_OK);
	vds_free(v); /* the identity owns its own copy */
	free(seal);
	assert_int_equal(
	    claims_add(&id, scopes, ARRAY_LEN(scopes), noon("2026-02-28"), o),
	    SA_OK);
	key_set(o, keys, sizeof(keys));
	assert_string_equal(keys, "ageOver18,dateOfBirth,documentNumber,"
				  "familyName,givenName,isEuCitizen,"
				  "nameInitial,nationality,photoBase64,"
				  "trustLevel");
	assert_true(json_is_false(json_object_get(o, "ageOver18")));
	assert_true(json_is_true(json_object_get(o, "isEuCitizen")));
	assert_string_equal(
	    json_string_value(json_object_get(o, "nameInitial")),
	    "\xc5\x81. N.");
	assert_string_equal(
	    json_string_value(json_object_get(o, "photoBase64")), PHOTO_B64);
	json_decref(o);
	claims_identity_clear(&id);
	EVP_PKEY_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_scope_gives_exactly_its_claims),
	    cmocka_unit_test(test_all_scopes_list_matches_the_table),
	    cmocka_unit_test(test_claim_values),
	    cmocka_unit_test(test_missing_source_is_left_out),
	    cmocka_unit_test(test_unknown_scope_refused_with_its_index),
	    cmocka_unit_test(test_add_keeps_other_keys_and_checks_input),
	    cmocka_unit_test(test_age_birthday_boundaries),
	    cmocka_unit_test(test_age_leap_day_birthdays),
	    cmocka_unit_test(test_age_future_birth_date),
	    cmocka_unit_test(test_age_range_buckets),
	    cmocka_unit_test(test_eu_citizen),
	    cmocka_unit_test(test_name_initial),
	    cmocka_unit_test(test_photo_base64),
	    cmocka_unit_test(test_identity_json_round_trip),
	    cmocka_unit_test(test_identity_from_json_refuses),
	    cmocka_unit_test(test_write_is_the_same_text_as_add),
	    cmocka_unit_test(test_identity_from_vds),
	    cmocka_unit_test(test_identity_from_decoded_seal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
