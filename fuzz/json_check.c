/*-------------------------------------------------------------------------
 *
 * json_check.c
 *		  The json/jsonb input function stand-in of pg_shim.c checks its
 *		  input with jansson; jansson's names clash with PostgreSQL's
 *		  fmgrprotos.h, so it lives in this file that includes no
 *		  PostgreSQL header.
 *
 *-------------------------------------------------------------------------
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

bool		shim_json_valid(const char *s, char *err, int errlen);

/* Is the NUL-terminated s one JSON value?  On false, err says why. */
bool
shim_json_valid(const char *s, char *err, int errlen)
{
	json_error_t e;
	json_t	   *j = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

	if (j == NULL)
	{
		snprintf(err, errlen, "%s", e.text);
		return false;
	}
	json_decref(j);
	return true;
}

int			shim_json_member_string(const char *doc, size_t len, const char *key,
									char **out, size_t *outlen);

/*
 * The differential oracle of fuzz_json: if doc is a JSON object (to
 * jansson) whose member key is a string, return 1 with a malloc'd copy of
 * its bytes; 0 if it has no such string member; -1 if jansson rejects doc.
 */
int
shim_json_member_string(const char *doc, size_t len, const char *key, char **out, size_t *outlen)
{
	json_error_t e;
	json_t	   *root = json_loadb(doc, len, 0, &e);
	json_t	   *m;
	int			r = 0;

	if (root == NULL)
		return -1;
	m = json_is_object(root) ? json_object_get(root, key) : NULL;
	if (m && json_is_string(m))
	{
		*outlen = json_string_length(m);
		*out = malloc(*outlen + 1);
		memcpy(*out, json_string_value(m), *outlen);
		r = 1;
	}
	json_decref(root);
	return r;
}
