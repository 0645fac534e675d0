/*-------------------------------------------------------------------------
 *
 * producer.c
 *		  The producer pipeline: hands messages to librdkafka, tracks every
 *		  message's delivery report, waits for them, and says how many
 *		  failed and why.  Used by INSERT and COPY (modify.c) and by
 *		  anything else that writes (the table-change emitter), with no
 *		  executor state: a "producer" is one statement's worth of messages
 *		  on one writer handle.
 *
 * How a statement knows every message reached Kafka: each message carries
 * an opaque ticket (producer id, message number).  librdkafka hands the
 * broker's acknowledgement or the failure of every message to
 * delivery_report, which runs inside rd_kafka_poll() on the backend thread
 * and only counts into the producer's state.  Messages are produced first
 * (512 at a time with rd_kafka_produce_batch, without waiting for the
 * broker), then kafkaProducerWait waits, interruptibly, until every message
 * is acknowledged or failed, and kafkaProducerCheck raises an ERROR that
 * says how many failed and why.  librdkafka fails a message it could not
 * deliver within message.timeout.ms (the timeout_ms the handle was made
 * with), so the wait is bounded.  kafkaProducerWaitMessage waits for one
 * message (RETURNING: its partition and offset).
 *
 * Use outside the executor (the emitter: a Kafka transaction of its own):
 *		h = kafkaProducerHandle(opts, txn_id);	-- transactional.id of its choice
 *		if (!h->txn_ready) kafkaTxnInit(h, timeout_ms);
 *		h->pinned = h->in_use = true;			-- kept busy across producers
 *		p = kafkaProducerBegin(h, topic, timeout_ms, KAFKA_PRODUCE_TXN, cxt);
 *		rd_kafka_begin_transaction(h->rk);		-- after the topic was checked
 *		kafkaProducerSend(p, NULL or kafkaProducerTopic(p, other), ...);
 *		kafkaProducerWait(p); kafkaProducerCheck(p); kafkaProducerEnd(p);
 *		commit (in slices of kafkaSliceMs), or abort; then h->pinned = false.
 *
 * Invariants:
 *	- delivery_report never calls PostgreSQL: it finds the producer in a
 *	  static list by id and counts.  Reports of producers that are gone (an
 *	  earlier statement that failed) find nothing and are ignored.
 *	- A producer leaves that list when its memory context is reset or
 *	  deleted, also after an ERROR; if messages were still outstanding then,
 *	  a producer outside a Kafka transaction purges them from the handle,
 *	  so that no later statement waits for them.
 *	- A handle is in_use while a producer, a Kafka transaction of the
 *	  PostgreSQL transaction (xact.c) or its holder (pinned) uses it.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include <pthread.h>
#include <time.h>

#include "lib/ilist.h"
#include "miscadmin.h"
#include "utils/memutils.h"

/* Messages handed to librdkafka in one rd_kafka_produce_batch() call */
#define KAFKA_PRODUCE_BATCH 512

/* a topic checked this recently by the same handle is not asked again */
#define KAFKA_TOPIC_RECHECK_MS 1000

/*
 * The opaque of a message: producer id in the high bits, message number in
 * the low bits.
 */
#if SIZEOF_VOID_P >= 8
#define TICKET_SEQ_BITS 40
#else
#define TICKET_SEQ_BITS 20
#endif
#define TICKET_SEQ_MASK ((((uintptr_t) 1) << TICKET_SEQ_BITS) - 1)
#define TICKET_ID_MASK ((((uintptr_t) 1) << (SIZEOF_VOID_P * 8 - TICKET_SEQ_BITS)) - 1)

typedef struct Sender Sender;

/* One statement's worth of messages on one writer handle */
struct KafkaProducer
{
	dlist_node	node;			/* in active_producers while registered */
	uintptr_t	id;				/* tags this producer's messages */
	bool		registered;		/* in active_producers */
	KafkaHandle *h;				/* the writer handle */
	KafkaProduceMode mode;		/* transaction the messages belong to */
	int			timeout_ms;		/* bound of the waits (message.timeout.ms) */
	const char *topic;			/* default topic, named in messages */
	rd_kafka_topic_t *rkt;		/* its topic handle */
	int			npartitions;	/* partitions of that topic */
	List	   *topics;			/* rd_kafka_topic_t *s of kafkaProducerTopic */
	MemoryContext cxt;			/* where the producer lives */
	MemoryContextCallback cleanup;

	/*
	 * Messages waiting to be handed over in one rd_kafka_produce_batch()
	 * call (all to pending_rkt): librdkafka then reads its clocks and takes
	 * its locks once per call instead of once per message.  Messages with a
	 * timestamp or headers, which that call cannot carry, messages waited
	 * for one by one, and messages to another topic go after the pending
	 * ones, so the order of messages is kept.
	 */
	rd_kafka_message_t *pending;	/* [KAFKA_PRODUCE_BATCH] */
	int			npending;
	rd_kafka_topic_t *pending_rkt;	/* the topic of the pending messages */
	MemoryContext pendcxt;		/* their payloads and keys */

	int64		nsent;			/* messages sent (ticket numbers) */
	int64		produced;		/* messages handed to librdkafka */
	int64		delivered;		/* acknowledged by the broker */
	int64		failed;			/* failed */
	rd_kafka_resp_err_t first_err;	/* why the first one failed */
	int64		first_failed_seq;	/* its number (1-based) */
	const char *first_failed_topic; /* its topic (palloc'd in cxt) */

