/*
 * claims.c - scope-filtered identity claims (SPEC §5); rules in
 * docs/claims.md.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/json_out.h"
#include "login/claims.h"
#include "core/util.h"

/* One bit per claim a token can carry. */
enum {
	CL_GIVEN_NAME = 1u << 0,
	CL_FAMILY_NAME = 1u << 1,
	CL_DATE_OF_BIRTH = 1u << 2,
	CL_NATIONALITY = 1u << 3,
	CL_DOCUMENT = 1u << 4,
	CL_PHOTO = 1u << 5,
	CL_TRUST_LEVEL = 1u << 6,
	CL_AGE_OVER_18 = 1u << 7,
	CL_AGE_OVER_21 = 1u << 8,
	CL_AGE_OVER_25 = 1u << 9,
	CL_AGE_RANGE = 1u << 10,
	CL_IS_EU_CITIZEN = 1u << 11,
	CL_NAME_INITIAL = 1u << 12,
};

#define CL_NAME (CL_GIVEN_NAME | CL_FAMILY_NAME)
#define CL_BASIC (CL_NAME | CL_TRUST_LEVEL)
#define CL_FULL                                                                \
	(CL_NAME | CL_DATE_OF_BIRTH | CL_NATIONALITY | CL_DOCUMENT |           \
	 CL_TRUST_LEVEL)

/* The scope table of SPEC §5; composites are the union of their parts. */
static const struct {
	const char *scope;
	unsigned int claims;
} scope_table[] = {
    {"identity:name", CL_NAME},
    {"identity:given_name", CL_GIVEN_NAME},
    {"identity:family_name", CL_FAMILY_NAME},
    {"identity:date_of_birth", CL_DATE_OF_BIRTH},
    {"identity:nationality", CL_NATIONALITY},
    {"identity:document", CL_DOCUMENT},
    {"identity:photo", CL_PHOTO},
    {"identity:trust_level", CL_TRUST_LEVEL},
    {"identity:age_over_18", CL_AGE_OVER_18},
    {"identity:age_over_21", CL_AGE_OVER_21},
    {"identity:age_over_25", CL_AGE_OVER_25},
    {"identity:age_range", CL_AGE_RANGE},
    {"identity:is_eu_citizen", CL_IS_EU_CITIZEN},
    {"identity:name_initial", CL_NAME_INITIAL},
    {"identity:basic", CL_BASIC},
    {"identity:age_verification", CL_AGE_OVER_18 | CL_NAME},
    {"identity:full", CL_FULL},
    {"identity:full_with_photo", CL_FULL | CL_PHOTO},
};

const char *const claims_all_scopes[] = {
    "identity:name",
    "identity:given_name",
    "identity:family_name",
    "identity:date_of_birth",
    "identity:nationality",
    "identity:document",
    "identity:photo",
    "identity:trust_level",
    "identity:age_over_18",
    "identity:age_over_21",
    "identity:age_over_25",
    "identity:age_range",
    "identity:is_eu_citizen",
    "identity:name_initial",
    "identity:basic",
    "identity:age_verification",
    "identity:full",
    "identity:full_with_photo",
    NULL,
};

/*
 * The EU-27 member states as ICAO Doc 9303 nationality codes: ISO 3166-1
 * alpha-3, except Germany, which ICAO writes "D" (and which some issuers
 * write "DEU", so both count).
 */
static const char *const eu_codes[] = {
    "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA",
    "DEU", "D",	  "GRC", "HUN", "IRL", "ITA", "LVA", "LTU", "LUX", "MLT",
    "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE",
};

/* Keys of the stored identity (claims_identity_to_json). */
#define K_GIVEN "givenName"
#define K_FAMILY "familyName"
#define K_DOB "dateOfBirth"
#define K_NAT "nationality"
#define K_DOC "documentNumber"
#define K_TRUST "trustLevel"
#define K_PHOTO "photo"

/* Longest base64 text of a CLAIMS_PHOTO_MAX-byte photo. */
#define PHOTO_B64_MAX (((CLAIMS_PHOTO_MAX + 2) / 3) * 4)

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * parse_date reads exactly "YYYY-MM-DD" naming a real day (years 0001 to
 * 9999) into *y, *m, *d; 0 when s is anything else.
 */
