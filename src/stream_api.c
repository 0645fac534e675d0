/*-------------------------------------------------------------------------
 *
 * stream_api.c
 *		  The SQL API of streams: kafka.stream_changes, kafka.stop_stream,
 *		  kafka.pause_stream, kafka.resume_stream.
 *
 *		  The tables of schema kafka are not accessible to PUBLIC, so these
 *		  functions check the caller (GetUserId(): the table's owner or a
 *		  superuser, USAGE on the server) and then write the catalog rows
 *		  and create the capture triggers as the extension's owner, with
 *		  search_path pinned, like a SECURITY DEFINER function.  They are C
 *		  rather than SECURITY DEFINER plpgsql because a SECURITY DEFINER
 *		  function cannot tell who called it (current_user is its owner).
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(kafka_stream_changes);
PG_FUNCTION_INFO_V1(kafka_stop_stream);
PG_FUNCTION_INFO_V1(kafka_pause_stream);
PG_FUNCTION_INFO_V1(kafka_resume_stream);

/*
 * Become the extension's owner with search_path = pg_catalog, pg_temp and
 * connect SPI.  An ERROR restores both (transaction abort does).
 */
void
kafkaBeginAsOwner(KafkaOwnerContext *oc)
{
	Oid			owner = kafkaEmitterOwner();

	GetUserIdAndSecContext(&oc->save_userid, &oc->save_sec);
	oc->nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(owner, oc->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
kafkaEndAsOwner(KafkaOwnerContext *oc)
{
	SPI_finish();
	SetUserIdAndSecContext(oc->save_userid, oc->save_sec);
	AtEOXact_GUC(true, oc->nestlevel);
}

/* The non-null elements of a text[] as a List of C strings */
List *
kafkaTextArrayToList(Datum arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			result = lappend(result, TextDatumGetCString(elems[i]));
	return result;
}

/* Run SQL with parameters under SPI; ERROR unless it returns expect */
void
kafkaSpiExec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expect)
		elog(ERROR, "SPI_execute_with_args failed (%d) for: %s", rc, sql);
}

/*
 * The caller must own relid (or be a superuser); relid must be a table whose
 * changes can be streamed.  Returns its relkind.
 */
static char
check_table(Oid relid, const char *verb)
{
	char		relkind = get_rel_relkind(relid);
	Oid			kafka_nsp = get_namespace_oid("kafka", false);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to %s its stream", get_rel_name(relid), verb),
				 errhint("Only the owner of a table (or a superuser) can start, stop, pause or resume its stream.")));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot stream changes of \"%s\"", get_rel_name(relid)),
				 errdetail("Only ordinary and partitioned tables can be streamed.")));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot stream changes of temporary table \"%s\"", get_rel_name(relid))));
	if (get_rel_namespace(relid) == kafka_nsp)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot stream changes of kafka_fdw's own table \"%s\"", get_rel_name(relid))));
	return relkind;
}

/* "schema"."table" of relid, quoted */
static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * Key columns by default: those of the primary key, else of the replica
 * identity index; NIL when the table has neither.
 */
static List *
default_key_columns(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	Oid			indexoid = RelationGetPrimaryKeyIndex(rel);
	List	   *cols = NIL;

	if (!OidIsValid(indexoid))
		indexoid = RelationGetReplicaIndex(rel);
	if (OidIsValid(indexoid))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index idx;
		int			i;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for index %u", indexoid);
		idx = (Form_pg_index) GETSTRUCT(tup);
		for (i = 0; i < idx->indnkeyatts; i++)
			cols = lappend(cols, get_attname(relid, idx->indkey.values[i], false));
		ReleaseSysCache(tup);
	}
	relation_close(rel, AccessShareLock);
	return cols;
}