	Sender	   *sender;			/* kafkaProducerOffload's thread, or NULL */
	int64		sender_taken;	/* its messages counted in produced so far */

	/* kafkaProducerWaitMessage: the report of the message waited for */
	uint64		wait_seq;
	bool		wait_done;
	int32		ret_partition;
	int64		ret_offset;
	int64		ret_timestamp;	/* ms, or -1 */
};

/* Producers that may still receive delivery reports (usually one) */
static dlist_head active_producers = DLIST_STATIC_INIT(active_producers);
static uintptr_t last_producer_id = 0;

/*
 * librdkafka's delivery report callback of writer handles (given to
 * connection.c by kafkaProducerHandle).  Runs inside rd_kafka_poll()/
 * rd_kafka_flush() on the backend thread; touches nothing but the state of
 * the producer the message belongs to, if it still exists.
 */
static void
delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	uintptr_t	ticket = (uintptr_t) m->_private;
	uintptr_t	id = ticket >> TICKET_SEQ_BITS;
	uint64		seq = ticket & TICKET_SEQ_MASK;
	dlist_iter	iter;

	(void) rk;
	(void) opaque;
	dlist_foreach(iter, &active_producers)
	{
		KafkaProducer *p = dlist_container(KafkaProducer, node, iter.cur);

		if (p->id != id)
			continue;
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			if (p->failed++ == 0)
			{
				p->first_err = m->err;
				p->first_failed_seq = (int64) seq;
				/* the name is copied later: no palloc here */
				p->first_failed_topic = NULL;
				if (m->rkt && m->rkt != p->rkt)
					p->first_failed_topic = rd_kafka_topic_name(m->rkt);
			}
		}
		else
			p->delivered++;
		if (seq == (p->wait_seq & TICKET_SEQ_MASK))
		{
			rd_kafka_timestamp_type_t tstype;

			p->wait_done = true;
			p->ret_partition = m->partition;
			p->ret_offset = m->offset;
			p->ret_timestamp = rd_kafka_message_timestamp(m, &tstype);
			if (tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
				p->ret_timestamp = -1;
		}
		return;
	}
}

/*
 * The writer handle for these options, its delivery reports routed to this
 * file.  txn_id: NULL for INSERT's handles (a transactional one, with the
 * session's transactional.id, if the options say transactional), or the
 * transactional.id of a transactional producer the caller runs itself.
 */
KafkaHandle *
kafkaProducerHandle(KafkaOptions *opts, const char *txn_id)
{
	return kafkaGetWriter(opts, txn_id, delivery_report);
}

/* ---------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------
 */

static int
failure_errcode(rd_kafka_resp_err_t err)
{
	switch (err)
	{
		case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
		case RD_KAFKA_RESP_ERR__TIMED_OUT:
		case RD_KAFKA_RESP_ERR__TRANSPORT:
		case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
			return ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION;
		default:
			return kafkaErrcode(err);
	}
}

/* A hint for a delivery failure, or NULL */
static const char *
failure_hint(rd_kafka_resp_err_t err)
{
	switch (failure_errcode(err))
	{
		case ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION:
			return "Check the server option \"brokers\" and that Kafka is running; a message is given up after the option \"timeout_ms\".";
		case ERRCODE_PROGRAM_LIMIT_EXCEEDED:
			return "The message is larger than Kafka accepts: see the librdkafka property \"message.max.bytes\" and the topic's max.message.bytes.";
		case ERRCODE_FDW_TABLE_NOT_FOUND:
			return "Create the topic, for example with kafka_create_topic(server, topic, partitions).";
		default:
			return NULL;
	}
}

/*
 * Raise an ERROR if any message failed: how many, why the first one did,
 * and what became of the others.
 */
void
kafkaProducerCheck(KafkaProducer *p)
{
	const char *hint;
	const char *topic;

	kafkaServeLogs(p->h->rk);
	if (p->failed == 0)
		return;
	hint = failure_hint(p->first_err);
	topic = p->first_failed_topic ? p->first_failed_topic : p->topic;
	ereport(ERROR,
			(errcode(failure_errcode(p->first_err)),
			 errmsg("could not write " INT64_FORMAT " of " INT64_FORMAT " messages to Kafka topic \"%s\": %s",
					p->failed, p->produced, topic, rd_kafka_err2str(p->first_err)),
			 p->mode == KAFKA_PRODUCE_XACT ?
			 errdetail("The first failed message is row " INT64_FORMAT ". The Kafka transaction is aborted with the PostgreSQL transaction; none of its messages become visible to read_committed consumers.",
					   p->first_failed_seq) :
			 p->mode == KAFKA_PRODUCE_TXN ?
			 errdetail("The first failed message is message " INT64_FORMAT ". None of the messages of an aborted Kafka transaction become visible to read_committed consumers.",
					   p->first_failed_seq) :
			 p->first_err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ?
			 errdetail("The first failed message is row " INT64_FORMAT ". " INT64_FORMAT " messages of this statement were acknowledged and stay in the topic; a message that timed out may or may not have been written.",
					   p->first_failed_seq, p->delivered) :
			 errdetail("The first failed message is row " INT64_FORMAT ". " INT64_FORMAT " messages of this statement were acknowledged and stay in the topic.",
					   p->first_failed_seq, p->delivered),
			 hint ? errhint("%s", hint) : 0));
}

