/*
 * test_form.c - the shared application/x-www-form-urlencoded parser: decoding,
 * the raw values kept for signatures, duplicate names, every bound, and
 * hostile input (broken and NUL escapes, bytes past the given length, bad
 * UTF-8, floods of fields).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/form.h"

static const struct form_limits lim = {
    .text_max = 4096,
    .fields_max = 8,
    .name_max = 16,
    .value_max = 64,
};

/* parse_n parses n bytes of text into a fresh form and checks the code. */
static void
parse_n(struct form *f, const char *text, size_t n, enum sa_err want)
{
	char why[256] = "";

	form_free(f);
	assert_int_equal(form_parse(f, text, n, &lim, why, sizeof(why)), want);
	if (want != SA_OK)
		assert_true(why[0] != '\0'); /* a refusal always says why */
}

static void
parse(struct form *f, const char *text, enum sa_err want)
{
	parse_n(f, text, strlen(text), want);
}

static void
test_decoding(void **state)
{
	struct form f = {0};

	(void)state;
	parse(&f, "a=1+2&b=%41%2fc%2F&&c=&d&e==x", SA_OK);
	assert_int_equal(f.n, 5);
	assert_string_equal(form_get(&f, "a"), "1 2");
	assert_string_equal(form_get(&f, "b"), "A/c/");
	assert_string_equal(form_get(&f, "c"), "");
	assert_string_equal(form_get(&f, "d"), "");
	assert_string_equal(form_get(&f, "e"), "=x");
	assert_null(form_get(&f, "missing"));
	/* Fields stay in the order they came. */
	assert_string_equal(f.field[0].name, "a");
	assert_string_equal(f.field[4].name, "e");
	/* Escaped names are decoded like values. */
	parse(&f, "%61%2Bb+c=1", SA_OK);
	assert_string_equal(form_get(&f, "a+b c"), "1");
	/* Nothing but separators is an empty form. */
	parse(&f, "&&&&", SA_OK);
	assert_int_equal(f.n, 0);
	parse(&f, "", SA_OK);
	assert_int_equal(f.n, 0);
	form_free(&f);
}

static void
test_raw_values(void **state)
{
	const char *q = "SAMLRequest=a%2Bb%3D&RelayState=x+y&SigAlg=u%3Av&k";
	const struct form_field *fl;
	struct form f = {0};

	(void)state;
	parse(&f, q, SA_OK);
	/* The raw value is the text as sent, pointing into it. */
	fl = form_find(&f, "SAMLRequest");
	assert_non_null(fl);
	assert_string_equal(fl->value, "a+b=");
	assert_int_equal(fl->raw_len, 8);
	assert_memory_equal(fl->raw, "a%2Bb%3D", 8);
	assert_ptr_equal(fl->raw, q + 12);
	fl = form_find(&f, "RelayState");
	assert_int_equal(fl->raw_len, 3);
	assert_memory_equal(fl->raw, "x+y", 3);
	assert_string_equal(fl->value, "x y");
	fl = form_find(&f, "SigAlg");
	assert_memory_equal(fl->raw, "u%3Av", 5);
	/* A pair without '=' has an empty raw value at the pair's end. */
	fl = form_find(&f, "k");
	assert_int_equal(fl->raw_len, 0);
	assert_ptr_equal(fl->raw, q + strlen(q));
	/* A field added by hand has no raw value. */
	assert_int_equal(form_add(&f, "n", "v", &lim, NULL, 0), SA_OK);
	assert_null(form_find(&f, "n")->raw);
	assert_string_equal(form_get(&f, "n"), "v");
	assert_int_equal(form_add(&f, "m", NULL, &lim, NULL, 0), SA_OK);
	assert_string_equal(form_get(&f, "m"), "");
	form_free(&f);
	assert_int_equal(f.n, 0);
	assert_null(form_find(&f, "n"));
}

static void
test_duplicates(void **state)
{
	struct form f = {0};
	char why[256] = "";

	(void)state;
	parse(&f, "code=a&code=b", SA_ERR_VALIDATION);
	/* What came before the bad field is kept, the rest is not. */
	assert_int_equal(f.n, 1);
	assert_string_equal(form_get(&f, "code"), "a");
	/* The same name spelled two ways is the same name. */
	parse(&f, "ab=1&%61b=2", SA_ERR_VALIDATION);
	parse(&f, "a+b=1&a%20b=2", SA_ERR_VALIDATION);
	/* Empty values count too: "a&a" names a twice. */
	parse(&f, "a&a", SA_ERR_VALIDATION);
	/* The reason names the field. */
	form_free(&f);
	assert_int_equal(
	    form_parse(&f, "x=1&y=2&x=3", 11, &lim, why, sizeof(why)),
	    SA_ERR_VALIDATION);
	assert_non_null(strstr(why, "x: given more than once"));
	assert_int_equal(form_add(&f, "y", "again", &lim, NULL, 0),
			 SA_ERR_VALIDATION);
	form_free(&f);
}