/* Explicit key columns: each must be a column of the table, once */
static List *
explicit_key_columns(Oid relid, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *enulls;
	int			n,
				i;
	List	   *cols = NIL;

	deconstruct_array(arr, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &elems, &enulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *col;
		ListCell   *lc;

		if (enulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key_columns must not contain nulls")));
		col = pstrdup(NameStr(*DatumGetName(elems[i])));
		if (get_attnum(relid, col) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of key_columns does not exist in table %s",
							col, get_rel_name(relid))));
		foreach(lc, cols)
			if (strcmp(lfirst(lc), col) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" appears twice in key_columns", col)));
		cols = lappend(cols, col);
	}
	return cols;
}

/* A name[] of cols */
static Datum
name_array(List *cols)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(cols), 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, cols)
		d[i++] = DirectFunctionCall1(namein, CStringGetDatum(lfirst(lc)));
	return PointerGetDatum(construct_array(d, i, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
}

/* The stream_id of relid's stream, locked FOR UPDATE; ERROR if it has none */
static int32
locked_stream_id(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;

	kafkaSpiExec("SELECT stream_id FROM kafka.stream WHERE relid = $1::pg_catalog.regclass FOR UPDATE",
			 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s is not streamed", get_rel_name(relid)),
				 errhint("Start a stream with kafka.stream_changes().")));
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The keys kafka.stream_changes takes in its options argument, each read by
 * the file that owns it: an allowlist, so that a misspelt key (say "masks")
 * is an error rather than a transform silently not applied.
 */
static const char *const stream_option_keys[] = {
	"include", "exclude", "mask", "hash", "hash_salt", "transform",	/* transform.c */
	"snapshot_chunk_size",		/* snapshot.c */
	"progress_topic",			/* emitter.c */
	NULL
};

static void
check_stream_options(Jsonb *options)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	StringInfoData valid;
	JsonbValue *pt;

	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("For example: options => '{\"mask\": {\"card\": 4}}'.")));
	initStringInfo(&valid);
	for (int i = 0; stream_option_keys[i]; i++)
		appendStringInfo(&valid, "%s%s", i ? ", " : "", stream_option_keys[i]);
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (tok != WJB_KEY)
			continue;
		for (int i = 0; stream_option_keys[i]; i++)
			if (strlen(stream_option_keys[i]) == (size_t) v.val.string.len &&
				memcmp(stream_option_keys[i], v.val.string.val, v.val.string.len) == 0)
				known = true;
		if (!known && ((v.val.string.len == 6 && memcmp(v.val.string.val, "format", 6) == 0) ||
					   (v.val.string.len == 7 && memcmp(v.val.string.val, "schemas", 7) == 0)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%.*s\" is an argument of kafka.stream_changes, not a key of its options",
							v.val.string.len, v.val.string.val),
					 errhint("Pass it by name, for example %s.",
							 v.val.string.len == 6 ? "format => 'avro'" : "schemas => true")));
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown stream option \"%.*s\"", v.val.string.len, v.val.string.val),
					 errhint("Valid keys of options are: %s.", valid.data)));
	}
	pt = getKeyJsonValueFromContainer(&options->root, "progress_topic", strlen("progress_topic"), NULL);
	if (pt)
	{
		if (pt->type != jbvString || pt->val.string.len == 0 || pt->val.string.len > 249 ||
			strspn(pnstrdup(pt->val.string.val, pt->val.string.len),
				   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != (size_t) pt->val.string.len)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"progress_topic\" must be a Kafka topic name"),
					 errhint("A topic name has 1 to 249 characters among letters, digits, '.', '_' and '-'.")));
	}
}

/*
 * Format avro: the server must have a schema registry, and the schemas
 * derived from the table must be valid (column names that are Avro names,
 * types avro-c accepts): checked now by creating the stream's envelope,
 * rather than at its first batch.  Nothing is registered yet.
 */
