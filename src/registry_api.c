/*-------------------------------------------------------------------------
 *
 * registry_api.c
 *		  The SQL API of the schema registry of a server (registry.c):
 *		  kafka.check_compatibility, kafka.registry_subjects,
 *		  kafka.registry_schema, kafka.registry_latest,
 *		  kafka.registry_register, kafka.registry_compatibility,
 *		  kafka.registry_set_compatibility.
 *
 *		  Each needs USAGE on the server, as a foreign table of it would,
 *		  and talks to the registry with the caller's user mapping.  The
 *		  ones that change the registry (register, set a level) are not
 *		  executable by PUBLIC (the install script revokes them).
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(kafka_check_compatibility);
PG_FUNCTION_INFO_V1(kafka_registry_subjects);
PG_FUNCTION_INFO_V1(kafka_registry_schema);
PG_FUNCTION_INFO_V1(kafka_registry_latest);
PG_FUNCTION_INFO_V1(kafka_registry_register);
PG_FUNCTION_INFO_V1(kafka_registry_compatibility);
PG_FUNCTION_INFO_V1(kafka_registry_set_compatibility);

/* Options of a server named in SQL, checking USAGE like a foreign table does */
static KafkaOptions *
registry_server(Name servername)
{
	ForeignServer *server = GetForeignServerByName(NameStr(*servername), false);
	AclResult	aclresult = pg_foreign_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE);

	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);
	if (strcmp(GetForeignDataWrapper(server->fdwid)->fdwname, KAFKA_FDW_NAME) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a kafka_fdw server", server->servername)));
	return kafkaGetServerOptions(server->serverid);
}

/* An argument that must not be NULL */
static void
require_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

/*
 * kafka.check_compatibility(server, subject, schema) -> (is_compatible,
 * level, messages): would the registry accept schema as subject's next
 * version under the level that applies to the subject?  Returns false
 * with the registry's reasons rather than raising an error; an invalid
 * schema, an unreachable registry and the like are errors.  messages: the
 * registry's reasons, or kafka_fdw's own (avro_compat.c) when it gives
 * none (Apicurio); when the two verdicts differ, a message says so, with
 * kafka_fdw's reasons.  is_compatible stays the registry's verdict.
 */
Datum
kafka_check_compatibility(PG_FUNCTION_ARGS)
{
	KafkaOptions *opts;
	char	   *subject;
	char	   *schema;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	List	   *messages = NIL;
	List	   *ours;
	char	   *level;
	bool		ok;
	Datum	   *elems;
	int			n = 0;
	ListCell   *lc;

	require_arg(fcinfo, 0, "server");
	require_arg(fcinfo, 1, "subject");
	require_arg(fcinfo, 2, "schema");
	opts = registry_server(PG_GETARG_NAME(0));
	subject = text_to_cstring(PG_GETARG_TEXT_PP(1));
	schema = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	ok = kafkaRegistryCheckCompatibility(opts, subject, schema, NULL, &messages);
	level = kafkaRegistryGetCompatibility(opts, subject);
	ours = kafkaAvroCompatCheckSubject(opts, subject, schema, level, NULL);
	if (ok && ours != NIL)
		messages = lappend(messages,
						   psprintf("the registry accepts the schema, but kafka_fdw's own check at level %s finds it incompatible (INSERT and ALTER FOREIGN TABLE refuse it):",
									level));
	else if (!ok && ours == NIL)
		messages = lappend(messages,
						   psprintf("the registry finds the schema incompatible, but kafka_fdw's own check at level %s finds no reason",
									level));
	/* the registry's reasons; ours when it gives none, or when the two disagree */
	if (messages == NIL || ok != (ours == NIL))
		messages = list_concat(messages, ours);
	values[0] = BoolGetDatum(ok);
	values[1] = CStringGetTextDatum(level);
	elems = palloc(sizeof(Datum) * Max(list_length(messages), 1));
	foreach(lc, messages)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	values[2] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* kafka.registry_subjects(server) -> setof text, in the registry's order */
Datum
kafka_registry_subjects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	KafkaOptions *opts;
	List	   *subjects;
	ListCell   *lc;

	require_arg(fcinfo, 0, "server");
	opts = registry_server(PG_GETARG_NAME(0));
	subjects = kafkaRegistrySubjects(opts);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	foreach(lc, subjects)
	{
		Datum		v = CStringGetTextDatum((char *) lfirst(lc));
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &isnull);
	}
	return (Datum) 0;
}

/* kafka.registry_schema(server, id) -> text: the schema with this id */
Datum
kafka_registry_schema(PG_FUNCTION_ARGS)
{
	KafkaOptions *opts;

	require_arg(fcinfo, 0, "server");
	require_arg(fcinfo, 1, "id");
	opts = registry_server(PG_GETARG_NAME(0));
	PG_RETURN_TEXT_P(cstring_to_text(kafkaRegistrySchemaById(opts, PG_GETARG_INT32(1), false)->schema));
}

/* kafka.registry_latest(server, subject) -> (id, version, schema): the subject's latest version */
Datum
kafka_registry_latest(PG_FUNCTION_ARGS)
{
	KafkaOptions *opts;
	const KafkaSchema *s;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	require_arg(fcinfo, 0, "server");
	require_arg(fcinfo, 1, "subject");
	opts = registry_server(PG_GETARG_NAME(0));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	s = kafkaRegistrySubjectVersion(opts, text_to_cstring(PG_GETARG_TEXT_PP(1)),
									KAFKA_REGISTRY_LATEST, false);
	values[0] = Int32GetDatum(s->id);
	values[1] = Int32GetDatum(s->version);
	values[2] = CStringGetTextDatum(s->schema);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/* kafka.registry_register(server, subject, schema) -> int: the schema's id */
Datum
kafka_registry_register(PG_FUNCTION_ARGS)
{
	KafkaOptions *opts;

	require_arg(fcinfo, 0, "server");
	require_arg(fcinfo, 1, "subject");
	require_arg(fcinfo, 2, "schema");
	opts = registry_server(PG_GETARG_NAME(0));
	PG_RETURN_INT32(kafkaRegistryRegister(opts, text_to_cstring(PG_GETARG_TEXT_PP(1)),
										  text_to_cstring(PG_GETARG_TEXT_PP(2)), NULL));
}

/*
 * kafka.registry_compatibility(server, subject DEFAULT NULL) -> text: the
 * level that applies to the subject (its own or the registry's), or the
 * registry's.
 */
Datum
kafka_registry_compatibility(PG_FUNCTION_ARGS)
{
	KafkaOptions *opts;

	require_arg(fcinfo, 0, "server");
	opts = registry_server(PG_GETARG_NAME(0));
	PG_RETURN_TEXT_P(cstring_to_text(kafkaRegistryGetCompatibility(opts,
																   PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)))));
}

/*
 * kafka.registry_set_compatibility(server, subject, level) -> text: set the
 * subject's level (subject NULL: the registry's); returns the level that
 * now applies, as the registry tells.
 */
Datum
kafka_registry_set_compatibility(PG_FUNCTION_ARGS)
{
	KafkaOptions *opts;
	char	   *subject;

	require_arg(fcinfo, 0, "server");
	require_arg(fcinfo, 2, "level");
	opts = registry_server(PG_GETARG_NAME(0));
	subject = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	kafkaRegistrySetCompatibility(opts, subject, text_to_cstring(PG_GETARG_TEXT_PP(2)));
	PG_RETURN_TEXT_P(cstring_to_text(kafkaRegistryGetCompatibility(opts, subject)));
}