static int
parse_date(const char *s, int *y, int *m, int *d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	int yy, mm, dd;

	if (strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (size_t i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	yy = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	     (s[3] - '0');
	mm = (s[5] - '0') * 10 + (s[6] - '0');
	dd = (s[8] - '0') * 10 + (s[9] - '0');
	if (yy < 1 || mm < 1 || mm > 12 || dd < 1 ||
	    dd > mdays[mm - 1] + (mm == 2 && is_leap(yy)))
		return 0;
	*y = yy;
	*m = mm;
	*d = dd;
	return 1;
}

/* chars_ok tells whether s[0..n) is all in [lo, hi]. */
static int
chars_ok(const char *s, size_t n, char lo, char hi)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < lo || s[i] > hi)
			return 0;
	return 1;
}

static int
trust_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
	       c == '-';
}

/*
 * The field rules of struct identity, one function per field. Each takes
 * the text and its length (which excludes the NUL) and accepts the empty
 * string, which means absent.
 */
static int
name_ok(const char *s, size_t n)
{
	return n <= CLAIMS_NAME_MAX &&
	       utf8_valid(s, n, UTF8_NO_C0 | UTF8_NO_C1);
}

static int
dob_ok(const char *s, size_t n)
{
	int y, m, d;
	return n == 0 || parse_date(s, &y, &m, &d);
}

static int
nat_ok(const char *s, size_t n)
{
	return n <= 3 && chars_ok(s, n, 'A', 'Z');
}

static int
doc_ok(const char *s, size_t n)
{
	return n <= CLAIMS_DOC_MAX && chars_ok(s, n, 0x20, 0x7e);
}

static int
trust_ok(const char *s, size_t n)
{
	if (n > CLAIMS_TRUST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!trust_char_ok(s[i]))
			return 0;
	return 1;
}

/*
 * identity_ok checks every field of id against the rules in claims.h. The
 * fixed arrays must hold their NUL, so a struct filled by hand cannot make
 * us read past a field.
 */
static int
identity_ok(const struct identity *id)
{
	size_t gn = strnlen(id->given_name, sizeof(id->given_name));
	size_t fn = strnlen(id->family_name, sizeof(id->family_name));
	size_t dob = strnlen(id->date_of_birth, sizeof(id->date_of_birth));
	size_t nat = strnlen(id->nationality, sizeof(id->nationality));
	size_t doc = strnlen(id->document_number, sizeof(id->document_number));
	size_t tl = strnlen(id->trust_level, sizeof(id->trust_level));

	if (gn == sizeof(id->given_name) || fn == sizeof(id->family_name) ||
	    dob == sizeof(id->date_of_birth) ||
	    nat == sizeof(id->nationality) ||
	    doc == sizeof(id->document_number) || tl == sizeof(id->trust_level))
		return 0;
	if (!name_ok(id->given_name, gn) || !name_ok(id->family_name, fn) ||
	    !dob_ok(id->date_of_birth, dob) || !nat_ok(id->nationality, nat) ||
	    !doc_ok(id->document_number, doc) || !trust_ok(id->trust_level, tl))
		return 0;
	if ((id->photo == NULL) != (id->photo_len == 0) ||
	    id->photo_len > CLAIMS_PHOTO_MAX)
		return 0;
	return 1;
}

void
claims_identity_clear(struct identity *id)
{
	if (id == NULL)
		return;
	if (id->photo != NULL) {
		OPENSSL_cleanse(id->photo, id->photo_len);
		free(id->photo);
	}
	OPENSSL_cleanse(id, sizeof(*id));
	id->photo = NULL;
	id->photo_len = 0;
}

/* set_string adds key = s to obj when s is not empty; 0 on no memory. */
static int
set_string(json_t *obj, const char *key, const char *s)
{
	if (s[0] == '\0')
		return 1;
	return json_object_set_new(obj, key, json_string(s)) == 0;
}