static void
check_avro_stream(Oid relid, ForeignServer *server, const char *envelope, bool schemas,
				  List *keys, const KafkaTransform *tf)
{
	ListCell   *lc;
	bool		registry = false;
	Relation	rel;

	if (schemas)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schemas applies to format json only"),
				 errhint("Avro messages name their schema in the schema registry; leave out schemas => true.")));
	foreach(lc, server->options)
		if (strcmp(((DefElem *) lfirst(lc))->defname, "schema_registry") == 0)
			registry = true;
	if (!registry)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("format avro needs a schema registry, and server \"%s\" has none", server->servername),
				 errhint("Set the server option schema_registry to the URL of a Confluent-compatible registry: ALTER SERVER %s OPTIONS (ADD schema_registry 'http://...').",
						 quote_identifier(server->servername))));
	rel = relation_open(relid, AccessShareLock);
	(void) kafkaEnvelopeCreate(rel, kafkaEnvelopeKind(envelope), KAFKA_FORMAT_AVRO, false,
							   server->servername, "?", keys, tf);
	relation_close(rel, AccessShareLock);
}

/*
 * kafka.stream_changes(source regclass, server name, topic text,
 *   envelope text, key_columns name[], snapshot bool, schemas bool,
 *   format text, options jsonb) RETURNS int: start streaming the changes
 *   of a table.
 */
