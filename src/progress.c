/*-------------------------------------------------------------------------
 *
 * progress.c
 *		  Progress records: what a writer committed in Kafka, in the same
 *		  Kafka transaction as its messages, so that after a crash it can
 *		  tell what reached Kafka although PostgreSQL did not record it.
 *
 *		  A progress topic has one partition and cleanup.policy=compact;
 *		  each writer (a stream of the emitter, a pipeline with a
 *		  transactional Kafka sink) writes records under a key of its own,
 *		  and reads back only the last committed one.
 *
 * Invariants:
 *	- The last record is read once every transaction open on the
 *	  partition when we look is decided (last stable offset = high
 *	  watermark), read_committed, from the tail backwards.
 *	- Every wait is bounded by timeout_ms and interruptible.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

/* progress records read per step when searching backwards */
#define PROGRESS_CHUNK 500

/* The result of an admin request on q, or NULL after deadline; destroys q */
static rd_kafka_event_t *
poll_admin_queue(rd_kafka_t *admin, rd_kafka_queue_t *q, int64 deadline)
{
	rd_kafka_event_t *volatile ev = NULL;

	PG_TRY();
	{
		while (ev == NULL && kafkaNowMs() < deadline)
		{
			ev = rd_kafka_queue_poll(q, KAFKA_SLICE_MS);
			kafkaServeLogs(admin);
			if (ev == NULL)
				CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		rd_kafka_queue_destroy(q);
		PG_RE_THROW();
	}
	PG_END_TRY();
	rd_kafka_queue_destroy(q);
	return ev;
}

/* Make the progress topic (one partition, compacted) if it does not exist */
void
kafkaEnsureProgressTopic(KafkaOptions *opts, const char *topic)
{
	rd_kafka_t *rk = kafkaGetMeta(opts);
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	bool		exists = false;
	rd_kafka_t *admin;
	rd_kafka_NewTopic_t *nt;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev = NULL;
	char		errstr[256];
	int64		deadline = kafkaNowMs() + opts->timeout_ms;

	for (;;)
	{
		err = rd_kafka_metadata(rk, 0, rkt, &md, KAFKA_SLICE_MS * 5);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			exists = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
				md->topics[0].partition_cnt > 0;
			err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
			rd_kafka_metadata_destroy(md);
			if (exists || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
				err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
				break;
		}
		kafkaServeLogs(rk);
		CHECK_FOR_INTERRUPTS();
		if (kafkaNowMs() >= deadline)
		{
			rd_kafka_topic_destroy(rkt);
			kafkaReportError(err, psprintf("could not read metadata of the progress topic \"%s\"", topic), NULL);
		}
	}
	rd_kafka_topic_destroy(rkt);
	if (exists)
		return;

	admin = kafkaGetProducer(opts);
	nt = rd_kafka_NewTopic_new(topic, 1, -1, errstr, sizeof(errstr));
	if (nt == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid progress topic \"%s\": %s", topic, errstr)));
	rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
	q = rd_kafka_queue_new(admin);
	rd_kafka_CreateTopics(admin, &nt, 1, NULL, q);
	rd_kafka_NewTopic_destroy(nt);
	ev = poll_admin_queue(admin, q, deadline);
	if (ev == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not create the progress topic \"%s\": no answer from Kafka within %d ms",
						topic, opts->timeout_ms)));
	{
		const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
		size_t		n;
		const rd_kafka_topic_result_t **tres = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;

		err = rd_kafka_event_error(ev);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR && tres && n == 1)
			err = rd_kafka_topic_result_error(tres[0]);
		rd_kafka_event_destroy(ev);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			kafkaReportError(err, psprintf("could not create the progress topic \"%s\"", topic), NULL);
	}
	/* wait until its leader is known, so that the first transaction can use it */
	(void) kafkaMetadata(rk, topic, opts->timeout_ms);
}

