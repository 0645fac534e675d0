/*-------------------------------------------------------------------------
 *
 * transform.c
 *		  Single message transforms of a stream: what happens to a change
 *		  before it reaches Kafka.  They are keys of kafka.stream.options:
 *
 *		  include    ["col", ...]  publish only these columns
 *		  exclude    ["col", ...]  publish all columns but these
 *		  mask       {"col": N}    every alphanumeric character but the last
 *		                           N becomes 'x'; ASCII punctuation and
 *		                           spaces stay (4444-3333-2222-1111 with 4:
 *		                           xxxx-xxxx-xxxx-1111)
 *		  hash       ["col", ...]  the lower-case hex SHA-256 of hash_salt
 *		                           followed by the value's text
 *		  hash_salt  "..."         required with hash
 *		  transform  "f(jsonb)"    a function (jsonb) -> jsonb called with
 *		                           each message value; its result is sent
 *		                           instead, NULL drops the message
 *
 *		  This file parses and checks them (at kafka.stream_changes and again
 *		  for every batch published, so a renamed or dropped column fails the
 *		  stream instead of leaking a raw value), masks and hashes values, and
 *		  calls the transform function.  envelope.c applies the column rules
 *		  to the before and after rows and the key; emitter.c calls the
 *		  function on each message value.
 *
 * Invariants:
 *	- Column rules apply to every image of a row (before, after, key): a
 *	  raw value of a masked, hashed or left out column never reaches Kafka.
 *	  The outbox keeps raw rows, inside PostgreSQL only.
 *	- Key columns cannot be left out or masked (distinct keys would become
 *	  one); they can be hashed (the key stays one per row).
 *	- The transform function runs as the table's owner (checked to have
 *	  EXECUTE on it), as a security-restricted operation with search_path
 *	  pg_catalog, pg_temp, never as the worker's superuser.  An error in it
 *	  fails the batch: nothing is dropped silently.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

/* The option keys this file owns */
static const char *const transform_keys[] = {"include", "exclude", "mask", "hash", "hash_salt", "transform"};

static JsonbValue *
option(Jsonb *options, const char *key)
{
	return getKeyJsonValueFromContainer(&options->root, key, strlen(key), NULL);
}

/* The column names of an option that must be an array of strings */
static List *
name_list(Jsonb *options, const char *key)
{
	JsonbValue *v = option(options, key);
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	List	   *names = NIL;

	if (v == NULL || v->type == jbvNull)
		return NIL;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be an array of column names", key),
				 errhint("For example: {\"%s\": [\"card_number\"]}.", key)));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be an array of column names", key)));
		names = lappend(names, pnstrdup(e.val.string.val, e.val.string.len));
	}
	return names;
}

/* A string option, or NULL */
static char *
string_option(Jsonb *options, const char *key)
{
	JsonbValue *v = option(options, key);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* mask: {"col": N, ...} with N a non-negative integer */
static void
mask_option(Jsonb *options, KafkaTransform *tf)
{
	JsonbValue *v = option(options, "mask");
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	char	   *col = NULL;

	if (v == NULL || v->type == jbvNull)
		return;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"mask\" must be an object of column names and the number of characters to keep"),
				 errhint("For example: {\"mask\": {\"card_number\": 4}}.")));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			col = pnstrdup(e.val.string.val, e.val.string.len);
		else if (tok == WJB_VALUE)
		{
			char	   *text = NULL;
			char	   *end;
			long		keep = -1;

			if (e.type == jbvNumeric)
			{
				text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(e.val.numeric)));
				errno = 0;
				keep = strtol(text, &end, 10);
				if (errno != 0 || *end != '\0' || keep > 1000000)
					keep = -1;
			}
			if (keep < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("mask of column \"%s\" must be the number of characters to keep (an integer, 0 or more)",
								col)));
			tf->mask = lappend(tf->mask, col);
			tf->mask_keep = lappend_int(tf->mask_keep, (int) keep);
		}
	}
}

static bool
has_name(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

/* Every column an option names must be a column of the table */
static void
check_columns(Oid relid, List *names, const char *key)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		char	   *col = lfirst(lc);

		if (get_attnum(relid, col) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of option \"%s\" does not exist in table \"%s\"",
							col, key, get_rel_name(relid))));
	}
}

