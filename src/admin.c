/*-------------------------------------------------------------------------
 *
 * admin.c
 *		  SQL-callable helpers: create and delete topics, list the topics of
 *		  a server with partitions and watermarks, watermarks of a foreign
 *		  table.  Admin requests wait on their own queue in short slices.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/htup_details.h"
#include "catalog/pg_foreign_server.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(kafka_create_topic);
PG_FUNCTION_INFO_V1(kafka_delete_topic);
PG_FUNCTION_INFO_V1(kafka_topics);
PG_FUNCTION_INFO_V1(kafka_watermarks);

/* Options of a server named in SQL, checking USAGE like a foreign table does */
static KafkaOptions *
server_options(Name servername)
{
	ForeignServer *server = GetForeignServerByName(NameStr(*servername), false);
	AclResult	aclresult = pg_foreign_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE);

	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);
	return kafkaGetServerOptions(server->serverid);
}

/* Waiting for an admin result in rounds of kafkaWaitUntil */
typedef struct AdminWait
{
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;		/* where the result arrives */
	rd_kafka_event_t *ev;		/* the result, once it came */
} AdminWait;

static KafkaWaitStep
admin_step(void *arg, int slice_ms)
{
	AdminWait  *w = arg;

	w->ev = rd_kafka_queue_poll(w->q, slice_ms);
	if (w->ev != NULL)
		return KAFKA_WAIT_DONE;
	kafkaServeLogs(w->rk);
	return KAFKA_WAIT_AGAIN;
}

/*
 * Run an admin request whose result arrives on q; returns the result event
 * (caller destroys it).  Interruptible: q is destroyed on error.
 */
static rd_kafka_event_t *
wait_admin_result(rd_kafka_t *rk, rd_kafka_queue_t *q, int timeout_ms, const char *what)
{
	AdminWait	w = {rk, q, NULL};

	PG_TRY();
	{
		/* the request carries timeout_ms itself: a margin for its answer */
		if (!kafkaWaitUntil(kafkaNowMs() + timeout_ms + 1000, KAFKA_SLICE_MS, NULL, admin_step, &w))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("%s: no answer from Kafka within %d ms", what, timeout_ms),
					 errhint("Check the server option \"brokers\" and that Kafka is running.")));
	}
	PG_CATCH();
	{
		rd_kafka_queue_destroy(q);
		PG_RE_THROW();
	}
	PG_END_TRY();
	rd_kafka_queue_destroy(q);
	return w.ev;
}

/* Waiting for a topic to show in (or vanish from) metadata */
typedef struct TopicWait
{
	rd_kafka_t *rk;
	const char *topic;
	int			partitions;		/* expected partition count, with leaders */
	bool		gone;			/* wait for the topic to be gone instead */
} TopicWait;

static KafkaWaitStep
topic_step(void *arg, int slice_ms)
{
	TopicWait  *w = arg;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(w->rk, w->topic, NULL);
	const struct rd_kafka_metadata *md;
	bool		ok = false;

	(void) slice_ms;
	/* the request gets 200 ms; between requests the wait sleeps 50 ms */
	if (rd_kafka_metadata(w->rk, 0, rkt, &md, 200) == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		const struct rd_kafka_metadata_topic *t = &md->topics[0];

		if (w->gone)
			ok = t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
		else if (t->err == RD_KAFKA_RESP_ERR_NO_ERROR && t->partition_cnt == w->partitions)
		{
			ok = true;
			for (int i = 0; i < t->partition_cnt; i++)
				if (t->partitions[i].leader < 0)
					ok = false;
		}
		rd_kafka_metadata_destroy(md);
	}
	rd_kafka_topic_destroy(rkt);
	return ok ? KAFKA_WAIT_DONE : KAFKA_WAIT_SLEEP;
}

/* Wait until the topic's metadata shows the expected partition count */
static void
wait_topic_visible(rd_kafka_t *rk, const char *topic, int partitions, int timeout_ms, bool gone)
{
	TopicWait	w = {rk, topic, partitions, gone};

	/* at the deadline: the request itself succeeded; metadata will follow */
	(void) kafkaWaitUntil(kafkaNowMs() + timeout_ms, 50, NULL, topic_step, &w);
}

/*
 * kafka_create_topic(server name, topic text, partitions int, replication_factor int)
 */