/* set_base64 adds key = base64(p) to obj when p is not NULL. */
static int
set_base64(json_t *obj, const char *key, const unsigned char *p, size_t n)
{
	char *b64;
	int ok;

	if (p == NULL)
		return 1;
	if ((b64 = b64_encode(p, n)) == NULL)
		return 0;
	ok = json_object_set_new(obj, key, json_string(b64)) == 0;
	free(b64);
	return ok;
}

json_t *
claims_identity_to_json(const struct identity *id)
{
	json_t *o = NULL;

	if (id == NULL || !identity_ok(id) || (o = json_object()) == NULL)
		return NULL;
	if (!set_string(o, K_GIVEN, id->given_name) ||
	    !set_string(o, K_FAMILY, id->family_name) ||
	    !set_string(o, K_DOB, id->date_of_birth) ||
	    !set_string(o, K_NAT, id->nationality) ||
	    !set_string(o, K_DOC, id->document_number) ||
	    !set_string(o, K_TRUST, id->trust_level) ||
	    !set_base64(o, K_PHOTO, id->photo, id->photo_len)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The string fields of the stored form: key, slot and rule. */
struct field {
	const char *key;
	size_t off;
	size_t cap;
	int (*ok)(const char *, size_t);
};
static const struct field fields[] = {
    {K_GIVEN, offsetof(struct identity, given_name),
     sizeof(((struct identity *)0)->given_name), name_ok},
    {K_FAMILY, offsetof(struct identity, family_name),
     sizeof(((struct identity *)0)->family_name), name_ok},
    {K_DOB, offsetof(struct identity, date_of_birth),
     sizeof(((struct identity *)0)->date_of_birth), dob_ok},
    {K_NAT, offsetof(struct identity, nationality),
     sizeof(((struct identity *)0)->nationality), nat_ok},
    {K_DOC, offsetof(struct identity, document_number),
     sizeof(((struct identity *)0)->document_number), doc_ok},
    {K_TRUST, offsetof(struct identity, trust_level),
     sizeof(((struct identity *)0)->trust_level), trust_ok},
};

/*
 * string_value returns the text of a JSON string and its length in *n, or
 * NULL when v is not a string or holds a NUL byte (which would cut it short
 * in a C string).
 */
static const char *
string_value(const json_t *v, size_t *n)
{
	const char *s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	*n = json_string_length(v);
	if (strlen(s) != *n)
		return NULL;
	return s;
}

enum sa_err
claims_identity_from_json(const json_t *j, struct identity *out)
{
	struct identity id;
	const char *key;
	json_t *v;
	enum sa_err rc = SA_ERR_VALIDATION;

	memset(&id, 0, sizeof(id));
	if (!json_is_object(j) || out == NULL)
		goto out;
	/* json_object_foreach wants a non-const object; we only read it. */
	json_object_foreach((json_t *)j, key, v)
	{
		const struct field *f = NULL;
		const char *s;
		size_t n = 0;

		if ((s = string_value(v, &n)) == NULL || n == 0)
			goto out; /* absent fields are left out, never "" */
		if (strcmp(key, K_PHOTO) == 0) {
			if (id.photo != NULL)
				goto out;
			rc = b64_decode(s, n, PHOTO_B64_MAX, &id.photo,
					&id.photo_len);
			if (rc != SA_OK) {
				if (rc != SA_ERR_NOMEM)
					rc = SA_ERR_VALIDATION;
				goto out;
			}
			rc = SA_ERR_VALIDATION;
			if (id.photo_len == 0 ||
			    id.photo_len > CLAIMS_PHOTO_MAX)
				goto out;
			continue;
		}
		for (size_t i = 0; i < ARRAY_LEN(fields); i++)
			if (strcmp(key, fields[i].key) == 0)
				f = &fields[i];
		/* Unknown keys are refused: the stored form is ours alone. */
		if (f == NULL || n >= f->cap || !f->ok(s, n))
			goto out;
		memcpy((char *)&id + f->off, s, n + 1);
	}
	*out = id;
	memset(&id, 0, sizeof(id));
	rc = SA_OK;
out:
	claims_identity_clear(&id);
	return rc;
}

enum sa_err
claims_identity_from_vds(const struct vds_claims *c, const char *trust_level,
			 struct identity *out)
{
	struct identity id;
	enum sa_err rc = SA_ERR_VALIDATION;
	struct {
		char *dst;
		size_t cap;
		const char *src;
		size_t srccap;
	} copy[] = {
	    {id.given_name, sizeof(id.given_name), c ? c->given_name : NULL,
	     c ? sizeof(c->given_name) : 0},
	    {id.family_name, sizeof(id.family_name), c ? c->family_name : NULL,
	     c ? sizeof(c->family_name) : 0},
	    {id.date_of_birth, sizeof(id.date_of_birth),
	     c ? c->birth_date : NULL, c ? sizeof(c->birth_date) : 0},
	    {id.nationality, sizeof(id.nationality), c ? c->nationality : NULL,
	     c ? sizeof(c->nationality) : 0},
	    {id.document_number, sizeof(id.document_number),
	     c ? c->document : NULL, c ? sizeof(c->document) : 0},
	    {id.trust_level, sizeof(id.trust_level),
	     trust_level ? trust_level : "", CLAIMS_TRUST_MAX + 2},
	};

	memset(&id, 0, sizeof(id));
	if (c == NULL || out == NULL)
		goto out;
	for (size_t i = 0; i < ARRAY_LEN(copy); i++) {
		size_t n = strnlen(copy[i].src, copy[i].srccap);
		if (n >= copy[i].cap)
			goto out;
		memcpy(copy[i].dst, copy[i].src, n);
		copy[i].dst[n] = '\0';
	}
	if (c->photo != NULL && c->photo_len > 0) {
		if (c->photo_len > CLAIMS_PHOTO_MAX)
			goto out;
		if ((id.photo = malloc(c->photo_len)) == NULL) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		memcpy(id.photo, c->photo, c->photo_len);
		id.photo_len = c->photo_len;
	}
	if (!identity_ok(&id))
		goto out;
	*out = id;
	memset(&id, 0, sizeof(id));
	rc = SA_OK;
out:
	claims_identity_clear(&id);
	return rc;
}

/* scope_claims returns the claim bits of a known scope, 0 otherwise. */
static unsigned int
scope_claims(const char *scope)
{
	if (scope == NULL ||
	    strnlen(scope, CLAIMS_SCOPE_MAX + 1) > CLAIMS_SCOPE_MAX)
		return 0;
	for (size_t i = 0; i < ARRAY_LEN(scope_table); i++)
		if (strcmp(scope, scope_table[i].scope) == 0)
			return scope_table[i].claims;
	return 0;
}

enum sa_err
claims_scopes_known(const char *const *scopes, size_t n, size_t *bad)
{
	for (size_t i = 0; i < n; i++) {
		if (i >= CLAIMS_SCOPES_MAX || scopes == NULL ||
		    scope_claims(scopes[i]) == 0) {
			if (bad != NULL)
				*bad = i;
			return SA_ERR_SCOPE;
		}
	}
	return SA_OK;
}

/*
 * age_at computes the age in whole years on the UTC date of now of a person
 * born on dob: the years since the birth year, less one if this year's
 * (month, day) has not yet reached the birth (month, day). So a person born
 * on 29 February gains a year on 1 March in common years. 0 when dob is
 * absent or after that date, in which case no age claim is issued.
 */
static int
age_at(const char *dob, int64_t now, int64_t *age)
{
	int by, bm, bd, tm, td;
	int64_t ty, a, day;

	if (!parse_date(dob, &by, &bm, &bd))
		return 0;
	/* Floor division, so instants before 1970 land on the right day. */
	day = now / 86400 - (now % 86400 < 0);
	civil_from_days(day, &ty, &tm, &td);
	a = ty - by;
	if (tm < bm || (tm == bm && td < bd))
		a--;
	if (a < 0)
		return 0;
	*age = a;
	return 1;
}

/* age_range names the bucket of an age (docs/claims.md). */
static const char *
age_range(int64_t age)
{
	if (age < 18)
		return "under-18";
	if (age <= 20)
		return "18-20";
	if (age <= 24)
		return "21-24";
	if (age <= 34)
		return "25-34";
	if (age <= 44)
		return "35-44";
	if (age <= 54)
		return "45-54";
	if (age <= 64)
		return "55-64";
	return "65+";
}

/*
 * eu_citizen tells (in *is) whether an ICAO nationality code belongs to an
 * EU member state. 0 when nothing can be said: the code is absent, or it is
 * "XXX", which ICAO uses for an unspecified nationality.
 */
static int
eu_citizen(const char *nat, int *is)
{
	if (nat[0] == '\0' || strcmp(nat, "XXX") == 0)
		return 0;
	*is = 0;
	for (size_t i = 0; i < ARRAY_LEN(eu_codes); i++)
		if (strcmp(nat, eu_codes[i]) == 0)
			*is = 1;
	return 1;
}

/* is_combining tells whether cp is a combining mark (it joins the letter
 * before it, as in a decomposed "U" + U+0308). */
static int
is_combining(unsigned int cp)
{
	return (cp >= 0x0300 && cp <= 0x036f) ||
	       (cp >= 0x1ab0 && cp <= 0x1aff) ||
	       (cp >= 0x1dc0 && cp <= 0x1dff) ||
	       (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0xfe20 && cp <= 0xfe2f);
}

/*
 * initial_len returns in *start and the result the byte span of the first
 * letter of name: the first code point after any leading spaces together
 * with the combining marks that follow it. 0 when the name is empty or
 * all spaces.
 */
static size_t
initial_len(const char *name, size_t *start)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t n = strlen(name), i = 0, j;
	uint32_t cp = 0;

	while (i < n && s[i] == ' ')
		i++;
	if (i == n)
		return 0;
	*start = i;
	j = i + utf8_next(s + i, n - i, &cp);
	while (j < n) {
		size_t k = utf8_next(s + j, n - j, &cp);
		if (k == 0 || !is_combining(cp))
			break;
		j += k;
	}
	return j - i;
}

/*
 * name_initials writes "G. F." (given, family) into out, or "G." / "F."
 * when only one name is present; 0 when neither is. out must hold
 * 2 * (CLAIMS_NAME_MAX + 2) bytes.
 */
static int
name_initials(const struct identity *id, char *out)
{
	size_t o = 0, start = 0, n;

	if ((n = initial_len(id->given_name, &start)) > 0) {
		memcpy(out + o, id->given_name + start, n);
		o += n;
		out[o++] = '.';
	}
	if ((n = initial_len(id->family_name, &start)) > 0) {
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, id->family_name + start, n);
		o += n;
		out[o++] = '.';
	}
	out[o] = '\0';
	return o > 0;
}