/*
 * Resolve the transform function ("name" or "name(argtypes)", in the
 * current search_path) and check it: one jsonb argument, returns jsonb, a
 * plain function, executable by the table's owner.
 */
static void
resolve_function(KafkaTransform *tf, const char *name, Oid relid)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		ok;

	tf->fn_oid = DatumGetObjectId(DirectFunctionCall1(strchr(name, '(') ? regprocedurein : regprocin,
													  CStringGetDatum(name)));
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(tf->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", tf->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	ok = proc->prokind == PROKIND_FUNCTION && !proc->proretset && proc->pronargs == 1 &&
		proc->proargtypes.values[0] == JSONBOID && proc->prorettype == JSONBOID;
	ReleaseSysCache(tup);
	tf->function = format_procedure_qualified(tf->fn_oid);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("transform function %s must take one jsonb argument and return jsonb", tf->function),
				 errhint("It is called with each message value as jsonb and returns the value to send, or NULL to drop the message.")));
	tf->run_as = kafkaRelOwner(relid);
	if (pg_proc_aclcheck(tf->fn_oid, tf->run_as, ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("owner %s of table \"%s\" may not execute transform function %s",
						GetUserNameFromId(tf->run_as, false), get_rel_name(relid), tf->function),
				 errdetail("The transform function runs as the owner of the table.")));
	/* in the caller's context, which outlives the batch's per-event one */
	tf->flinfo = palloc0(sizeof(FmgrInfo));
	fmgr_info(tf->fn_oid, tf->flinfo);
}

/*
 * The transforms of options for table relid with these key columns, checked
 * (ERROR when anything is wrong); NULL when options has none.  Called by
 * kafka.stream_changes (tf->function is then the canonical name to store)
 * and for every batch published, so that a column renamed or dropped since,
 * or a revoked EXECUTE, fails the stream rather than publishing raw values.
 */
KafkaTransform *
kafkaTransformParse(Jsonb *options, Oid relid, List *key_columns)
{
	KafkaTransform *tf;
	bool		any = false;
	char	   *function;
	ListCell   *lc;

	if (options == NULL)
		return NULL;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));
	for (int i = 0; i < (int) lengthof(transform_keys); i++)
		if (option(options, transform_keys[i]) != NULL)
			any = true;
	if (!any)
		return NULL;

	tf = palloc0(sizeof(KafkaTransform));
	tf->table = get_rel_name(relid);
	tf->include = name_list(options, "include");
	tf->exclude = name_list(options, "exclude");
	tf->hash = name_list(options, "hash");
	mask_option(options, tf);
	tf->hash_salt = string_option(options, "hash_salt");
	function = string_option(options, "transform");

	if (option(options, "include") && option(options, "exclude"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options \"include\" and \"exclude\" cannot be used together")));
	check_columns(relid, tf->include, "include");
	check_columns(relid, tf->exclude, "exclude");
	check_columns(relid, tf->mask, "mask");
	check_columns(relid, tf->hash, "hash");
	if (tf->hash != NIL && (tf->hash_salt == NULL || tf->hash_salt[0] == '\0'))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"hash\" needs a \"hash_salt\""),
				 errhint("Without a secret salt, short values such as card numbers are found again by hashing all candidates.")));
	if (tf->hash == NIL && tf->hash_salt != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"hash_salt\" given without \"hash\"")));

	foreach(lc, key_columns)
	{
		char	   *k = lfirst(lc);
		int			keep;

		if (kafkaTransformColumn(tf, k, &keep) == KAFKA_COL_DROP)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key column \"%s\" cannot be left out of the messages", k),
					 errhint("Key columns are always published; hash them to hide their values.")));
		if (has_name(tf->mask, k))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key column \"%s\" cannot be masked", k),
					 errdetail("Masked keys of distinct rows could be equal."),
					 errhint("Hash the key column instead.")));
	}
	foreach(lc, tf->mask)
	{
		char	   *col = lfirst(lc);

		if (has_name(tf->hash, col))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" cannot be both masked and hashed", col)));
	}
	foreach(lc, list_concat_copy(tf->mask, tf->hash))
	{
		char	   *col = lfirst(lc);

		if ((tf->include != NIL && !has_name(tf->include, col)) || has_name(tf->exclude, col))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is masked or hashed but not published", col)));
	}
	if (function != NULL)
		resolve_function(tf, function, relid);
	return tf;
}