Datum
kafka_create_topic(PG_FUNCTION_ARGS)
{
	KafkaOptions *opts = server_options(PG_GETARG_NAME(0));
	char	   *topic = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int			partitions = PG_GETARG_INT32(2);
	int			rf = PG_GETARG_INT32(3);
	rd_kafka_t *rk = kafkaGetProducer(opts);
	rd_kafka_NewTopic_t *nt;
	rd_kafka_AdminOptions_t *ao;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	char		errstr[512];
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **tres;
	size_t		n;
	rd_kafka_resp_err_t err;
	char	   *msg;

	if (partitions < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a topic needs at least one partition")));
	nt = rd_kafka_NewTopic_new(topic, partitions, rf, errstr, sizeof(errstr));
	if (nt == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid topic \"%s\": %s", topic, errstr)));
	ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(ao, opts->timeout_ms, errstr, sizeof(errstr));
	rd_kafka_AdminOptions_set_request_timeout(ao, opts->timeout_ms, errstr, sizeof(errstr));
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_AdminOptions_destroy(ao);

	ev = wait_admin_result(rk, q, opts->timeout_ms, "could not create topic");
	err = rd_kafka_event_error(ev);
	msg = pstrdup(rd_kafka_event_error_string(ev) ? rd_kafka_event_error_string(ev) : "");
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		res = rd_kafka_event_CreateTopics_result(ev);
		tres = rd_kafka_CreateTopics_result_topics(res, &n);
		if (n == 1)
		{
			err = rd_kafka_topic_result_error(tres[0]);
			if (rd_kafka_topic_result_error_string(tres[0]))
				msg = pstrdup(rd_kafka_topic_result_error_string(tres[0]));
		}
	}
	rd_kafka_event_destroy(ev);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		ereport(ERROR,
				(errcode(kafkaErrcode(err)),
				 errmsg("could not create topic \"%s\": %s", topic, msg[0] ? msg : rd_kafka_err2str(err))));
	/* the metadata handle never auto-creates topics */
	wait_topic_visible(kafkaGetMeta(opts), topic, partitions, opts->timeout_ms, false);
	PG_RETURN_VOID();
}

/*
 * kafka_delete_topic(server name, topic text)
 */
Datum
kafka_delete_topic(PG_FUNCTION_ARGS)
{
	KafkaOptions *opts = server_options(PG_GETARG_NAME(0));
	char	   *topic = text_to_cstring(PG_GETARG_TEXT_PP(1));
	rd_kafka_t *rk = kafkaGetProducer(opts);
	rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
	rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev;
	char		errstr[512];
	rd_kafka_resp_err_t err;
	const rd_kafka_topic_result_t **tres;
	size_t		n;

	rd_kafka_AdminOptions_set_operation_timeout(ao, opts->timeout_ms, errstr, sizeof(errstr));
	rd_kafka_DeleteTopics(rk, &dt, 1, ao, q);
	rd_kafka_DeleteTopic_destroy(dt);
	rd_kafka_AdminOptions_destroy(ao);
	ev = wait_admin_result(rk, q, opts->timeout_ms, "could not delete topic");
	err = rd_kafka_event_error(ev);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		tres = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
		if (n == 1)
			err = rd_kafka_topic_result_error(tres[0]);
	}
	rd_kafka_event_destroy(ev);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		kafkaReportError(err, psprintf("could not delete topic \"%s\"", topic), NULL);
	wait_topic_visible(kafkaGetMeta(opts), topic, 0, opts->timeout_ms, true);
	PG_RETURN_VOID();
}

/* Emit (topic, partition, low, high) rows for one topic into a tuplestore */
static void
emit_watermarks(ReturnSetInfo *rsinfo, rd_kafka_t *rk, KafkaOptions *opts, const char *topic, bool with_topic)
{
	int32	   *parts;
	int			n = kafkaTopicPartitions(rk, topic, opts->timeout_ms, &parts);

	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		int64		lo,
					hi;
		int			k = 0;

		kafkaQueryWatermarks(rk, topic, parts[i], opts->timeout_ms, &lo, &hi);
		if (with_topic)
			values[k++] = CStringGetTextDatum(topic);
		values[k++] = Int32GetDatum(parts[i]);
		values[k++] = Int64GetDatum(lo);
		values[k++] = Int64GetDatum(hi);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

static int
topic_name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(lfirst(a), lfirst(b));
}

/*
 * kafka_topics(server name) returns (topic, partition, low, high), internal
 * topics (names starting with "__") left out.
 */
Datum
kafka_topics(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	KafkaOptions *opts = server_options(PG_GETARG_NAME(0));
	rd_kafka_t *rk = kafkaGetMeta(opts);
	const struct rd_kafka_metadata *md;
	List	   *topics = NIL;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	md = kafkaMetadata(rk, NULL, opts->timeout_ms);
	for (int i = 0; i < md->topic_cnt; i++)
		if (strncmp(md->topics[i].topic, "__", 2) != 0)
			topics = lappend(topics, pstrdup(md->topics[i].topic));
	rd_kafka_metadata_destroy(md);
	list_sort(topics, topic_name_cmp);
	foreach(lc, topics)
		emit_watermarks(rsinfo, rk, opts, lfirst(lc), true);
	return (Datum) 0;
}

/*
 * kafka_watermarks(regclass) returns (partition, low, high) of a foreign
 * table's topic; also kafka_get_watermarks(regclass), adjust/kafka_fdw's
 * name, whose columns are (partition, offset_low, offset_high).
 */
Datum
kafka_watermarks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	KafkaOptions *opts;
	AclResult	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_TABLE, get_rel_name(relid));
	/* another relation's options are no Kafka options (and no foreign table's: an error) */
	kafkaRequireKafkaTable(relid);
	opts = kafkaGetOptions(relid, NULL);
	InitMaterializedSRF(fcinfo, 0);
	emit_watermarks(rsinfo, kafkaGetMeta(opts), opts, opts->topic, false);
	return (Datum) 0;
}