/* ---------------------------------------------------------------------
 * Waiting for delivery reports
 * ---------------------------------------------------------------------
 */

static inline int64
outstanding(KafkaProducer *p)
{
	return p->produced - p->delivered - p->failed;
}

/*
 * One round of waiting for a producer: rd_kafka_flush sends what lingers at
 * once and serves the reports; done when none is outstanding.
 */
static KafkaWaitStep
all_flushed(void *arg, int slice_ms)
{
	KafkaProducer *p = arg;

	(void) rd_kafka_flush(p->h->rk, Min(slice_ms, 20));
	kafkaServeLogs(p->h->rk);
	return outstanding(p) <= 0 ? KAFKA_WAIT_DONE : KAFKA_WAIT_AGAIN;
}

/*
 * Wait until every message handed to librdkafka is acknowledged or failed,
 * interruptibly, in short rd_kafka_flush calls: flushing sends what waits
 * for linger.ms at once (the emitter's producers linger a second: see
 * kafkaHandleConfig), so no wait ever lasts a linger.  Bounded: librdkafka fails undelivered
 * messages after message.timeout.ms (= timeout_ms); the margin covers a
 * report in flight.  Does not look at failures.
 */
static void
wait_all(KafkaProducer *p)
{
	if (kafkaWaitUntil(kafkaNowMs() + p->timeout_ms + 5000, KAFKA_SLICE_MS, NULL, all_flushed, p))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("no acknowledgement from Kafka for " INT64_FORMAT " of " INT64_FORMAT " messages to topic \"%s\" within %d ms",
					outstanding(p), p->produced, p->topic, p->timeout_ms),
			 errhint("Check that Kafka is running; the wait is bounded by the option \"timeout_ms\".")));
}

static void sender_stop(KafkaProducer *p);

/* Wait for everything, then raise the ERROR that says what failed */
static void
finish(KafkaProducer *p)
{
	/* a sender thread takes no more, and its count is final */
	if (p->sender)
		sender_stop(p);
	wait_all(p);
	kafkaProducerCheck(p);
}

/* The queue of librdkafka is full: serve reports until there is room */
static void
wait_for_room(KafkaProducer *p)
{
	kafkaServeLogs(p->h->rk);
	if (p->failed > 0)
		finish(p);
	kafkaWaitHandleEvent(p->h, KAFKA_SLICE_MS);
	kafkaServeLogs(p->h->rk);
}

/* ---------------------------------------------------------------------
 * Producing
 * ---------------------------------------------------------------------
 */

/* One message refused at once (too large, fatal producer state, ...) */
static void
refused(KafkaProducer *p, rd_kafka_resp_err_t err, int64 seq, rd_kafka_topic_t *rkt)
{
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		kafkaHandleFailed(p->h);
	p->produced++;
	if (p->failed++ == 0)
	{
		p->first_err = err;
		p->first_failed_seq = seq;
		p->first_failed_topic = rkt != p->rkt ? rd_kafka_topic_name(rkt) : NULL;
	}
}

/*
 * Hand the pending messages to librdkafka (which copies them).  A full
 * queue is waited out and the rest retried: after the first message refused
 * for a full queue, rd_kafka_produce_batch refuses all later ones too, so
 * the retry keeps the order.  Any other refusal ends the statement.
 */
static void
flush_pending(KafkaProducer *p)
{
	int			off = 0;
	int64		accepted = 0;

	while (off < p->npending)
	{
		int			i;

		(void) rd_kafka_produce_batch(p->pending_rkt, RD_KAFKA_PARTITION_UA,
									  RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_PARTITION,
									  &p->pending[off], p->npending - off);
		for (i = off; i < p->npending; i++)
		{
			rd_kafka_resp_err_t err = p->pending[i].err;

			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
				refused(p, err, (int64) ((uintptr_t) p->pending[i]._private & TICKET_SEQ_MASK),
						p->pending_rkt);
			else
			{
				p->produced++;
				accepted++;
			}
		}
		off = i;
		if (p->failed > 0)
			break;
		if (off < p->npending)
			wait_for_room(p);
	}
	p->npending = 0;
	MemoryContextReset(p->pendcxt);
	if (p->mode == KAFKA_PRODUCE_XACT)
		kafkaXactProduced(accepted);
	if (p->failed > 0)
		finish(p);				/* waits for the rest, then raises */
}

/* Queue a message for flush_pending, copying what it points to */
static void
add_pending(KafkaProducer *p, rd_kafka_topic_t *rkt, int32 partition,
			const char *value, size_t vlen, const char *key, size_t klen, void *ticket)
{
	rd_kafka_message_t *m;

	if (p->npending > 0 && p->pending_rkt != rkt)
		flush_pending(p);		/* one topic per batch call */
	p->pending_rkt = rkt;
	m = &p->pending[p->npending++];
	memset(m, 0, sizeof(*m));
	m->partition = partition;
	if (value)
	{
		m->payload = MemoryContextAlloc(p->pendcxt, Max(vlen, 1));
		memcpy(m->payload, value, vlen);
		m->len = vlen;
	}
	if (key)
	{
		m->key = MemoryContextAlloc(p->pendcxt, Max(klen, 1));
		memcpy(m->key, key, klen);
		m->key_len = klen;
	}
	m->_private = ticket;
	if (p->npending >= KAFKA_PRODUCE_BATCH)
		flush_pending(p);
}

