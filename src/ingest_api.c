/*-------------------------------------------------------------------------
 *
 * ingest_api.c
 *		  The SQL API of ingest jobs and pipelines: kafka.ingest,
 *		  kafka.pipeline, kafka.stop_ingest, kafka.pause_ingest,
 *		  kafka.resume_ingest, kafka.redrive.
 *
 *		  As in stream_api.c, the caller is checked (the target table's
 *		  owner, or a superuser) and the rows of schema kafka are then
 *		  written as the extension's owner.  The job runs as the target's
 *		  owner: with that role's user mapping and privileges.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/wait_event.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(kafka_ingest);
PG_FUNCTION_INFO_V1(kafka_stop_ingest);
PG_FUNCTION_INFO_V1(kafka_pause_ingest);
PG_FUNCTION_INFO_V1(kafka_resume_ingest);
PG_FUNCTION_INFO_V1(kafka_redrive);
PG_FUNCTION_INFO_V1(kafka_pipeline);

/* source must be a kafka_fdw foreign table */
static void
check_source(Oid source)
{
	ForeignTable *ft;
	ForeignServer *server;

	if (get_rel_relkind(source) != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a foreign table", get_rel_name(source) ? get_rel_name(source) : "?"),
				 errhint("The source of an ingest job is a kafka_fdw foreign table.")));
	ft = GetForeignTable(source);
	server = GetForeignServer(ft->serverid);
	if (strcmp(GetForeignDataWrapper(server->fdwid)->fdwname, KAFKA_FDW_NAME) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a kafka_fdw foreign table", get_rel_name(source))));
}

/* target must be a table the caller owns */
static void
check_target(Oid target, const char *verb)
{
	char		relkind = get_rel_relkind(target);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", target)));
	if (!pg_class_ownercheck(target, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to %s an ingest job into it", get_rel_name(target), verb),
				 errhint("Only the owner of the target table (or a superuser) can start, stop, pause, resume or redrive its ingest jobs.")));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot ingest into \"%s\"", get_rel_name(target)),
				 errdetail("The target of an ingest job is an ordinary or partitioned table.")));
	if (get_rel_persistence(target) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot ingest into temporary table \"%s\"", get_rel_name(target))));
	if (get_rel_namespace(target) == get_namespace_oid("kafka", false))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot ingest into kafka_fdw's own table \"%s\"", get_rel_name(target))));
}

/*
 * Check that the job exists and that the caller may control it (SPI
 * connected, as the extension owner): the target's owner, or for a
 * pipeline a member of its role (or a superuser).
 */
static void
check_job(int32 job_id, const char *verb, KafkaOwnerContext *oc)
{
	Datum		arg = Int32GetDatum(job_id);
	Oid			argtype = INT4OID;
	bool		isnull;
	Oid			target;
	Oid			creator;

	kafkaSpiExec("SELECT target::oid, created_by FROM kafka.ingest_job WHERE job_id = $1",
				 1, &argtype, &arg, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("ingest job %d does not exist", job_id)));
	target = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		target = InvalidOid;
	creator = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	/* as the caller */
	SetUserIdAndSecContext(oc->save_userid, oc->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (OidIsValid(target))
		check_target(target, verb);
	else if (!has_privs_of_role(GetUserId(), creator))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be a member of the role of pipeline %d to %s it", job_id, verb),
				 errhint("Only the role that started a pipeline (or a superuser) can stop, pause or resume it.")));
	SetUserIdAndSecContext(kafkaEmitterOwner(), oc->save_sec | SECURITY_LOCAL_USERID_CHANGE);
}

/*
 * Lock a job's row (SPI connected, as the extension owner), for a change
 * of its state.  A worker holds a share lock on it while it writes a
 * batch; if interrupt, its workers are cancelled while we wait, so that a
 * pipeline's slow statement (or a long batch) cannot make stop or pause
 * wait for it: the batch rolls back, and the worker sees the new state.
 */
