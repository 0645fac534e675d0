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