/*
 * Hand one message (copied) to librdkafka with rd_kafka_producev: its
 * headers, if any, become a list that librdkafka takes with the message,
 * or that is destroyed here if it refuses the message.  Calls librdkafka
 * only, never PostgreSQL: the backend's kafkaProducerSend and the sender
 * thread both use it.
 */
static rd_kafka_resp_err_t
producev_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32 partition,
			 const char *key, size_t klen, const char *value, size_t vlen,
			 const KafkaHeader *hdrs, int nhdrs, int64 ts_ms, void *ticket)
{
	rd_kafka_headers_t *rh = NULL;
	rd_kafka_resp_err_t err;

	if (nhdrs > 0)
	{
		rh = rd_kafka_headers_new(nhdrs);
		for (int i = 0; i < nhdrs; i++)
			rd_kafka_header_add(rh, hdrs[i].name, -1, hdrs[i].value, hdrs[i].value ? hdrs[i].len : 0);
	}
	/* NULL headers: none */
	err = rd_kafka_producev(rk,
							RD_KAFKA_V_RKT(rkt),
							RD_KAFKA_V_PARTITION(partition),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_VALUE((void *) value, vlen),
							RD_KAFKA_V_KEY(key, klen),
							RD_KAFKA_V_TIMESTAMP(ts_ms),
							RD_KAFKA_V_HEADERS(rh),
							RD_KAFKA_V_OPAQUE(ticket),
							RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR && rh)
		rd_kafka_headers_destroy(rh);	/* not taken by librdkafka */
	return err;
}

/* ---------------------------------------------------------------------
 * The sender thread (kafkaProducerOffload)
 *
 * rd_kafka_producev of a message with headers costs the backend about as
 * much as encoding the emitter's change event does (its allocations,
 * locks and clock reads; rd_kafka_produce_batch of librdkafka 2.0 cannot
 * carry headers).  A producer that sends a batch at once can therefore
 * hand its messages to librdkafka on a thread of its own while the
 * backend encodes the next ones.  The backend copies each message into a
 * ring (SENDER_RING_BYTES of bytes, SENDER_SLOTS messages) and publishes
 * them SENDER_HANDOFF at a time; the thread takes them in order.
 *
 * Invariants:
 *	- The thread calls librdkafka only, never PostgreSQL, with every signal
 *	  blocked (kafkaStartThread).  Delivery reports are still served on the
 *	  backend thread (rd_kafka_poll), so only the backend touches the
 *	  producer's counts.
 *	- What the two share is read and written under the mutex; the bytes
 *	  and the slot of a message are written before it is published and
 *	  reused only after the thread said it is done with them.
 *	- A message refused at once (anything but a full queue) stops the
 *	  thread taking more; the backend then raises the ERROR, as for a
 *	  message it refused itself.
 *	- The thread is stopped and joined before the producer ends, also
 *	  after an ERROR (producer_cleanup), so it never outlives the topic
 *	  handles or the ring.
 * ---------------------------------------------------------------------
 */
#define SENDER_RING_BYTES (4 * 1024 * 1024)
#define SENDER_SLOTS 8192
#define SENDER_HANDOFF 64
#define SENDER_MAX_HEADERS 4
/* a larger message is sent by the backend itself, after the thread took the earlier ones */
#define SENDER_MAX_MESSAGE (SENDER_RING_BYTES / 8)

/*
 * One message in the ring: its key, value and header names (with their
 * NUL) and values are copies in the ring, which the pointers point to
 */
typedef struct SenderSlot
{
	uint64		end;			/* the ring position after its bytes */
	rd_kafka_topic_t *rkt;
	int32		partition;
	const char *key;
	size_t		klen;
	const char *value;
	size_t		vlen;
	KafkaHeader hdrs[SENDER_MAX_HEADERS];
	int			nhdrs;
	int64		ts_ms;
	void	   *ticket;
} SenderSlot;

struct Sender
{
	pthread_t	thread;
	pthread_mutex_t mutex;
	pthread_cond_t work;		/* to the thread: published, or stop */
	pthread_cond_t taken;		/* to the backend: the thread took messages */
	rd_kafka_t *rk;
	char	   *ring;			/* SENDER_RING_BYTES */
	SenderSlot *slots;			/* SENDER_SLOTS */

	/* under the mutex */
	uint64		head;			/* messages published to the thread */
	uint64		tail;			/* messages the thread is done with */
	uint64		done_pos;		/* the ring position after them */
	bool		stop;			/* the thread is to end */
	bool		failed;			/* a message was refused: the thread takes no more */
	rd_kafka_resp_err_t err;	/* why */
	void	   *err_ticket;		/* its ticket */
	rd_kafka_topic_t *err_rkt;	/* its topic */

	/* the backend's own */
	uint64		staged;			/* messages written (head <= staged) */
	uint64		wpos;			/* ring position for the next message */
	uint64		tail_seen;		/* tail and done_pos as last read */
	uint64		done_seen;
};