static void
lock_job(int32 job_id, bool interrupt)
{
	Datum		args[2] = {Int32GetDatum(job_id), CStringGetTextDatum(psprintf("kafka_fdw ingest %d/%%", job_id))};
	Oid			types[2] = {INT4OID, TEXTOID};
	int64		deadline = kafkaNowMs() + 30000;

	while (interrupt && kafkaNowMs() < deadline)
	{
		kafkaSpiExec("SELECT 1 FROM kafka.ingest_job WHERE job_id = $1 FOR UPDATE SKIP LOCKED",
					 1, types, args, NULL, SPI_OK_SELECT);
		if (SPI_processed == 1)
			return;
		kafkaSpiExec("SELECT pg_catalog.pg_cancel_backend(pid) FROM pg_catalog.pg_stat_activity "
					 "WHERE datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) "
					 "AND backend_type = 'kafka_fdw ingest' AND application_name LIKE $2",
					 2, types, args, NULL, SPI_OK_SELECT);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 50, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	kafkaSpiExec("SELECT 1 FROM kafka.ingest_job WHERE job_id = $1 FOR UPDATE", 1, types, args, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("ingest job %d does not exist", job_id)));
}

/* The starting offset of each partition, as the options say */
static int64 *
start_offsets(KafkaOptions *opts, int32 *parts, int nparts, const char *start_from,
			  bool has_time, TimestampTz start_time, ArrayType *offsets_arr)
{
	rd_kafka_t *meta = kafkaGetMeta(opts);
	int64	   *offs = palloc(sizeof(int64) * Max(nparts, 1));
	Datum	   *elems = NULL;
	bool	   *enulls = NULL;
	int			nelems = 0;

	if (offsets_arr)
	{
		if (ARR_NDIM(offsets_arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("start_offsets must be a one-dimensional array")));
		deconstruct_array(offsets_arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &enulls, &nelems);
		if (nelems != nparts)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("start_offsets has %d elements, topic \"%s\" has %d partitions", nelems, opts->topic, nparts),
					 errhint("Give one offset per partition, in partition order (null: from start_from).")));
	}
	for (int i = 0; i < nparts; i++)
	{
		int64		low,
					high;

		kafkaQueryWatermarks(meta, opts->topic, parts[i], opts->timeout_ms, &low, &high);
		if (elems && !enulls[i])
		{
			int64		o = DatumGetInt64(elems[i]);

			if (o < low || o > high)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("start offset " INT64_FORMAT " of partition %d is outside its offsets [" INT64_FORMAT ", " INT64_FORMAT "]",
								o, parts[i], low, high)));
			offs[i] = o;
		}
		else if (has_time)
		{
			int64		o = kafkaOffsetForTime(meta, opts->topic, parts[i],
											   kafkaTimestampToMs(start_time), opts->timeout_ms);

			offs[i] = o < 0 ? high : o;
		}
		else
			offs[i] = strcmp(start_from, "latest") == 0 ? high : low;
	}
	return offs;
}

/* The first offsets of a new job (SPI connected, as the extension owner) */
static void
insert_offsets(int32 job_id, int32 *parts, int64 *offs, int nparts)
{
	for (int i = 0; i < nparts; i++)
	{
		Datum		v[3] = {Int32GetDatum(job_id), Int32GetDatum(parts[i]), Int64GetDatum(offs[i])};
		Oid			t[3] = {INT4OID, INT4OID, INT8OID};

		kafkaSpiExec("INSERT INTO kafka.ingest_offset (job_id, partition, next_offset) VALUES ($1, $2, $3)",
					 3, t, v, NULL, SPI_OK_INSERT);
	}
}

/*
 * After the INSERT ... RETURNING job_id of a new job (as the extension
 * owner): its first offsets, back to the caller's role, the worker woken
 * at commit.  Returns the job_id.
 */
static int32
finish_start(KafkaOwnerContext *oc, int32 *parts, int64 *offs, int nparts)
{
	bool		isnull;
	int32		job_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	insert_offsets(job_id, parts, offs, nparts);
	kafkaEndAsOwner(oc);
	kafkaWakeWorkerAtCommit();
	return job_id;
}