/*
 * Where build_claims puts each claim: into a jansson object (obj) or
 * straight onto a text being written (text); exactly one is set.
 */
struct claims_sink {
	json_t *obj;
	struct json_obj *text;
};

/* sink_string puts key = s when s is not empty; 0 on no memory. */
static int
sink_string(const struct claims_sink *k, const char *key, const char *s)
{
	if (k->obj != NULL)
		return set_string(k->obj, key, s);
	if (s[0] != '\0')
		json_obj_str(k->text, key, s);
	return 1;
}

static int
sink_bool(const struct claims_sink *k, const char *key, int v)
{
	if (k->obj != NULL)
		return json_object_set_new(k->obj, key, json_boolean(v)) == 0;
	json_obj_bool(k->text, key, v);
	return 1;
}

/* sink_base64 puts key = base64(p) when p is not NULL. */
static int
sink_base64(const struct claims_sink *k, const char *key,
	    const unsigned char *p, size_t n)
{
	char *b64;

	if (k->obj != NULL)
		return set_base64(k->obj, key, p, n);
	if (p == NULL)
		return 1;
	if ((b64 = b64_encode(p, n)) == NULL)
		return 0;
	json_obj_str(k->text, key, b64);
	free(b64);
	return 1;
}

/*
 * build_claims puts every claim in want that id can supply. It returns
 * SA_ERR_NOMEM when a value cannot be allocated.
 */