/*
 * The ring and slots of the last sender, kept for the next one: a process
 * that sends a batch sends the next one soon, and a fresh 4 MB allocation
 * (mmap) would cost a page fault per 4 kB written.
 */
static char *spare_ring = NULL;
static SenderSlot *spare_slots = NULL;

/* Hand one message of the ring to librdkafka, waiting out a full queue */
static rd_kafka_resp_err_t
sender_produce(Sender *s, const SenderSlot *m)
{
	for (;;)
	{
		rd_kafka_resp_err_t err = producev_one(s->rk, m->rkt, m->partition, m->key, m->klen,
											   m->value, m->vlen, m->hdrs, m->nhdrs,
											   m->ts_ms, m->ticket);
		bool		stop;
		struct timespec pause = {0, 1000 * 1000};

		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return err;
		/* the backend serves delivery reports meanwhile (sender_wait) */
		pthread_mutex_lock(&s->mutex);
		stop = s->stop;
		pthread_mutex_unlock(&s->mutex);
		if (stop)
			return err;
		nanosleep(&pause, NULL);
	}
}

static void *
sender_main(void *arg)
{
	Sender	   *s = arg;
	uint64		next;

	pthread_mutex_lock(&s->mutex);
	next = s->tail;
	while (!s->stop)
	{
		uint64		upto;
		bool		stop = false;

		if (next == s->head)
		{
			pthread_cond_wait(&s->work, &s->mutex);
			continue;
		}
		upto = s->head;
		pthread_mutex_unlock(&s->mutex);
		while (next < upto && !stop)
		{
			const SenderSlot *m = &s->slots[next % SENDER_SLOTS];
			rd_kafka_resp_err_t err = sender_produce(s, m);

			if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
			{
				/* refused (or stopped while the queue was full): take no more */
				pthread_mutex_lock(&s->mutex);
				s->tail = next;
				if (!s->stop)
				{
					s->failed = true;
					s->err = err;
					s->err_ticket = m->ticket;
					s->err_rkt = m->rkt;
				}
				pthread_cond_signal(&s->taken);
				while (!s->stop)
					pthread_cond_wait(&s->work, &s->mutex);
				pthread_mutex_unlock(&s->mutex);
				return NULL;
			}
			next++;
			if (next % SENDER_HANDOFF == 0 || next == upto)
			{
				pthread_mutex_lock(&s->mutex);
				s->tail = next;
				s->done_pos = m->end;
				stop = s->stop;
				pthread_cond_signal(&s->taken);
				pthread_mutex_unlock(&s->mutex);
			}
		}
		pthread_mutex_lock(&s->mutex);
	}
	pthread_mutex_unlock(&s->mutex);
	return NULL;
}

/* Count the messages the thread handed to librdkafka since the last call */
static void
sender_count(KafkaProducer *p)
{
	int64		n = (int64) p->sender->tail_seen - p->sender_taken;

	p->produced += n;
	p->sender_taken += n;
}

/* Free a sender whose thread has ended (or never ran); its ring is kept as the spare */
static void
sender_release(Sender *s)
{
	pthread_cond_destroy(&s->taken);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->mutex);
	if (spare_ring == NULL && s->ring && s->slots)
	{
		spare_ring = s->ring;
		spare_slots = s->slots;
	}
	else
	{
		free(s->ring);
		free(s->slots);
	}
	free(s);
}

/*
 * Stop and join the thread, count what it took and release the sender.
 * Never raises: also runs in producer_cleanup after an ERROR.
 */
static void
sender_stop(KafkaProducer *p)
{
	Sender	   *s = p->sender;

	pthread_mutex_lock(&s->mutex);
	s->stop = true;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mutex);
	pthread_join(s->thread, NULL);
	s->tail_seen = s->tail;
	sender_count(p);
	sender_release(s);
	p->sender = NULL;
}

/*
 * Publish the written messages to the thread and see how far it got; a
 * message it refused ends the statement (after the others are reported).
 */
static void
sender_publish(KafkaProducer *p)
{
	Sender	   *s = p->sender;
	bool		failed;

	pthread_mutex_lock(&s->mutex);
	if (s->head != s->staged)
	{
		s->head = s->staged;
		pthread_cond_signal(&s->work);
	}
	s->tail_seen = s->tail;
	s->done_seen = s->done_pos;
	failed = s->failed;
	pthread_mutex_unlock(&s->mutex);
	sender_count(p);
	if (failed)
	{
		rd_kafka_resp_err_t err = s->err;
		uintptr_t	ticket = (uintptr_t) s->err_ticket;
		rd_kafka_topic_t *rkt = s->err_rkt;

		sender_stop(p);
		refused(p, err, (int64) (ticket & TICKET_SEQ_MASK), rkt);
		finish(p);				/* waits for the others, then raises */
	}
}

/*
 * Wait until the thread is done with the first upto messages and with the
 * ring up to position pos, serving delivery reports (which make room in
 * librdkafka's queue for the thread) and interrupts.
 */