/* start_from, start_time and start_offsets make sense together */
static void
check_start(const char *start_from, bool has_time, bool has_offsets)
{
	if (strcmp(start_from, "earliest") != 0 && strcmp(start_from, "latest") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("start_from must be 'earliest' or 'latest'"),
				 errhint("Start at a time with start_time, or at given offsets with start_offsets.")));
	if (has_time && has_offsets)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give start_time or start_offsets, not both")));
}

/* How a job started, for kafka.ingest_job.start_from */
static char *
start_description(const char *start_from, TimestampTz *start_time, bool has_offsets)
{
	if (start_time)
		return psprintf("time %s", timestamptz_to_str(*start_time));
	if (has_offsets)
		return "offsets";
	return pstrdup(start_from);
}

/*
 * kafka.ingest(source, target, mode, start_from, start_time, start_offsets,
 *   key_columns, envelope, on_error, parallelism) RETURNS int
 */
Datum
kafka_ingest(PG_FUNCTION_ARGS)
{
	Oid			source,
				target,
				owner;
	char	   *mode,
			   *start_from,
			   *envelope,
			   *on_error;
	int32		parallelism;
	bool		upsert;
	List	   *keys = NIL;
	KafkaOptions *opts;
	int32	   *parts;
	int			nparts;
	int64	   *offs;
	Oid			save_userid;
	int			save_sec;
	KafkaOwnerContext oc;
	char	   *start_desc;

	kafkaRequireWorkers();
	for (int i = 0; i < 10; i++)
		if (PG_ARGISNULL(i) && i != 4 && i != 5 && i != 6)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of kafka.ingest must not be null", i + 1)));
	source = PG_GETARG_OID(0);
	target = PG_GETARG_OID(1);
	mode = text_to_cstring(PG_GETARG_TEXT_PP(2));
	start_from = text_to_cstring(PG_GETARG_TEXT_PP(3));
	envelope = text_to_cstring(PG_GETARG_TEXT_PP(7));
	on_error = text_to_cstring(PG_GETARG_TEXT_PP(8));
	parallelism = PG_GETARG_INT32(9);

	check_source(source);
	check_target(target, "start");
	if (strcmp(mode, "append") != 0 && strcmp(mode, "upsert") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mode must be 'append' or 'upsert'")));
	upsert = strcmp(mode, "upsert") == 0;
	if (strcmp(envelope, "none") != 0 && strcmp(envelope, "debezium") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("envelope must be 'none' or 'debezium'")));
	if (strcmp(envelope, "debezium") == 0 && !upsert)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("envelope 'debezium' needs mode 'upsert'"),
				 errhint("Change events are applied to a table by key.")));
	if (strcmp(on_error, "fail") != 0 && strcmp(on_error, "dead_letter") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("on_error must be 'fail' or 'dead_letter'")));
	if (parallelism < 1 || parallelism > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parallelism must be between 1 and 64")));
	check_start(start_from, !PG_ARGISNULL(4), !PG_ARGISNULL(5));
	if (!PG_ARGISNULL(6))
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(6), NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				keys = lappend(keys, pstrdup(NameStr(*DatumGetName(elems[i]))));
		if (!upsert)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key_columns is for mode 'upsert'")));
	}

	/* the job runs as the target's owner: check and plan as that role */
	owner = kafkaRelOwner(target);
	if (pg_class_aclcheck(source, owner, ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner of \"%s\" has no SELECT privilege on \"%s\"",
						get_rel_name(target), get_rel_name(source)),
				 errhint("The job reads the topic as the target table's owner.")));
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	keys = kafkaIngestCheck(source, target, upsert, strcmp(envelope, "debezium") == 0, keys);
	opts = kafkaGetOptions(source, NULL);
	nparts = kafkaTopicPartitions(kafkaGetMeta(opts), opts->topic, opts->timeout_ms, &parts);
	offs = start_offsets(opts, parts, nparts, start_from, !PG_ARGISNULL(4),
						 PG_ARGISNULL(4) ? 0 : PG_GETARG_TIMESTAMPTZ(4),
						 PG_ARGISNULL(5) ? NULL : PG_GETARG_ARRAYTYPE_P(5));
	SetUserIdAndSecContext(save_userid, save_sec);
	if (parallelism > nparts)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parallelism %d exceeds the %d partition(s) of topic \"%s\"", parallelism, nparts, opts->topic),
				 errhint("A worker takes whole partitions: more workers than partitions would idle.")));

	{
		TimestampTz start_time = PG_ARGISNULL(4) ? 0 : PG_GETARG_TIMESTAMPTZ(4);

		start_desc = start_description(start_from, PG_ARGISNULL(4) ? NULL : &start_time, !PG_ARGISNULL(5));
	}

	kafkaBeginAsOwner(&oc);
	{
		Datum		v[10];
		Oid			t[10] = {OIDOID, OIDOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID, INT4OID, TEXTOID, OIDOID, TEXTOID};
		char		n[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		v[0] = ObjectIdGetDatum(source);
		v[1] = ObjectIdGetDatum(target);
		v[2] = CStringGetTextDatum(mode);
		v[3] = CStringGetTextDatum(envelope);
		if (keys)
		{
			Datum	   *kd = palloc(sizeof(Datum) * list_length(keys));
			int			i = 0;
			ListCell   *lc;

			foreach(lc, keys)
				kd[i++] = CStringGetTextDatum(lfirst(lc));
			v[4] = PointerGetDatum(construct_array(kd, i, TEXTOID, -1, false, TYPALIGN_INT));
		}
		else
			n[4] = 'n';
		v[5] = CStringGetTextDatum(on_error);
		v[6] = Int32GetDatum(parallelism);
		v[7] = CStringGetTextDatum(start_desc);
		v[8] = ObjectIdGetDatum(oc.save_userid);
		v[9] = CStringGetTextDatum(opts->topic);
		kafkaSpiExec("INSERT INTO kafka.ingest_job (source, target, mode, envelope, key_columns, on_error, "
					 "parallelism, start_from, created_by, topic) "
					 "VALUES ($1, $2, $3, $4, $5::name[], $6, $7, $8, $9, $10) RETURNING job_id",
					 10, t, v, n, SPI_OK_INSERT_RETURNING);
	}
	PG_RETURN_INT32(finish_start(&oc, parts, offs, nparts));
}