Datum
kafka_stream_changes(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *envelope;
	char	   *topic;
	ForeignServer *server;
	ForeignDataWrapper *fdw;
	AclResult	aclresult;
	List	   *keys;
	bool		snapshot,
				schemas;
	char	   *format;
	KafkaOwnerContext oc;
	StringInfoData sql;
	char	   *qname;
	int32		stream_id;
	bool		isnull;
	KafkaTransform *tf;
	static const char *const required[] = {"source", "server", "topic", "envelope"};
	int			i;

	kafkaRequireWorkers();
	for (i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", required[i])));
	relid = PG_GETARG_OID(0);
	(void) check_table(relid, "start");
	LockRelationOid(relid, ShareRowExclusiveLock);	/* as CREATE TRIGGER does */
	(void) check_table(relid, "start");

	server = GetForeignServerByName(NameStr(*PG_GETARG_NAME(1)), false);
	fdw = GetForeignDataWrapper(server->fdwid);
	if (strcmp(fdw->fdwname, KAFKA_FDW_NAME) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a kafka_fdw server", server->servername)));
	aclresult = pg_foreign_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);

	topic = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (topic[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("topic must not be empty")));
	envelope = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (strcmp(envelope, "debezium") != 0 && strcmp(envelope, "upsert") != 0 &&
		strcmp(envelope, "row") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid envelope \"%s\"", envelope),
				 errhint("Valid envelopes are \"debezium\", \"upsert\" and \"row\".")));
	snapshot = PG_ARGISNULL(5) ? false : PG_GETARG_BOOL(5);
	schemas = PG_ARGISNULL(6) ? false : PG_GETARG_BOOL(6);
	format = PG_ARGISNULL(7) ? "json" : text_to_cstring(PG_GETARG_TEXT_PP(7));
	if (strcmp(format, "json") != 0 && strcmp(format, "avro") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid format \"%s\"", format),
				 errhint("Valid formats are \"json\" and \"avro\".")));

	if (!PG_ARGISNULL(4))
		keys = explicit_key_columns(relid, PG_GETARG_ARRAYTYPE_P(4));
	else
	{
		keys = default_key_columns(relid);
		if (keys == NIL && strcmp(envelope, "upsert") != 0)
			ereport(NOTICE,
					(errmsg("table %s has no primary key or replica identity index: its messages will have no key",
							get_rel_name(relid)),
					 errhint("Pass key_columns to kafka.stream_changes() to key them.")));
	}
	if (keys == NIL && strcmp(envelope, "upsert") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("envelope \"upsert\" needs a message key, and table %s has none",
						get_rel_name(relid)),
				 errhint("Give the table a primary key, or pass key_columns to kafka.stream_changes().")));

	/*
	 * The single message transforms, checked now (in the caller's
	 * search_path, which names the transform function); the function is
	 * stored by its qualified signature.
	 */
	if (!PG_ARGISNULL(8))
		check_stream_options(PG_GETARG_JSONB_P(8));
	tf = PG_ARGISNULL(8) ? NULL : kafkaTransformParse(PG_GETARG_JSONB_P(8), relid, keys);

	if (snapshot)
	{
		int			chunk = 1;	/* the default is valid */

		if (!PG_ARGISNULL(8) && JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(8)))
		{
			Jsonb	   *opts = PG_GETARG_JSONB_P(8);
			const char *name = "snapshot_chunk_size";
			JsonbValue *v = getKeyJsonValueFromContainer(&opts->root, name, strlen(name), NULL);

			if (v != NULL)
				chunk = v->type == jbvNumeric ?
					DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric))) : 0;
		}
		kafkaSnapshotCheck(relid, keys, chunk);
	}
	if (strcmp(format, "avro") == 0)
		check_avro_stream(relid, server, envelope, schemas, keys, tf);

	qname = qualified_name(relid);
	kafkaBeginAsOwner(&oc);
	{
		Oid			types[10] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, NAMEARRAYOID, JSONBOID,
		BOOLOID, OIDOID, TEXTOID, TEXTOID};
		Datum		values[10];
		char		nulls[10] = "          ";

		values[0] = ObjectIdGetDatum(relid);
		values[1] = CStringGetTextDatum(server->servername);
		values[2] = CStringGetTextDatum(topic);
		values[3] = CStringGetTextDatum(envelope);
		if (keys != NIL)
			values[4] = name_array(keys);
		else
			nulls[4] = 'n';
		if (PG_ARGISNULL(8))
			nulls[5] = 'n';
		else
			values[5] = PG_GETARG_DATUM(8);
		values[6] = BoolGetDatum(schemas);
		values[7] = ObjectIdGetDatum(oc.save_userid);
		if (tf && tf->function)
			values[8] = CStringGetTextDatum(tf->function);
		else
			nulls[8] = 'n';
		values[9] = CStringGetTextDatum(format);

		kafkaSpiExec("SELECT 1 FROM kafka.stream WHERE relid = $1::pg_catalog.regclass",
				 1, types, values, nulls, SPI_OK_SELECT);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("table %s is already streamed", get_rel_name(relid)),
					 errhint("Stop its stream with kafka.stop_stream() first.")));
		kafkaSpiExec(snapshot ?
				 "INSERT INTO kafka.stream (relid, server, topic, envelope, key_columns, options, created_by, snapshot_state) "
				 "VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5, "
				 "coalesce($6, '{}') || pg_catalog.jsonb_build_object('schemas', $7, 'format', $10) || "
				 "CASE WHEN $9 IS NULL THEN '{}' ELSE pg_catalog.jsonb_build_object('transform', $9) END, $8, 'pending') "
				 "RETURNING stream_id" :
				 "INSERT INTO kafka.stream (relid, server, topic, envelope, key_columns, options, created_by) "
				 "VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5, "
				 "coalesce($6, '{}') || pg_catalog.jsonb_build_object('schemas', $7, 'format', $10) || "
				 "CASE WHEN $9 IS NULL THEN '{}' ELSE pg_catalog.jsonb_build_object('transform', $9) END, $8) "
				 "RETURNING stream_id",
				 10, types, values, nulls, SPI_OK_INSERT_RETURNING);
		stream_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	/* one statement trigger per event, with transition tables */
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TRIGGER kafka_capture_ins AFTER INSERT ON %s "
					 "REFERENCING NEW TABLE AS kafka_new "
					 "FOR EACH STATEMENT EXECUTE FUNCTION kafka.capture('%d');"
					 "CREATE TRIGGER kafka_capture_upd AFTER UPDATE ON %s "
					 "REFERENCING OLD TABLE AS kafka_old NEW TABLE AS kafka_new "
					 "FOR EACH STATEMENT EXECUTE FUNCTION kafka.capture('%d');"
					 "CREATE TRIGGER kafka_capture_del AFTER DELETE ON %s "
					 "REFERENCING OLD TABLE AS kafka_old "
					 "FOR EACH STATEMENT EXECUTE FUNCTION kafka.capture('%d');"
					 "CREATE TRIGGER kafka_capture_trunc AFTER TRUNCATE ON %s "
					 "FOR EACH STATEMENT EXECUTE FUNCTION kafka.capture('%d')",
					 qname, stream_id, qname, stream_id, qname, stream_id, qname, stream_id);
	kafkaSpiExec(sql.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	kafkaEndAsOwner(&oc);

	kafkaWakeWorkerAtCommit();
	PG_RETURN_INT32(stream_id);
}