/*
 * Read offsets [start, end) of the progress partition; *value gets the last
 * record with this key among them (or is left alone).  Returns whether one
 * was found.
 */
static bool
read_progress_chunk(KafkaHandle *h, const char *topic, const char *key, int64 start, int64 end,
					int64 deadline, int timeout_ms, char **value)
{
	rd_kafka_topic_t *volatile rkt = NULL;
	size_t		key_len = strlen(key);
	volatile bool done = false;
	volatile bool found = false;

	kafkaDrainQueue(h);
	h->in_use = true;
	PG_TRY();
	{
		rkt = rd_kafka_topic_new(h->rk, topic, NULL);
		if (rd_kafka_consume_start_queue(rkt, 0, start, h->queue) != 0)
			kafkaReportError(rd_kafka_last_error(), "could not read the progress topic", topic);
		while (!done)
		{
			rd_kafka_message_t *m = rd_kafka_consume_queue(h->queue, KAFKA_SLICE_MS);

			kafkaServeLogs(h->rk);
			if (m == NULL)
			{
				if (kafkaNowMs() >= deadline)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
							 errmsg("could not read the progress topic \"%s\" within %d ms",
									topic, timeout_ms)));
				CHECK_FOR_INTERRUPTS();
				continue;
			}
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
				done = true;
			else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			{
				rd_kafka_resp_err_t err = m->err;

				rd_kafka_message_destroy(m);
				kafkaReportError(err, "could not read the progress topic", topic);
			}
			else
			{
				if (m->offset < end && m->key_len == key_len && m->payload &&
					memcmp(m->key, key, key_len) == 0)
				{
					*value = pnstrdup(m->payload, m->len);
					found = true;
				}
				if (m->offset >= end - 1)
					done = true;
			}
			rd_kafka_message_destroy(m);
		}
	}
	PG_FINALLY();
	{
		if (rkt)
		{
			rd_kafka_consume_stop(rkt, 0);
			rd_kafka_topic_destroy(rkt);
			rkt = NULL;
		}
		kafkaDrainQueue(h);
		h->in_use = false;
	}
	PG_END_TRY();
	return found;
}

/*
 * The value of the last committed progress record with this key in topic
 * (*value, palloc'd).  Returns false if there is none.
 *
 * First waits until every transaction open on the progress partition when
 * we look is decided (last stable offset = high watermark), since a
 * committed record of ours may lie behind another writer's open
 * transaction.  Then reads backwards in chunks from that offset.
 */
bool
kafkaReadLastProgress(KafkaOptions *opts, const char *topic, const char *key, char **value)
{
	KafkaOptions rc = *opts;
	KafkaOptions ru = *opts;
	int64		low,
				high,
				lso,
				dummy;
	int64		deadline = kafkaNowMs() + opts->timeout_ms;
	int64		end;
	bool		found = false;
	KafkaHandle *h;

	rc.read_committed = true;
	ru.read_committed = false;
	kafkaQueryWatermarks(kafkaGetMeta(&ru), topic, 0, opts->timeout_ms, &low, &high);
	for (;;)
	{
		kafkaQueryWatermarks(kafkaGetMeta(&rc), topic, 0, opts->timeout_ms, &dummy, &lso);
		if (lso >= high)
			break;
		if (kafkaNowMs() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("the progress topic \"%s\" has a transaction open for more than %d ms",
							topic, opts->timeout_ms),
					 errdetail("The progress of a stream or pipeline can only be read once earlier transactions are decided."),
					 errhint("It is retried; Kafka aborts a transaction after transaction.timeout.ms.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, KAFKA_SLICE_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	h = kafkaGetConsumer(&rc);
	end = lso;
	while (!found && end > low)
	{
		int64		start = Max(low, end - PROGRESS_CHUNK);

		if (read_progress_chunk(h, topic, key, start, end, deadline, opts->timeout_ms, value))
			found = true;
		end = start;
	}
	return found;
}