/*
 * kafka.pipeline(name, source, sql, start_from, start_time, start_offsets)
 * RETURNS int: run sql over each new batch of source, as the caller.
 */
Datum
kafka_pipeline(PG_FUNCTION_ARGS)
{
	char	   *name;
	Oid			source;
	char	   *sql;
	char	   *start_from;
	KafkaOptions *opts;
	int32	   *parts;
	int			nparts;
	int64	   *offs;
	KafkaOwnerContext oc;
	SPIPlanPtr	plan;

	kafkaRequireWorkers();
	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument %d of kafka.pipeline must not be null", i + 1)));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	source = PG_GETARG_OID(1);
	sql = text_to_cstring(PG_GETARG_TEXT_PP(2));
	start_from = text_to_cstring(PG_GETARG_TEXT_PP(3));
	check_source(source);
	check_start(start_from, !PG_ARGISNULL(4), !PG_ARGISNULL(5));
	if (pg_class_aclcheck(source, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for foreign table %s", get_rel_name(source))));

	/* the statement must make sense now, as the caller (it runs as the caller) */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("the statement of a pipeline must be one SQL statement: %s", SPI_result_code_string(SPI_result))));
	if (list_length(SPI_plan_get_plan_sources(plan)) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("the statement of a pipeline must be one SQL statement")));
	SPI_finish();

	opts = kafkaGetOptions(source, NULL);
	nparts = kafkaTopicPartitions(kafkaGetMeta(opts), opts->topic, opts->timeout_ms, &parts);
	offs = start_offsets(opts, parts, nparts, start_from, !PG_ARGISNULL(4),
						 PG_ARGISNULL(4) ? 0 : PG_GETARG_TIMESTAMPTZ(4),
						 PG_ARGISNULL(5) ? NULL : PG_GETARG_ARRAYTYPE_P(5));

	kafkaBeginAsOwner(&oc);
	{
		Datum		v[6];
		Oid			t[6] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, OIDOID, TEXTOID};

		v[0] = CStringGetTextDatum(name);
		v[1] = ObjectIdGetDatum(source);
		v[2] = CStringGetTextDatum(sql);
		{
			TimestampTz start_time = PG_ARGISNULL(4) ? 0 : PG_GETARG_TIMESTAMPTZ(4);

			v[3] = CStringGetTextDatum(start_description(start_from, PG_ARGISNULL(4) ? NULL : &start_time,
														 !PG_ARGISNULL(5)));
		}
		v[4] = ObjectIdGetDatum(oc.save_userid);
		if (SPI_execute_with_args("SELECT 1 FROM kafka.ingest_job WHERE name = $1", 1, t, v, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read kafka.ingest_job");
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("pipeline \"%s\" already exists", name)));
		v[5] = CStringGetTextDatum(opts->topic);
		kafkaSpiExec("INSERT INTO kafka.ingest_job (name, source, mode, sql, start_from, created_by, topic) "
					 "VALUES ($1, $2, 'pipeline', $3, $4, $5, $6) RETURNING job_id",
					 6, t, v, NULL, SPI_OK_INSERT_RETURNING);
	}
	PG_RETURN_INT32(finish_start(&oc, parts, offs, nparts));
}