/*
 * kafka.stop_stream(source regclass): drop the capture triggers, the stream
 * and what it had not yet published.
 */
Datum
kafka_stop_stream(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	KafkaOwnerContext oc;
	int32		stream_id;
	uint64		discarded;
	char	   *qname;
	StringInfoData sql;
	Oid			types[1] = {INT4OID};
	Datum		values[1];

	(void) check_table(relid, "stop");
	LockRelationOid(relid, ShareRowExclusiveLock);	/* as DROP TRIGGER does */
	qname = qualified_name(relid);

	kafkaBeginAsOwner(&oc);
	stream_id = locked_stream_id(relid);
	values[0] = Int32GetDatum(stream_id);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "DROP TRIGGER IF EXISTS kafka_capture_ins ON %s;"
					 "DROP TRIGGER IF EXISTS kafka_capture_upd ON %s;"
					 "DROP TRIGGER IF EXISTS kafka_capture_del ON %s;"
					 "DROP TRIGGER IF EXISTS kafka_capture_trunc ON %s",
					 qname, qname, qname, qname);
	kafkaSpiExec(sql.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	kafkaSpiExec("WITH gone AS (DELETE FROM kafka.outbox_chunk WHERE stream_id = $1 RETURNING n) "
				 "SELECT COALESCE(sum(n), 0)::int8 FROM gone", 1, types, values, NULL, SPI_OK_SELECT);
	{
		bool		isnull;

		discarded = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	kafkaSpiExec("DELETE FROM kafka.stream WHERE stream_id = $1", 1, types, values, NULL, SPI_OK_DELETE);
	kafkaEndAsOwner(&oc);

	if (discarded > 0)
		ereport(NOTICE,
				(errmsg("stream of table %s stopped; %llu captured changes not yet published were discarded",
						get_rel_name(relid), (unsigned long long) discarded)));
	PG_RETURN_VOID();
}

/* Set the state of relid's stream */
static void
set_stream_state(Oid relid, const char *state, const char *verb)
{
	KafkaOwnerContext oc;
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];

	(void) check_table(relid, verb);
	kafkaBeginAsOwner(&oc);

	/*
	 * A pause waits for the batch being published (the stream's advisory
	 * lock, taken before its row lock as the publisher does), so that
	 * nothing is published once pause_stream returned.
	 */
	if (strcmp(state, "paused") == 0)
	{
		Oid			ltypes[2] = {INT4OID, OIDOID};
		Datum		lvalues[2] = {Int32GetDatum(KAFKA_EMITTER_LOCK_CLASS), ObjectIdGetDatum(relid)};

		kafkaSpiExec("SELECT pg_catalog.pg_advisory_xact_lock($1, stream_id) FROM kafka.stream "
				 "WHERE relid = $2::pg_catalog.regclass",
				 2, ltypes, lvalues, NULL, SPI_OK_SELECT);
	}
	values[0] = Int32GetDatum(locked_stream_id(relid));
	values[1] = CStringGetTextDatum(state);
	kafkaSpiExec("UPDATE kafka.stream SET state = $2 WHERE stream_id = $1",
			 2, types, values, NULL, SPI_OK_UPDATE);
	kafkaEndAsOwner(&oc);
}

/*
 * kafka.pause_stream(source regclass): stop publishing; changes are still
 * captured (the backlog grows) and published after resume_stream.
 */
Datum
kafka_pause_stream(PG_FUNCTION_ARGS)
{
	set_stream_state(PG_GETARG_OID(0), "paused", "pause");
	PG_RETURN_VOID();
}

/* kafka.resume_stream(source regclass): publish again */
Datum
kafka_resume_stream(PG_FUNCTION_ARGS)
{
	kafkaRequireWorkers();
	set_stream_state(PG_GETARG_OID(0), "running", "resume");
	kafkaWakeWorkerAtCommit();
	PG_RETURN_VOID();
}