static enum sa_err
build_claims(const struct identity *id, unsigned int want, int64_t now,
	     const struct claims_sink *k)
{
	static const struct {
		unsigned int bit;
		const char *key;
		size_t off;
	} text[] = {
	    {CL_GIVEN_NAME, "givenName", offsetof(struct identity, given_name)},
	    {CL_FAMILY_NAME, "familyName",
	     offsetof(struct identity, family_name)},
	    {CL_DATE_OF_BIRTH, "dateOfBirth",
	     offsetof(struct identity, date_of_birth)},
	    {CL_NATIONALITY, "nationality",
	     offsetof(struct identity, nationality)},
	    {CL_DOCUMENT, "documentNumber",
	     offsetof(struct identity, document_number)},
	    {CL_TRUST_LEVEL, "trustLevel",
	     offsetof(struct identity, trust_level)},
	};
	static const struct {
		unsigned int bit;
		const char *key;
		int64_t years;
	} over[] = {
	    {CL_AGE_OVER_18, "ageOver18", 18},
	    {CL_AGE_OVER_21, "ageOver21", 21},
	    {CL_AGE_OVER_25, "ageOver25", 25},
	};
	char initials[2 * (CLAIMS_NAME_MAX + 2)];
	int64_t age = 0;
	int have_age, eu = 0;

	for (size_t i = 0; i < ARRAY_LEN(text); i++)
		if ((want & text[i].bit) &&
		    !sink_string(k, text[i].key,
				 (const char *)id + text[i].off))
			return SA_ERR_NOMEM;
	if ((want & CL_PHOTO) &&
	    !sink_base64(k, "photoBase64", id->photo, id->photo_len))
		return SA_ERR_NOMEM;
	have_age = age_at(id->date_of_birth, now, &age);
	for (size_t i = 0; i < ARRAY_LEN(over); i++)
		if ((want & over[i].bit) && have_age &&
		    !sink_bool(k, over[i].key, age >= over[i].years))
			return SA_ERR_NOMEM;
	if ((want & CL_AGE_RANGE) && have_age &&
	    !sink_string(k, "ageRange", age_range(age)))
		return SA_ERR_NOMEM;
	if ((want & CL_IS_EU_CITIZEN) && eu_citizen(id->nationality, &eu) &&
	    !sink_bool(k, "isEuCitizen", eu))
		return SA_ERR_NOMEM;
	if ((want & CL_NAME_INITIAL) && name_initials(id, initials) &&
	    !sink_string(k, "nameInitial", initials))
		return SA_ERR_NOMEM;
	return SA_OK;
}