/* Set the state of a job the caller may control */
static void
set_job_state(int32 job_id, const char *state, const char *verb)
{
	KafkaOwnerContext oc;
	Datum		v[2] = {Int32GetDatum(job_id), CStringGetTextDatum(state ? state : "")};
	Oid			t[2] = {INT4OID, TEXTOID};

	kafkaBeginAsOwner(&oc);
	check_job(job_id, verb, &oc);
	lock_job(job_id, state == NULL || strcmp(state, "running") != 0);
	if (state == NULL)
		kafkaSpiExec("DELETE FROM kafka.ingest_job WHERE job_id = $1", 1, t, v, NULL, SPI_OK_DELETE);
	else
		kafkaSpiExec("UPDATE kafka.ingest_job SET state = $2, "
					 "error_partition = CASE WHEN $2 = 'running' THEN NULL ELSE error_partition END, "
					 "error_offset = CASE WHEN $2 = 'running' THEN NULL ELSE error_offset END "
					 "WHERE job_id = $1", 2, t, v, NULL, SPI_OK_UPDATE);
	kafkaEndAsOwner(&oc);
}

/* kafka.stop_ingest(job): the job, its offsets and its dead letters are gone */
Datum
kafka_stop_ingest(PG_FUNCTION_ARGS)
{
	set_job_state(PG_GETARG_INT32(0), NULL, "stop");
	PG_RETURN_VOID();
}

/* kafka.pause_ingest(job): nothing more is written once this commits */
Datum
kafka_pause_ingest(PG_FUNCTION_ARGS)
{
	set_job_state(PG_GETARG_INT32(0), "paused", "pause");
	PG_RETURN_VOID();
}

/* kafka.resume_ingest(job): a paused or failed job consumes again from its offsets */
Datum
kafka_resume_ingest(PG_FUNCTION_ARGS)
{
	kafkaRequireWorkers();
	set_job_state(PG_GETARG_INT32(0), "running", "resume");
	kafkaWakeWorkerAtCommit();
	PG_RETURN_VOID();
}

/* kafka.redrive(job) RETURNS bigint: retry the job's dead letters now */
Datum
kafka_redrive(PG_FUNCTION_ARGS)
{
	int32		job_id = PG_GETARG_INT32(0);
	KafkaOwnerContext oc;
	int64		landed;

	kafkaBeginAsOwner(&oc);
	check_job(job_id, "redrive", &oc);
	lock_job(job_id, false);
	landed = kafkaIngestRedrive(job_id);
	kafkaEndAsOwner(&oc);
	PG_RETURN_INT64(landed);
}