/* Do the column rules change rows (anything but a transform function)? */
bool
kafkaTransformRewritesRows(const KafkaTransform *tf)
{
	return tf != NULL && (tf->include != NIL || tf->exclude != NIL || tf->mask != NIL || tf->hash != NIL);
}

/* What happens to a column; *keep gets the characters a mask keeps */
KafkaColumnAction
kafkaTransformColumn(const KafkaTransform *tf, const char *column, int *keep)
{
	ListCell   *lc,
			   *lk;

	*keep = 0;
	if (tf == NULL)
		return KAFKA_COL_KEEP;
	if ((tf->include != NIL && !has_name(tf->include, column)) || has_name(tf->exclude, column))
		return KAFKA_COL_DROP;
	forboth(lc, tf->mask, lk, tf->mask_keep)
	{
		if (strcmp(lfirst(lc), column) == 0)
		{
			*keep = lfirst_int(lk);
			return KAFKA_COL_MASK;
		}
	}
	if (has_name(tf->hash, column))
		return KAFKA_COL_HASH;
	return KAFKA_COL_KEEP;
}

/* A separator stays as it is: ASCII that is not a letter or digit */
static bool
is_separator(const char *p, int len)
{
	return len == 1 && !IS_HIGHBIT_SET(*p) && !isalnum((unsigned char) *p);
}

/*
 * s with every character but separators and the last keep non-separators
 * replaced by 'x' (one 'x' per character, whatever its byte length).
 */
char *
kafkaMaskText(const char *s, int keep)
{
	StringInfoData b;
	int			total = 0;
	int			seen = 0;
	const char *p;

	for (p = s; *p; p += pg_mblen(p))
		if (!is_separator(p, pg_mblen(p)))
			total++;
	initStringInfo(&b);
	for (p = s; *p;)
	{
		int			len = pg_mblen(p);

		if (is_separator(p, len))
			appendStringInfoChar(&b, *p);
		else if (seen++ >= total - keep)
			appendBinaryStringInfo(&b, p, len);
		else
			appendStringInfoChar(&b, 'x');
		p += len;
	}
	return b.data;
}

/* The lower-case hex SHA-256 of salt followed by s */
char *
kafkaHashText(const char *s, const char *salt)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) salt, strlen(salt)) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) s, strlen(s)) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		const char *why = ctx ? pg_cryptohash_error(ctx) : "out of memory";

		pg_cryptohash_free(ctx);
		elog(ERROR, "could not compute a SHA-256 hash: %s", why);
	}
	pg_cryptohash_free(ctx);
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/*
 * Call the transform function with value (JSON text); returns the JSON text
 * to send, or NULL to drop the message.  It runs as the table's owner, as a
 * security-restricted operation (no SET ROLE, no temporary objects) with
 * search_path pg_catalog, pg_temp, as PostgreSQL runs index expressions
 * during maintenance: a table owner cannot run code as the worker's
 * superuser through it.  An ERROR in it names the function and the table and
 * fails the batch (the transaction's abort restores user and settings).
 */
char *
kafkaTransformCall(KafkaTransform *tf, const char *value)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		arg = DirectFunctionCall1(jsonb_in, CStringGetDatum(value));
	MemoryContext cxt = CurrentMemoryContext;
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;
	volatile Datum result = (Datum) 0;
	volatile bool isnull = true;
	Jsonb	   *jb;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(tf->run_as,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	PG_TRY();
	{
		InitFunctionCallInfoData(*fcinfo, tf->flinfo, 1, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = arg;
		fcinfo->args[0].isnull = false;
		result = FunctionCallInvoke(fcinfo);
		isnull = fcinfo->isnull;
	}
	PG_CATCH();
	{
		/* say which transform failed, and rethrow */
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->message = psprintf("transform function %s of the stream of table \"%s\" failed: %s",
								  tf->function, tf->table, edata->message);
		ReThrowError(edata);
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec);

	if (isnull)
		return NULL;
	jb = DatumGetJsonbP(result);
	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}