/* Texts refused as a whole, each with the reason it must be. */
static const char *const refused[] = {
    /* Broken escapes, in names and values, at the end and inside. */
    "a=%", "a=%4", "a=%zz", "a=%g1", "a=%1g", "a=%%41", "%=1", "a%4=1",
    /* A NUL byte escaped would cut the C string short. */
    "a=%00", "%00=1",
    /* Not UTF-8: a stray byte, an overlong '/', a surrogate, cut short. */
    "a=%ff%fe", "a=%c0%af", "a=%ed%a0%80", "a=%e2%82", "%ff=1",
    /* An empty name is no name. */
    "=x", "=",
    /* The bad field comes after good ones: it is still refused. */
    "a=1&b=2&c=%zz", "a=1&%ff=2"};

static void
test_hostile_input(void **state)
{
	static const char with_nul[] = "a=1\0b=2";
	struct form f = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char why[256] = "";

		form_free(&f);
		if (form_parse(&f, refused[i], strlen(refused[i]), &lim, why,
			       sizeof(why)) != SA_ERR_VALIDATION ||
		    why[0] == '\0')
			fail_msg("accepted or no reason: %s", refused[i]);
	}
	/* A NUL byte sent as such is refused too. */
	parse_n(&f, with_nul, sizeof(with_nul) - 1, SA_ERR_VALIDATION);
	assert_int_equal(f.n, 0);
	/* Bytes past n are never read: an escape cut by n is broken, and
	 * what follows n does not exist. */
	parse_n(&f, "a=%41", 4, SA_ERR_VALIDATION);
	parse_n(&f, "a=%41&b=2", 5, SA_OK);
	assert_int_equal(f.n, 1);
	assert_string_equal(form_get(&f, "a"), "A");
	parse_n(&f, "a=1&b=2", 3, SA_OK);
	assert_int_equal(f.n, 1);
	assert_null(form_get(&f, "b"));
	/* An escape that decodes to a separator is data, not a separator. */
	parse(&f, "a=1%262%3D3", SA_OK);
	assert_int_equal(f.n, 1);
	assert_string_equal(form_get(&f, "a"), "1&2=3");
	/* Well-formed multibyte text passes. */
	parse(&f, "n=%C3%A9t%C3%A9", SA_OK);
	assert_string_equal(form_get(&f, "n"), "\xc3\xa9t\xc3\xa9");
	form_free(&f);
}

static void
test_bounds(void **state)
{
	struct form f = {0};
	char *big = malloc(lim.text_max + 64);
	size_t n = 0;

	(void)state;
	assert_non_null(big);
	/* fields_max fields pass, one more does not. */
	for (int i = 0; i < 8; i++)
		n += (size_t)sprintf(big + n, "%sp%d=v", i ? "&" : "", i);
	parse(&f, big, SA_OK);
	assert_int_equal(f.n, 8);
	strcpy(big + n, "&p8=v");
	parse(&f, big, SA_ERR_VALIDATION);
	assert_int_equal(f.n, 8);
	/* Empty pairs are not fields: a flood of them costs nothing. */
	memset(big, '&', lim.text_max);
	memcpy(big + lim.text_max - 3, "a=1", 3);
	parse_n(&f, big, lim.text_max, SA_OK);
	assert_int_equal(f.n, 1);
	/* A name at its bound passes, one byte more does not. */
	parse(&f, "abcdefghijklmnop=1", SA_OK);
	parse(&f, "abcdefghijklmnopq=1", SA_ERR_VALIDATION);
	/* Values are measured decoded: 64 bytes sent as 192 pass. */
	strcpy(big, "v=");
	for (int i = 0; i < 64; i++)
		strcat(big, "%41");
	parse(&f, big, SA_OK);
	assert_int_equal(strlen(form_get(&f, "v")), 64);
	strcat(big, "B");
	parse(&f, big, SA_ERR_VALIDATION);
	/* The whole text: at its bound it is read, over it refused unread. */
	memset(big, 'x', lim.text_max + 1);
	parse_n(&f, big, lim.text_max + 1, SA_ERR_BODY_TOO_LARGE);
	assert_int_equal(f.n, 0);
	free(big);
	form_free(&f);
}

static void
test_fields_max_clamped(void **state)
{
	const struct form_limits wide = {
	    .text_max = 65536,
	    .fields_max = 1000, /* more than the form can hold */
	    .name_max = 16,
	    .value_max = 16,
	};
	struct form f = {0};
	char *text = malloc(65536);
	size_t n = 0;

	(void)state;
	assert_non_null(text);
	for (int i = 0; i <= FORM_FIELDS_MAX; i++)
		n += (size_t)sprintf(text + n, "%sf%d=1", i ? "&" : "", i);
	assert_int_equal(form_parse(&f, text, n, &wide, NULL, 0),
			 SA_ERR_VALIDATION);
	assert_int_equal(f.n, FORM_FIELDS_MAX);
	form_free(&f);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decoding),
	    cmocka_unit_test(test_raw_values),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_hostile_input),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_fields_max_clamped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