/* claims_wanted checks the scopes and the identity and gathers in *want
 * the claims the scopes allow. */
static enum sa_err
claims_wanted(const struct identity *id, const char *const *scopes, size_t n,
	      unsigned int *want)
{
	enum sa_err rc;

	if ((rc = claims_scopes_known(scopes, n, NULL)) != SA_OK)
		return rc;
	if (id == NULL || !identity_ok(id))
		return SA_ERR_VALIDATION;
	*want = 0;
	for (size_t i = 0; i < n; i++)
		*want |= scope_claims(scopes[i]);
	return SA_OK;
}

enum sa_err
claims_add(const struct identity *id, const char *const *scopes, size_t n,
	   int64_t now, json_t *out)
{
	struct claims_sink k = {NULL, NULL};
	unsigned int want = 0;
	enum sa_err rc;

	if ((rc = claims_wanted(id, scopes, n, &want)) != SA_OK)
		return rc;
	if (!json_is_object(out))
		return SA_ERR_VALIDATION;
	/* Build aside, so that out is changed only when everything fits. */
	if ((k.obj = json_object()) == NULL)
		return SA_ERR_NOMEM;
	if ((rc = build_claims(id, want, now, &k)) != SA_OK)
		goto out;
	if (json_object_update(out, k.obj) != 0) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	rc = SA_OK;
out:
	json_decref(k.obj);
	return rc;
}

enum sa_err
claims_write(const struct identity *id, const char *const *scopes, size_t n,
	     int64_t now, struct json_obj *out)
{
	struct claims_sink k = {NULL, out};
	unsigned int want = 0;
	enum sa_err rc;

	if (out == NULL)
		return SA_ERR_VALIDATION;
	if ((rc = claims_wanted(id, scopes, n, &want)) != SA_OK)
		return rc;
	return build_claims(id, want, now, &k);
}