static void
sender_wait(KafkaProducer *p, uint64 upto, uint64 pos)
{
	Sender	   *s = p->sender;

	for (;;)
	{
		struct timespec deadline;

		sender_publish(p);
		if (s->tail_seen >= upto && s->done_seen >= pos)
			return;
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += 10 * 1000 * 1000;
		if (deadline.tv_nsec >= 1000 * 1000 * 1000)
		{
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000 * 1000 * 1000;
		}
		pthread_mutex_lock(&s->mutex);
		if ((s->tail < upto || s->done_pos < pos) && !s->failed)
			(void) pthread_cond_timedwait(&s->taken, &s->mutex, &deadline);
		pthread_mutex_unlock(&s->mutex);
		kafkaServeLogs(p->h->rk);
		if (p->failed > 0)
			finish(p);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Bytes a message takes in the ring; the header names' lengths in name_len */
static size_t
sender_size(const char *key, size_t klen, const char *value, size_t vlen,
			const KafkaHeader *hdrs, int nhdrs, size_t *name_len)
{
	size_t		n = (key ? klen : 0) + (value ? vlen : 0);

	for (int i = 0; i < nhdrs; i++)
	{
		name_len[i] = strlen(hdrs[i].name);
		n += name_len[i] + 1 + (hdrs[i].value ? hdrs[i].len : 0);
	}
	return n;
}

/* Copy bytes into the ring at *b; returns where they are */
static inline char *
ring_copy(char **b, const void *data, size_t len)
{
	char	   *at = *b;

	memcpy(at, data, len);
	*b += len;
	return at;
}

/* Copy a message into the ring for the thread (see kafkaProducerSend) */
static void
sender_put(KafkaProducer *p, rd_kafka_topic_t *rkt, int32 partition,
		   const char *key, size_t klen, const char *value, size_t vlen,
		   const KafkaHeader *hdrs, int nhdrs, const size_t *name_len,
		   int64 ts_ms, void *ticket, size_t need)
{
	Sender	   *s = p->sender;
	uint64		start = s->wpos;
	SenderSlot *m;
	char	   *b;

	/* contiguous: a message that does not fit before the ring's end starts over */
	if (start % SENDER_RING_BYTES + need > SENDER_RING_BYTES)
		start += SENDER_RING_BYTES - start % SENDER_RING_BYTES;
	if (s->staged - s->tail_seen >= SENDER_SLOTS || start + need - s->done_seen > SENDER_RING_BYTES)
		sender_wait(p, s->staged + 1 > SENDER_SLOTS ? s->staged + 1 - SENDER_SLOTS : 0,
					start + need > SENDER_RING_BYTES ? start + need - SENDER_RING_BYTES : 0);

	m = &s->slots[s->staged % SENDER_SLOTS];
	m->end = start + need;
	m->rkt = rkt;
	m->partition = partition;
	m->ts_ms = ts_ms;
	m->ticket = ticket;
	b = s->ring + start % SENDER_RING_BYTES;
	m->klen = key ? klen : 0;
	m->key = key ? ring_copy(&b, key, klen) : NULL;
	m->vlen = value ? vlen : 0;
	m->value = value ? ring_copy(&b, value, vlen) : NULL;
	m->nhdrs = nhdrs;
	for (int i = 0; i < nhdrs; i++)
	{
		m->hdrs[i].name = ring_copy(&b, hdrs[i].name, name_len[i] + 1);
		m->hdrs[i].len = hdrs[i].value ? hdrs[i].len : 0;
		m->hdrs[i].value = hdrs[i].value ? ring_copy(&b, hdrs[i].value, hdrs[i].len) : NULL;
	}
	s->staged++;
	s->wpos = m->end;
	if (s->staged - s->head >= SENDER_HANDOFF)
		sender_publish(p);
}

/*
 * From now on p hands its messages to librdkafka on a thread of its own
 * (see above), until kafkaProducerWait or its end.  For producers that
 * send many messages at once; not for INSERT's (KAFKA_PRODUCE_XACT), whose
 * counts the PostgreSQL transaction keeps.  If the thread cannot be made,
 * p goes on sending on the backend thread, as before.
 */
void
kafkaProducerOffload(KafkaProducer *p)
{
	Sender	   *s;

	if (p->sender || p->mode == KAFKA_PRODUCE_XACT)
		return;
	if (p->npending > 0)
		flush_pending(p);
	s = calloc(1, sizeof(Sender));
	if (s == NULL)
		return;
	if (spare_ring)
	{
		s->ring = spare_ring;
		s->slots = spare_slots;
		spare_ring = NULL;
		spare_slots = NULL;
	}
	else
	{
		s->ring = malloc(SENDER_RING_BYTES);
		s->slots = malloc(sizeof(SenderSlot) * SENDER_SLOTS);
	}
	s->rk = p->h->rk;
	pthread_mutex_init(&s->mutex, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->taken, NULL);
	if (s->ring == NULL || s->slots == NULL || kafkaStartThread(&s->thread, sender_main, s) != 0)
	{
		elog(DEBUG1, "kafka_fdw: could not start a sender thread: messages are sent by the backend");
		sender_release(s);
		return;
	}
	p->sender = s;
	p->sender_taken = 0;
}

/*
 * Send one message: queue it for the next rd_kafka_produce_batch call, or
 * hand it to librdkafka at once with producev (a timestamp or headers, or
 * wait: it is to be waited for with kafkaProducerWaitMessage).  Does not
 * wait for the broker.  Returns the message's number (1-based).
 *
 * rkt: NULL for the producer's topic, or a handle from kafkaProducerTopic.
 * partition: RD_KAFKA_PARTITION_UA to let the partitioner choose.
 * key, value: NULL for none (a NULL value is a tombstone); copied.
 * ts_ms: 0 for the time of sending.
 */
int64
kafkaProducerSend(KafkaProducer *p, rd_kafka_topic_t *rkt, int32 partition,
				  const char *key, size_t klen, const char *value, size_t vlen,
				  const KafkaHeader *hdrs, int nhdrs, int64 ts_ms, bool wait)
{
	uint64		seq = (uint64) ++p->nsent;
	void	   *ticket = (void *) ((p->id << TICKET_SEQ_BITS) | (uintptr_t) (seq & TICKET_SEQ_MASK));

	Assert(p->registered);
	if (rkt == NULL)
		rkt = p->rkt;
	if (wait)
	{
		p->wait_done = false;
		p->wait_seq = seq;
	}
	if (p->sender)
	{
		size_t		name_len[SENDER_MAX_HEADERS];

		if (!wait && nhdrs <= SENDER_MAX_HEADERS)
		{
			size_t		need = sender_size(key, klen, value, vlen, hdrs, nhdrs, name_len);

			if (need <= SENDER_MAX_MESSAGE)
			{
				sender_put(p, rkt, partition, key, klen, value, vlen, hdrs, nhdrs, name_len,
						   ts_ms, ticket, need);
				return (int64) seq;
			}
		}
		/* sent here, after the thread's: the order of messages is kept */
		sender_wait(p, p->sender->staged, p->sender->wpos);
		sender_stop(p);
	}
	if (!wait && ts_ms == 0 && nhdrs == 0)
	{
		add_pending(p, rkt, partition, value, vlen, key, klen, ticket);
		return (int64) seq;
	}
	if (p->npending > 0)
		flush_pending(p);		/* keep the order of messages */

	for (;;)
	{
		rd_kafka_resp_err_t err = producev_one(p->h->rk, rkt, partition, key, klen, value, vlen,
											   hdrs, nhdrs, ts_ms, ticket);

		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		{
			wait_for_room(p);
			continue;
		}
		refused(p, err, (int64) seq, rkt);
		finish(p);				/* waits for the rest, then raises */
	}
	p->produced++;
	if (p->mode == KAFKA_PRODUCE_XACT)
		kafkaXactProduced(1);
	return (int64) seq;
}

/*
 * Fail fast: serve delivery reports, and raise the ERROR of a failure
 * reported already (after waiting for the other messages).
 */
void
kafkaProducerPoll(KafkaProducer *p)
{
	if (p->sender)
		sender_publish(p);
	kafkaServeLogs(p->h->rk);
	if (p->failed > 0)
		finish(p);
	CHECK_FOR_INTERRUPTS();
}

/* One round of kafkaProducerWaitMessage */
static KafkaWaitStep
message_reported(void *arg, int slice_ms)
{
	KafkaProducer *p = arg;

	(void) slice_ms;
	(void) rd_kafka_flush(p->h->rk, 20);
	kafkaServeLogs(p->h->rk);
	return p->wait_done || outstanding(p) <= 0 ? KAFKA_WAIT_DONE : KAFKA_WAIT_AGAIN;
}

/*
 * Wait for the delivery report of the message just sent with wait = true,
 * and return where Kafka put it (timestamp: ms, or -1).  rd_kafka_flush in
 * short slices rather than the event pipe: flushing sends at once instead
 * of lingering, which is what a message-at-a-time statement needs.  A
 * failure or a timeout raises the statement's ERROR.
 */
void
kafkaProducerWaitMessage(KafkaProducer *p, int32 *partition, int64 *offset, int64 *ts_ms)
{
	if (!p->wait_done &&
		!kafkaWaitUntil(kafkaNowMs() + p->timeout_ms + 5000, KAFKA_SLICE_MS, NULL, message_reported, p))
		finish(p);				/* raises the timeout error */
	if (p->failed > 0)
		finish(p);
	*partition = p->ret_partition;
	*offset = p->ret_offset;
	*ts_ms = p->ret_timestamp;
}

/*
 * Hand over what is pending and wait until every message is acknowledged or
 * failed, within timeout_ms (plus a margin), interruptibly.  Raises an
 * ERROR on timeout; failures are left to kafkaProducerCheck.
 */
void
kafkaProducerWait(KafkaProducer *p)
{
	if (p->sender)
	{
		sender_wait(p, p->sender->staged, p->sender->wpos);
		sender_stop(p);
	}
	if (p->npending > 0)
		flush_pending(p);
	wait_all(p);
}

/* ---------------------------------------------------------------------
 * Set-up and clean-up
 * ---------------------------------------------------------------------
 */

/* Mark the handle busy while a producer, a Kafka transaction or its holder uses it */
static void
update_in_use(KafkaHandle *h)
{
	dlist_iter	iter;
	bool		busy = h->pinned || kafkaXactHolds(h);

	dlist_foreach(iter, &active_producers)
		if (dlist_container(KafkaProducer, node, iter.cur)->h == h)
			busy = true;
	h->in_use = busy;
}

/*
 * Memory context callback of the producer: runs at its normal end and
 * after an ERROR.  Unregisters it so that later reports of its messages
 * are ignored; purges what is still outstanding unless a Kafka transaction
 * (aborted with it) owns it or another producer (a PL/pgSQL exception block
 * around an INSERT inside an INSERT) still waits for its own messages on
 * the same handle.
 */
static void
producer_cleanup(void *arg)
{
	KafkaProducer *p = arg;
	dlist_iter	iter;
	bool		shared = false;
	ListCell   *lc;

	if (p->sender)
		sender_stop(p);
	if (!p->registered)
		return;
	dlist_delete(&p->node);
	p->registered = false;
	/* purging is for the whole handle: not while another producer uses it */
	dlist_foreach(iter, &active_producers)
		if (dlist_container(KafkaProducer, node, iter.cur)->h == p->h)
			shared = true;
	if (outstanding(p) > 0 && p->mode == KAFKA_PRODUCE_PLAIN && !shared)
		rd_kafka_purge(p->h->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	foreach(lc, p->topics)
		rd_kafka_topic_destroy(lfirst(lc));
	p->topics = NIL;
	if (p->rkt)
		rd_kafka_topic_destroy(p->rkt);
	p->rkt = NULL;
	update_in_use(p->h);
}

/*
 * Begin a statement's worth of messages on writer handle h (from
 * kafkaProducerHandle), to topic by default, living in cxt: reset or delete
 * cxt, or call kafkaProducerEnd, to end it.  timeout_ms bounds the waits;
 * it must be the timeout_ms the handle was made with (message.timeout.ms).
 * A missing topic is an error here, not a message timeout later.  mode:
 * KAFKA_PRODUCE_XACT needs kafkaXactEnlist(h, ...) first, KAFKA_PRODUCE_TXN
 * a Kafka transaction the caller began on h.
 */
KafkaProducer *
kafkaProducerBegin(KafkaHandle *h, const char *topic, int timeout_ms,
				   KafkaProduceMode mode, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	KafkaProducer *p = palloc0(sizeof(KafkaProducer));
	int32	   *parts;

	p->h = h;
	p->mode = mode;
	p->timeout_ms = timeout_ms;
	p->topic = pstrdup(topic);
	p->cxt = cxt;
	p->pendcxt = AllocSetContextCreate(cxt, "kafka_fdw produce batch", ALLOCSET_DEFAULT_SIZES);
	p->pending = palloc(sizeof(rd_kafka_message_t) * KAFKA_PRODUCE_BATCH);

	/*
	 * The topic is checked (exists, its partitions) by a metadata request, a
	 * round trip to the broker, unless this handle asked for it within the
	 * last KAFKA_TOPIC_RECHECK_MS: the emitter begins a batch after every
	 * commit of its table, and single-row INSERTs come in quick succession.
	 * A topic deleted meanwhile fails its messages; one given partitions
	 * meanwhile is written as the old count says for that long.
	 */
	if (strcmp(h->checked_topic, topic) == 0 && kafkaNowMs() - h->checked_at_ms < KAFKA_TOPIC_RECHECK_MS)
		p->npartitions = h->checked_nparts;
	else
	{
		p->npartitions = kafkaTopicPartitions(h->rk, topic, timeout_ms, &parts);
		if (strlen(topic) < sizeof(h->checked_topic))
		{
			strcpy(h->checked_topic, topic);
			h->checked_at_ms = kafkaNowMs();
			h->checked_nparts = p->npartitions;
		}
	}

	last_producer_id = (last_producer_id + 1) & TICKET_ID_MASK;
	p->id = last_producer_id;
	p->cleanup.func = producer_cleanup;
	p->cleanup.arg = p;
	MemoryContextRegisterResetCallback(cxt, &p->cleanup);
	dlist_push_tail(&active_producers, &p->node);
	p->registered = true;
	h->in_use = true;
	p->rkt = rd_kafka_topic_new(h->rk, topic, NULL);
	if (p->rkt == NULL)
		kafkaReportError(rd_kafka_last_error(), psprintf("could not open Kafka topic \"%s\"", topic), topic);
	MemoryContextSwitchTo(old);
	return p;
}

/*
 * A handle for sending to another topic through p, released with p.  The
 * topic is not checked: a missing one fails its messages (unless the
 * broker creates topics).
 */
rd_kafka_topic_t *
kafkaProducerTopic(KafkaProducer *p, const char *topic)
{
	MemoryContext old;
	rd_kafka_topic_t *rkt;

	if (strcmp(topic, p->topic) == 0)
		return p->rkt;
	rkt = rd_kafka_topic_new(p->h->rk, topic, NULL);
	if (rkt == NULL)
		kafkaReportError(rd_kafka_last_error(), psprintf("could not open Kafka topic \"%s\"", topic), topic);
	old = MemoryContextSwitchTo(p->cxt);
	p->topics = lappend(p->topics, rkt);
	MemoryContextSwitchTo(old);
	return rkt;
}

/* Partitions of p's topic (when it began) */
int
kafkaProducerPartitions(KafkaProducer *p)
{
	return p->npartitions;
}

/* Messages sent through p so far */
int64
kafkaProducerCount(KafkaProducer *p)
{
	return p->nsent;
}

/*
 * End p: stop counting its reports and release its topic handles; purges
 * what is still outstanding (see producer_cleanup).  After a successful
 * kafkaProducerWait and kafkaProducerCheck nothing is outstanding.
 */
void
kafkaProducerEnd(KafkaProducer *p)
{
	producer_cleanup(p);
}
