/*-------------------------------------------------------------------------
 *
 * kafka_fdw.h
 *		  The one internal header of kafka_fdw: shared structs and prototypes
 *		  grouped by the file that defines them.
 *
 * Invariants:
 *	- librdkafka handles are created lazily on a backend thread, never in
 *	  _PG_init (which runs in the postmaster when preloaded).
 *	- No PostgreSQL function is ever called from a librdkafka thread: logs,
 *	  errors and delivery reports are served from queues on the backend.
 *	- Every librdkafka object owned by a scan or a statement is released by a
 *	  memory context reset callback, so an ERROR cannot leak it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_FDW_H
#define KAFKA_FDW_H

#include "postgres.h"

#include <pthread.h>
#include <signal.h>
#include <librdkafka/rdkafka.h>

#include "fmgr.h"
#include "foreign/fdwapi.h"
#include "lib/stringinfo.h"
#include "foreign/foreign.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "datatype/timestamp.h"
#include "postmaster/bgworker.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#define KAFKA_FDW_NAME "kafka_fdw"

/* Message formats */
typedef enum KafkaFormat
{
	KAFKA_FORMAT_JSON,			/* one top-level JSON object per message */
	KAFKA_FORMAT_CSV,			/* one CSV record per message */
	KAFKA_FORMAT_TEXT,			/* the whole value as text in one column */
	KAFKA_FORMAT_BYTEA,			/* the whole value as bytea in one column */
	KAFKA_FORMAT_JSONB,			/* the whole value as json/jsonb in one column */
	KAFKA_FORMAT_AVRO			/* Avro binary (schema: avro_schema, or derived) */
} KafkaFormat;

/* Which part of a message a codec decodes or encodes */
typedef enum KafkaPart
{
	KAFKA_PART_VALUE,			/* the value: the value columns */
	KAFKA_PART_KEY				/* the key: the key column, as one value
								 * (key_format) */
} KafkaPart;

/* How a schema registry subject is named (subject_name_strategy) */
typedef enum KafkaSubjectStrategy
{
	KAFKA_SUBJECT_TOPIC,		/* <topic>-value, <topic>-key (Confluent's
								 * TopicNameStrategy) */
	KAFKA_SUBJECT_RECORD,		/* the record's full name
								 * (RecordNameStrategy) */
	KAFKA_SUBJECT_TOPIC_RECORD	/* <topic>-<record's full name>
								 * (TopicRecordNameStrategy) */
} KafkaSubjectStrategy;

/* What a scan does with a message it cannot decode */
typedef enum KafkaOnError
{
	KAFKA_ON_ERROR_FAIL,		/* ERROR naming partition, offset and reason */
	KAFKA_ON_ERROR_SKIP,		/* skip it, count it, NOTICE at the end */
	KAFKA_ON_ERROR_JUNK			/* return it with junk/junk_error columns set */
} KafkaOnError;

/* The role a foreign table column plays */
typedef enum KafkaColumnKind
{
	KAFKA_COL_VALUE = 0,		/* decoded from the message value */
	KAFKA_COL_PARTITION,
	KAFKA_COL_OFFSET,
	KAFKA_COL_TIMESTAMP,
	KAFKA_COL_KEY,
	KAFKA_COL_HEADERS,
	KAFKA_COL_JUNK,				/* raw value of a message that failed to decode */
	KAFKA_COL_JUNK_ERROR		/* the reason it failed */
} KafkaColumnKind;

/* One column of a foreign table as the codecs see it */
typedef struct KafkaColumn
{
	AttrNumber	attnum;			/* 1-based attribute number */
	char	   *name;			/* column name */
	char	   *json_name;		/* key in a JSON object (json option) */
	size_t		json_name_len;	/* its length */
	KafkaColumnKind kind;		/* role of the column */
	Oid			typid;			/* column type */
	int32		typmod;			/* column typmod */
	int			value_index;	/* position among value columns (CSV field), or -1 */
	bool		dropped;		/* attisdropped */
	FmgrInfo	in_func;		/* type input function */
	Oid			in_ioparam;		/* its typioparam */
	FmgrInfo	out_func;		/* type output function */
	char		category;		/* type category (TYPCATEGORY_*) */
	bool		force_not_null; /* csv: the unquoted null string is a value */
	bool		force_null;		/* csv: the quoted null string is NULL too */
} KafkaColumn;

/* Where a librdkafka property of a KafkaOptions comes from */
typedef enum KafkaPropSource
{
	KAFKA_PROP_SERVER,			/* server options */
	KAFKA_PROP_TABLE,			/* foreign table options */
	KAFKA_PROP_MAPPING			/* the user mapping that applies (own or PUBLIC) */
} KafkaPropSource;

/* One librdkafka property as the catalogs give it */
typedef struct KafkaProp
{
	char	   *name;			/* property name, as written */
	char	   *value;			/* its value */
	KafkaPropSource source;		/* the catalog it comes from */
	bool		trusted;		/* written by a superuser: the server or table
								 * is owned by one, or the mapping is for one */
} KafkaProp;

/* All options of a foreign table, merged: server -> table -> column */
typedef struct KafkaOptions
{
	Oid			serverid;		/* foreign server */
	Oid			userid;			/* user whose mapping applies (InvalidOid: none) */
	char	   *server_name;	/* for messages */
	char	   *table_name;		/* for messages; NULL for server-level use */
	Oid			relid;			/* the foreign table (InvalidOid: server-level use) */
	bool		password_required;	/* user mapping option (default true) */
	char	   *brokers;		/* bootstrap servers */
	char	   *topic;			/* topic name */
	KafkaFormat format;			/* message format */
	int			batch_size;		/* messages fetched per batch */
	int			insert_batch_size;	/* rows per ExecForeignBatchInsert (0: 1) */
	int			timeout_ms;		/* broker request timeout */
	KafkaOnError on_error;		/* bad message policy */
	bool		on_error_explicit;	/* on_error given (or ignore_junk 'true'):
									 * junk columns do not imply 'junk' */
	bool		ignore_junk;	/* table option ignore_junk 'true' */
	bool		strict;			/* csv: field count must match; json: no
								 * keys the table lacks */
	int			encoding;		/* message text encoding (PG_UTF8 unless the
								 * option encoding names another) */
	char		csv_delimiter;	/* csv delimiter */
	char		csv_quote;		/* csv quote */
	char		csv_escape;		/* csv escape */
	bool		csv_escape_set; /* escape given explicitly */
	char	   *csv_null;		/* csv null string */
	char	   *avro_schema;	/* avro: the schema (JSON text), or NULL: derived */
	const struct KafkaCodec *key_codec; /* key_format: the codec of the key
										 * column, or NULL: the raw key */
	char	   *key_avro_schema;	/* key_format avro: the key's schema, or
									 * NULL: derived */
	KafkaSubjectStrategy subject_strategy;	/* subject_name_strategy */
	char	   *value_subject;	/* registry subject of values, or NULL: by
								 * subject_strategy */
	char	   *key_subject;	/* registry subject of keys, or NULL: by
								 * subject_strategy */
	bool		read_committed; /* isolation.level for scans */
	bool		transactional;	/* writes go into a Kafka transaction */
	List	   *rdkafka_props;	/* KafkaProp *s passed to librdkafka; a later
								 * source replaces an earlier one */
	const char *writer_compression; /* writers' compression.type unless a
									 * property sets one (NULL: librdkafka's) */
	int			writer_linger_ms;	/* writers' linger.ms unless a property sets
									 * it (0: 5) */
	int			consumer_min_messages;	/* consumers' queued.min.messages unless
										 * a property sets it (0: librdkafka's) */
	/* schema registry (registry.c) */
	char	   *schema_registry;	/* base URL of its Confluent API, or NULL */
	char	   *schema_registry_ca; /* PEM of the CAs to trust, or NULL: the
									 * system's */
	char	   *schema_registry_user;	/* user mapping: basic auth user, or NULL */
	char	   *schema_registry_password;	/* user mapping: its password (a
											 * secret), or NULL */
	/* columns */
	int			ncolumns;		/* tuple descriptor natts */
	KafkaColumn *columns;		/* indexed by attnum - 1 */
	int			nvalue_columns; /* columns decoded from the value */
	AttrNumber	partition_attnum;	/* 0 if none */
	AttrNumber	offset_attnum;
	AttrNumber	timestamp_attnum;
	AttrNumber	key_attnum;
	AttrNumber	headers_attnum;
	AttrNumber	junk_attnum;
	AttrNumber	junk_error_attnum;
} KafkaOptions;

/* A contiguous range of offsets of one partition: [start, end) */
typedef struct KafkaRange
{
	int32		partition;
	int64		start;
	int64		end;
} KafkaRange;

/*
 * One step of the program of pushed-down conditions: a comparison of the
 * partition, offset or timestamp column with the next value of fdw_exprs,
 * or KQ_AND / KQ_OR followed by the number of terms they combine.
 */
typedef enum KafkaQualKind
{
	KQ_PART_EQ, KQ_PART_IN, KQ_PART_LT, KQ_PART_LE, KQ_PART_GT, KQ_PART_GE,
	KQ_OFF_EQ, KQ_OFF_IN, KQ_OFF_LT, KQ_OFF_LE, KQ_OFF_GT, KQ_OFF_GE,
	KQ_TS_GT, KQ_TS_GE,
	KQ_AND, KQ_OR
} KafkaQualKind;

/* Partitions [plo, phi) x offsets [olo, ohi): a box of the set a scan reads */
typedef struct KafkaBox
{
	int64		plo;
	int64		phi;
	int64		olo;
	int64		ohi;
} KafkaBox;

/* The end of the partition numbers and of the offsets (exclusive) */
#define KAFKA_PARTITION_END ((int64) PG_INT32_MAX + 1)
#define KAFKA_OFFSET_END PG_INT64_MAX

/*
 * The restrictions evaluated at execution time: the set of (partition,
 * offset) pairs the scan reads, as boxes in the canonical form of
 * pushdown.c (sorted by partition then offset; boxes of one partition
 * interval share it, intervals are disjoint; a partition interval's offset
 * ranges are disjoint and not adjacent), and a timestamp lower bound.
 */
typedef struct KafkaScanBounds
{
	int			nboxes;			/* 0: the scan reads nothing */
	KafkaBox   *boxes;
	int64		ts_lo;			/* timestamp >= ts_lo (ms since epoch), or -1 */
	bool		widened;		/* a set was widened: it would have had more
								 * than KAFKA_MAX_PUSHDOWN_RANGES boxes */
} KafkaScanBounds;

/* Most boxes a set of KafkaScanBounds holds */
#define KAFKA_MAX_PUSHDOWN_RANGES 10000

/* The kinds of librdkafka handle kafka_fdw makes */
typedef enum HandleKind
{
	HANDLE_CONSUMER,			/* fetches messages for scans */
	HANDLE_PRODUCER,			/* produces messages, runs admin requests */
	HANDLE_META,				/* metadata, watermarks, offsets for times */
	HANDLE_WRITER,				/* INSERT: idempotent producer, acks=all */
	HANDLE_TXN_WRITER			/* INSERT into a transactional table, or the
								 * table-change emitter: one transactional
								 * producer per stream, its own transactional.id */
} HandleKind;

#define IS_PRODUCER_KIND(k) ((k) == HANDLE_PRODUCER || (k) == HANDLE_WRITER || (k) == HANDLE_TXN_WRITER)

/* Strings to cut out of librdkafka's messages of one handle */
typedef struct KafkaSecrets
{
	int			n;
	char	  **values;			/* longest first */
} KafkaSecrets;

/* A cached librdkafka handle */
typedef struct KafkaHandle
{
	rd_kafka_t *rk;				/* the handle */
	rd_kafka_queue_t *queue;	/* consumer queue with an io event fd */
	int			event_fd[2];	/* pipe librdkafka writes to when queue fills */
	bool		in_use;			/* a scan has partitions started on it, or a
								 * write or Kafka transaction uses it */
	bool		pinned;			/* its holder keeps it busy (a Kafka transaction
								 * of its own spanning several producers): set
								 * with in_use, cleared by the holder */
	int			queued_min;		/* consumer: its queued.min.messages, if
								 * librdkafka stops fetching at that many
								 * without looking again (else 0) */
	bool		fetch_stopped;	/* consumer: its queue was seen holding
								 * queued_min messages since the fetchers
								 * were last woken (kafkaFetchersStopped) */
	bool		txn_ready;		/* transactional writer: init_transactions done */
	const char *txn_id;			/* transactional writer: its transactional.id */
	/* writers: the topic whose partitions were asked last (kafkaProducerBegin) */
	char		checked_topic[256];
	int64		checked_at_ms;	/* kafkaNowMs() of the answer */
	int			checked_nparts;
} KafkaHandle;

/* in kafka_fdw.c */
extern int	kafka_max_handles;

/* in option.c */
extern KafkaOptions *kafkaGetServerOptions(Oid serverid);
extern KafkaOptions *kafkaGetServerOptionsFor(Oid serverid, Oid userid);
extern Oid	kafkaRelOwner(Oid relid);
extern KafkaOptions *kafkaGetOptions(Oid foreigntableid, Relation rel);
extern void kafkaRequireKafkaTable(Oid relid);
extern bool kafkaBoolOption(DefElem *def);
extern void kafkaCheckEncoding(int encoding, const char *table);

/* in columns.c */
extern void kafkaBuildColumns(KafkaOptions *opts, Relation rel);

/* in rdkafka_conf.c */
extern void kafkaValidateRdkafkaProp(const char *name, const char *value, KafkaPropSource source,
									 const char *unknown_hint);
extern bool kafkaIsSecretProp(const char *name);
extern List *kafkaHandleConfig(KafkaOptions *opts, HandleKind kind);
extern rd_kafka_conf_t *kafkaNewConf(List *conflist);
extern bool kafkaHasFetchQueueBackoff(void);
extern void kafkaConfSet(rd_kafka_conf_t *conf, const char *name, const char *value);
extern KafkaSecrets *kafkaSecretsOf(List *conflist, MemoryContext cxt);
extern void kafkaRedact(char *buf, size_t size, const KafkaSecrets *secrets);

/* in connection.c */

/* Longest single wait, so that cancel and statement_timeout act promptly */
#define KAFKA_SLICE_MS 100

/* What one round of kafkaWaitUntil found */
typedef enum KafkaWaitStep
{
	KAFKA_WAIT_DONE,			/* the wait is over */
	KAFKA_WAIT_AGAIN,			/* not yet; the round waited itself (a blocking
								 * librdkafka call of at most slice_ms): go on */
	KAFKA_WAIT_SLEEP			/* not yet; wait a slice before the next round */
} KafkaWaitStep;

/* librdkafka's delivery report callback of a writer handle */
typedef void (*KafkaDeliveryFn) (rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* One round of a wait; slice_ms: how long a blocking call in it may take */
typedef KafkaWaitStep (*KafkaWaitFn) (void *arg, int slice_ms);

extern KafkaHandle *kafkaGetConsumer(KafkaOptions *opts);
extern rd_kafka_t *kafkaGetProducer(KafkaOptions *opts);
extern rd_kafka_t *kafkaGetMeta(KafkaOptions *opts);
extern KafkaHandle *kafkaGetWriter(KafkaOptions *opts, const char *txn_id, KafkaDeliveryFn dr_cb);
extern void kafkaHandleFailed(KafkaHandle *h);
extern void kafkaSetTxnIdBase(const char *base);
extern void kafkaServeLogs(rd_kafka_t *rk);
extern void kafkaBlockSignals(sigset_t *old);
extern void kafkaRestoreSignals(const sigset_t *old);
extern int	kafkaStartThread(pthread_t *thread, void *(*fn) (void *), void *arg);
extern int64 kafkaNowMs(void);
extern void kafkaDrainQueue(KafkaHandle *h);
extern bool kafkaFetchersStopped(KafkaHandle *h, int low_water);
extern void kafkaFetchersWoken(KafkaHandle *h);
extern void kafkaWaitHandleEvent(KafkaHandle *h, long timeout_ms);
extern int	kafkaSliceMs(int64 deadline_ms, int max_slice_ms);
extern bool kafkaWaitUntil(int64 deadline_ms, int max_slice_ms, KafkaHandle *h,
						   KafkaWaitFn step, void *arg);
extern const struct rd_kafka_metadata *kafkaMetadata(rd_kafka_t *rk, const char *topic, int timeout_ms);
extern int	kafkaTopicPartitions(rd_kafka_t *rk, const char *topic, int timeout_ms, int32 **partitions);
extern void kafkaQueryWatermarks(rd_kafka_t *rk, const char *topic, int32 partition,
								 int timeout_ms, int64 *low, int64 *high);
extern int64 kafkaOffsetForTime(rd_kafka_t *rk, const char *topic, int32 partition,
								int64 ts_ms, int timeout_ms);
extern void kafkaReportError(rd_kafka_resp_err_t err, const char *what, const char *topic) pg_attribute_noreturn();
extern int	kafkaErrcode(rd_kafka_resp_err_t err);

/* in pushdown.c */
extern void kafkaExtractQuals(PlannerInfo *root, RelOptInfo *baserel, KafkaOptions *opts,
							  List *clauses, List **program, List **exprs, List **texts);
extern void kafkaEvalBounds(List *program, List *exprstates, ExprContext *econtext,
							KafkaScanBounds *bounds);
extern bool kafkaBoundsAll(const KafkaScanBounds *bounds);
extern List *kafkaPlanRanges(KafkaOptions *opts, rd_kafka_t *rk, KafkaScanBounds *bounds);
extern void kafkaPinRanges(Oid relid, const KafkaRange *ranges, int n);
extern void kafkaUnpinRanges(void);
extern double kafkaPinnedSize(Oid relid, int *nparts);

/* in scan.c */
extern void kafkaSetScanRoutines(FdwRoutine *routine);

/* in codec.c: the table of formats and the decode interface */

typedef struct KafkaCodec KafkaCodec;

/* Decoding state of one scan: which value columns are needed */
typedef struct KafkaDecoder
{
	KafkaOptions *opts;
	const KafkaCodec *codec;	/* the table's format (key: key_format) */
	KafkaPart	part;			/* what it decodes: the value into the value
								 * columns, or the key into the key column */
	int			nneeded;		/* value columns the query needs */
	KafkaColumn **needed;		/* them */
	KafkaColumn **by_index;		/* value_index -> column if needed, else NULL */
	StringInfoData buf;			/* scratch for unescaping */
	StringInfoData buf2;		/* scratch for nested conversion */
	void	   *codec_state;	/* the codec's own state (decoder_init), e.g.
								 * codec_json.c: where each needed column's
								 * value is in the message being decoded */
	bool		salvage;		/* a message that failed is decoded again
								 * field by field (KAFKA_CODEC_BY_FIELD,
								 * message.c): a field that fails is left
								 * NULL and its error added to errors */
	List	   *errors;			/* salvage: the failures (char *), in order */
} KafkaDecoder;

/* Encoding state of one INSERT: the value columns and scratch buffers */
typedef struct KafkaEncoder
{
	KafkaOptions *opts;
	const KafkaCodec *codec;	/* the table's format (key: key_format) */
	KafkaPart	part;			/* what it encodes: the value from the value
								 * columns, or the key from the key column */
	int			nvalue;			/* value columns, in value_index order (key:
								 * 1, the key column) */
	KafkaColumn **value_cols;	/* them */
	struct KafkaEncoder *key_enc;	/* key_format: the key's encoder (part
									 * KAFKA_PART_KEY), or NULL: the raw key */
	void	   *codec_state;	/* the codec's own state (encoder_init) */
	StringInfoData value;		/* the encoded value */
	StringInfoData key;			/* the encoded key */
	StringInfoData scratch;		/* per-column scratch */
} KafkaEncoder;

/* KafkaCodec.flags */
#define KAFKA_CODEC_WHOLE_VALUE	0x01	/* the message value is one column's value:
										 * a table has exactly one value column,
										 * and a NULL one is a tombstone */
#define KAFKA_CODEC_TEXT		0x02	/* the message value is UTF-8 text:
										 * verified and converted to the server
										 * encoding before decode, converted to
										 * UTF-8 after encode (or from and to the
										 * table's encoding option) */
#define KAFKA_CODEC_KEY			0x04	/* can decode and encode the message key
										 * too (key_format) */
#define KAFKA_CODEC_BY_FIELD	0x08	/* decode supports salvage mode
										 * (KafkaDecoder.salvage): a message that
										 * failed keeps the fields that decoded */

/*
 * One message format.  Every format is one entry of the table in codec.c
 * and lives in one file that decodes and encodes it; the scan, INSERT,
 * ingest (through message.c and encode.c) and option checks only call
 * through this interface.  Entries that may be NULL say so.
 */
struct KafkaCodec
{
	KafkaFormat format;			/* its KafkaOptions.format */
	const char *name;			/* the format option's value */
	int			flags;			/* KAFKA_CODEC_* */

	/*
	 * DDL: check the options of a foreign table (the complete list) that
	 * concern this format; NULL: none do.
	 */
	void		(*validate) (List *table_options);

	/*
	 * A table is used: check its columns and options (built by columns.c)
	 * against the format.  NULL: nothing beyond the flags.
	 */
	void		(*check_table) (KafkaOptions *opts);

	/* Set up dec->codec_state for a scan (may be NULL) */
	void		(*decoder_init) (KafkaDecoder *dec);

	/*
	 * Decode a message value (never NULL: a tombstone never gets here) into
	 * the needed columns.  values/nulls are indexed by attnum - 1 and preset
	 * to NULL.  A malformed message: false with *reason.  Type input errors
	 * may be ERRORs (message.c applies the on_error policy to both).  With
	 * KAFKA_CODEC_BY_FIELD, in salvage mode (dec->salvage): convert each
	 * field through kafkaSalvageField, add other failures that leave the
	 * fields meaningful to dec->errors and go on; false only when no field
	 * can be read (the message is not an object, not JSON, ...).
	 */
	bool		(*decode) (KafkaDecoder *dec, const char *data, size_t len,
						   Datum *values, bool *nulls, char **reason);

	/*
	 * Before decode, outside the on_error policy: fetch what decoding this
	 * message value needs from elsewhere (format avro: the writer schema of
	 * a schema registry id), so that a failure there (registry unreachable,
	 * 401) is an ERROR of its own, never a bad message.  NULL: nothing.
	 */
	void		(*prepare) (KafkaDecoder *dec, const char *data, size_t len);

	/* Set up enc->codec_state for a statement (may be NULL) */
	void		(*encoder_init) (KafkaEncoder *enc);

	/*
	 * Append the value of a row to enc->value (empty on entry).  false: the
	 * row has no value (a tombstone).
	 */
	bool		(*encode) (KafkaEncoder *enc, Datum *values, bool *nulls);
};

/* the codecs, one per file */
extern const KafkaCodec kafka_codec_json;	/* codec_json.c */
extern void kafkaAppendJsonString(StringInfo buf, const char *s, int len);	/* codec_json.c */
extern void kafkaAppendJsonNumber(StringInfo buf, const char *s);	/* codec_json.c */
extern const KafkaCodec kafka_codec_csv;	/* codec_csv.c */
extern const KafkaCodec kafka_codec_text;	/* codec_raw.c */
extern const KafkaCodec kafka_codec_bytea;	/* codec_raw.c */
extern const KafkaCodec kafka_codec_jsonb;	/* codec_raw.c */
extern const KafkaCodec kafka_codec_avro;	/* codec_avro.c */

extern const KafkaCodec *kafkaCodec(KafkaFormat format);
extern const KafkaCodec *kafkaCodecByName(const char *name);
extern const char *kafkaFormatName(KafkaFormat format);
extern const char *kafkaFormatNames(void);
extern void kafkaCodecValidate(List *table_options);
extern void kafkaCodecCheckTable(KafkaOptions *opts);
extern KafkaDecoder *kafkaDecoderCreate(KafkaOptions *opts, Bitmapset *needed);
extern KafkaDecoder *kafkaKeyDecoderCreate(KafkaOptions *opts);
extern const char *kafkaKeyFormatNames(void);
extern bool kafkaDecodeValue(KafkaDecoder *dec, const char *data, size_t len,
							 Datum *values, bool *nulls, char **reason);
extern void kafkaDecodePrepare(KafkaDecoder *dec, const char *data, size_t len);

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01) */
#define KAFKA_PG_EPOCH_US ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* The value of a hexadecimal digit, or -1 (JSON \u escapes, hex bytea) */
static inline int
kafkaHexDigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* in datum.c: column values from and to message text, below the codecs */
extern Datum kafkaColumnFromText(KafkaColumn *col, const char *str, size_t len);
extern Datum kafkaBytea(const void *data, size_t len);
extern void kafkaSalvageField(KafkaDecoder *dec, KafkaColumn *col, void (*fn) (void *arg), void *arg,
							  bool *isnull);
extern bool kafkaToServerText(const char **data, size_t *len, char **reason);
extern bool kafkaEncodedToServerText(int encoding, const char **data, size_t *len, char **reason);
extern int64 kafkaTimestampToMs(Timestamp ts);
extern void kafkaSetMetaColumns(KafkaOptions *o, Datum *values, bool *nulls,
								int32 partition, int64 offset, int64 ts_ms);
extern void kafkaAppendText(StringInfo buf, Datum d);
extern char *kafkaTextForm(KafkaColumn *col, Datum d);
extern void kafkaToUtf8(StringInfo buf, int from);
extern void kafkaToMessageText(StringInfo buf, int from, int encoding);
extern void kafkaAppendQuoted(StringInfo out, const char *p, size_t len);
extern char *kafkaPutIsoDateTime(char *o, int year, int mon, int mday, int hour, int min, int sec, int fsec);

/* in codec_avro.c */

/* A parsed Avro schema: avro-c's, with the logical types it drops (opaque) */
typedef struct KafkaAvroSchema KafkaAvroSchema;

extern int	kafka_avro_max_empty_items;

extern KafkaAvroSchema *kafkaAvroSchemaParse(const char *text, size_t len, MemoryContext cxt, char **error);
extern KafkaAvroSchema *kafkaAvroSchemaCached(const char *text, const char *what);
extern const char *kafkaAvroSchemaJson(KafkaAvroSchema *s);
extern bool kafkaAvroSchemaIsRecord(KafkaAvroSchema *s);
extern char *kafkaAvroSchemaForTable(KafkaOptions *opts);
extern char *kafkaAvroSchemaForKey(KafkaOptions *opts);
extern KafkaAvroSchema *kafkaAvroTableSchema(KafkaOptions *opts);
extern char *kafkaAvroValueSubject(KafkaOptions *opts, const char *schema_json);
extern bool kafkaAvroTableFits(const char *derived_json, const char *latest_json);
struct json_t;
extern bool kafkaJsonIntMember(struct json_t *obj, const char *key, int *v);
extern const char *kafkaAvroRepeatedName(char *const *names, int n);
extern bool kafkaAvroDecode(KafkaDecoder *dec, KafkaAvroSchema *writer, const char *data, size_t len,
							Datum *values, bool *nulls, char **reason);
extern void kafkaAvroEncode(KafkaEncoder *enc, KafkaAvroSchema *schema, Datum *values, bool *nulls,
							StringInfo out);
extern void kafkaAvroDeriveType(StringInfo out, Oid typid, int32 typmod, bool nullable, List **named);
extern bool kafkaAvroValidName(const char *s);
extern char *kafkaAvroName(const char *s);
extern void kafkaAvroAppendRegistryHeader(StringInfo out, int32 id);

/* The column a field (or a schema that is not a record) reads into whole */
typedef struct KafkaAvroColumnDef
{
	const char *field;			/* the field's name; NULL: not a record */
	Oid			typid;			/* the column's type */
	int32		typmod;			/* its typmod */
	bool		notnull;		/* the field is not nullable */
} KafkaAvroColumnDef;

extern int	kafkaAvroSchemaColumns(KafkaAvroSchema *s, KafkaAvroColumnDef **defs);
extern Oid	kafkaAvroSchemaType(KafkaAvroSchema *s, int32 *typmod);

/* in message.c */

/* Turning messages into rows of one table: what to fill, and how */
typedef struct KafkaRowReader
{
	KafkaOptions *opts;
	KafkaDecoder *dec;			/* the value columns to decode */
	KafkaDecoder *key_dec;		/* key_format: the key column's decoder, or
								 * NULL: the raw key */
	bool		need_key;		/* fill the key column */
	bool		need_headers;	/* fill the headers column */
	bool		need_ts;		/* fill the timestamp column */
	bool		use_subxact;	/* skip/junk: decode in a subtransaction */
} KafkaRowReader;

/* What became of a message */
typedef enum KafkaRowResult
{
	KAFKA_ROW_OK,				/* decoded */
	KAFKA_ROW_JUNK,				/* bad: what failed NULL, junk columns set */
	KAFKA_ROW_SKIP				/* bad, on_error 'skip': no row */
} KafkaRowResult;

extern KafkaRowReader *kafkaRowReaderCreate(KafkaOptions *opts, Bitmapset *attrs);
extern KafkaRowResult kafkaMessageToRow(KafkaRowReader *r, const rd_kafka_message_t *m,
										Datum *values, bool *nulls);
extern bool kafkaRowNeedsSubxact(KafkaOptions *opts, Bitmapset *attrs);
extern bool kafkaErrorIsMessageFault(int sqlerrcode);
extern char *kafkaRunGuarded(void (*fn) (void *arg), void *arg, bool plain);
extern bool kafkaTypeInputIsPlain(Oid typid);
extern ErrorData *kafkaInSubxact(void (*fn) (void *arg), void *arg);
extern ErrorData *kafkaInSubxactCatching(void (*fn) (void *arg), void *arg,
										  bool (*caught) (int sqlerrcode));
extern void kafkaHeadersToJson(rd_kafka_headers_t *hdrs, StringInfo buf);

/* in encode.c */

/* One header of a message, before it is handed to librdkafka */
typedef struct KafkaHeader
{
	char	   *name;
	char	   *value;			/* NULL: a null header value */
	size_t		len;
} KafkaHeader;

extern KafkaEncoder *kafkaEncoderCreate(KafkaOptions *opts);
extern bool kafkaEncodeValue(KafkaEncoder *enc, Datum *values, bool *nulls,
							 const char **data, size_t *len);
extern void kafkaEncodeKey(KafkaEncoder *enc, Datum *values, bool *nulls, const char **data, size_t *len);
extern int	kafkaEncodeHeaders(KafkaEncoder *enc, Datum value, KafkaHeader **headers);

/* in producer.c */

/* The transaction the messages of a producer belong to */
typedef enum KafkaProduceMode
{
	KAFKA_PRODUCE_PLAIN,		/* none: what is outstanding when the producer
								 * ends early is purged */
	KAFKA_PRODUCE_XACT,			/* the Kafka transaction of the PostgreSQL
								 * transaction (kafkaXactEnlist) */
	KAFKA_PRODUCE_TXN			/* a Kafka transaction the caller began on the
								 * handle and ends itself */
} KafkaProduceMode;

/* One statement's worth of messages on one writer handle (opaque) */
typedef struct KafkaProducer KafkaProducer;

extern KafkaHandle *kafkaProducerHandle(KafkaOptions *opts, const char *txn_id);
extern KafkaProducer *kafkaProducerBegin(KafkaHandle *h, const char *topic, int timeout_ms,
										 KafkaProduceMode mode, MemoryContext cxt);
extern rd_kafka_topic_t *kafkaProducerTopic(KafkaProducer *p, const char *topic);
extern int64 kafkaProducerSend(KafkaProducer *p, rd_kafka_topic_t *rkt, int32 partition,
							   const char *key, size_t klen, const char *value, size_t vlen,
							   const KafkaHeader *hdrs, int nhdrs, int64 ts_ms, bool wait);
extern void kafkaProducerOffload(KafkaProducer *p);
extern void kafkaProducerPoll(KafkaProducer *p);
extern void kafkaProducerWaitMessage(KafkaProducer *p, int32 *partition, int64 *offset, int64 *ts_ms);
extern void kafkaProducerWait(KafkaProducer *p);
extern void kafkaProducerCheck(KafkaProducer *p);
extern void kafkaProducerEnd(KafkaProducer *p);
extern int	kafkaProducerPartitions(KafkaProducer *p);
extern int64 kafkaProducerCount(KafkaProducer *p);

/* in modify.c */
extern void kafkaSetModifyRoutines(FdwRoutine *routine);

/* in xact.c */
extern void kafkaTxnInit(KafkaHandle *h, int timeout_ms);
extern void kafkaXactEnlist(KafkaHandle *h, KafkaOptions *opts);
extern void kafkaXactProduced(int64 n);
extern bool kafkaXactHolds(KafkaHandle *h);
extern KafkaHandle *kafkaXactOnly(Oid *serverid, Oid *userid, int *timeout_ms, bool *several);
extern void kafkaXactInit(void);

/* in transform.c */

/* What a stream does with one column before it reaches Kafka */
typedef enum KafkaColumnAction
{
	KAFKA_COL_KEEP,				/* as captured */
	KAFKA_COL_DROP,				/* left out (include/exclude) */
	KAFKA_COL_MASK,				/* all but the last N alphanumerics as 'x' */
	KAFKA_COL_HASH				/* hex SHA-256 of salt || value */
} KafkaColumnAction;

/* The single message transforms of a stream (keys of kafka.stream.options) */
typedef struct KafkaTransform
{
	char	   *table;			/* the table's name, for messages */
	List	   *include;		/* of char *: only these columns (NIL: all) */
	List	   *exclude;		/* of char *: all but these */
	List	   *mask;			/* of char *: masked columns */
	List	   *mask_keep;		/* int list, parallel to mask: characters kept */
	List	   *hash;			/* of char *: hashed columns */
	char	   *hash_salt;		/* salt of the hashes */
	char	   *function;		/* transform function, regprocedure text; NULL: none */
	Oid			fn_oid;			/* its oid */
	Oid			run_as;			/* the table's owner, who runs it */
	FmgrInfo   *flinfo;			/* its call info */
} KafkaTransform;

extern KafkaTransform *kafkaTransformParse(Jsonb *options, Oid relid, List *key_columns);
extern bool kafkaTransformRewritesRows(const KafkaTransform *tf);
extern KafkaColumnAction kafkaTransformColumn(const KafkaTransform *tf, const char *column, int *keep);
extern char *kafkaMaskText(const char *s, int keep);
extern char *kafkaHashText(const char *s, const char *salt);
extern char *kafkaTransformCall(KafkaTransform *tf, const char *value);

/* in envelope.c */

typedef enum KafkaEnvelopeKind
{
	KAFKA_ENV_DEBEZIUM,			/* Debezium's change event */
	KAFKA_ENV_UPSERT,			/* key -> new row, deletes as tombstones */
	KAFKA_ENV_ROW				/* the new row only, deletes as tombstones */
} KafkaEnvelopeKind;

/* One column of a streamed table as an envelope writes it */
typedef struct KafkaEnvColumn
{
	char	   *name;			/* column name (the JSON key) */
	Oid			typid;			/* its type */
	int32		typmod;			/* its typmod */
	bool		notnull;		/* attnotnull: not optional in Connect schemas */
	int			dbz_type;		/* Debezium representation (envelope.c) */
	KafkaColumnAction action;	/* keep, mask or hash (dropped ones are not here) */
	int			mask_keep;		/* mask: characters kept at the end */
} KafkaEnvColumn;

/* The format avro part of an envelope (envelope_avro.c) */
typedef struct KafkaEnvAvro KafkaEnvAvro;

/* The JSON part of an envelope: names and constant parts of messages (envelope.c) */
typedef struct KafkaEnvJson KafkaEnvJson;

/* How the events of one stream become messages */
typedef struct KafkaEnvelope
{
	KafkaEnvelopeKind kind;
	KafkaFormat format;			/* KAFKA_FORMAT_JSON or KAFKA_FORMAT_AVRO */
	KafkaEnvAvro *avro;			/* avro: schemas, decoder, encoders */
	KafkaEnvJson *json;			/* captured rows' columns by name; json: constant parts */
	bool		schemas;		/* debezium: {"schema","payload"} wrapper */
	char	   *name;			/* logical server name (source.name, schema names) */
	char	   *db;				/* database name */
	char	   *schema;			/* the table's schema */
	char	   *table;			/* the table's name */
	int			ncols;			/* live columns, in attribute order */
	KafkaEnvColumn *cols;
	int			nkeys;			/* key columns; 0: messages without key */
	int		   *keys;			/* their indexes into cols, in key order */
	char	   *key_schema;		/* schemas: Connect schema of the key */
	char	   *value_schema;	/* schemas: Connect schema of the value */
	const KafkaTransform *tf;	/* single message transforms, or NULL */
	bool		rewrite;		/* rows are rewritten (columns left out, masked, hashed) */
} KafkaEnvelope;

/*
 * kafka.outbox_event_id_seq steps by this much: a chunk of the outbox
 * (outbox.c) holds the events chunk_id .. chunk_id + n - 1, n at most this
 */
#define KAFKA_OUTBOX_ID_STEP 1024

/* One captured change (an event of kafka.outbox) */
typedef struct KafkaChangeEvent
{
	int64		event_id;
	char		op;				/* c, u, d, t, r */
	const char *before;			/* old row, row_to_json text, or NULL */
	const char *after;			/* new row, or NULL */
	uint64		txid;			/* writer's transaction id */
	int64		lsn;			/* WAL insert position at capture */
	int64		captured_us;	/* capture time, microseconds since the Unix epoch */
	const char *snapshot;		/* op r: "true", "last", ...; NULL otherwise */
} KafkaChangeEvent;

/* One message of an event: key NULL = no key, value NULL = tombstone */
typedef struct KafkaEnvMessage
{
	char	   *key;
	size_t		key_len;
	char	   *value;
	size_t		value_len;
} KafkaEnvMessage;

/* The most messages one event becomes (a key change: d, tombstone, c) */
#define KAFKA_ENV_MAX_MESSAGES 3

extern KafkaEnvelopeKind kafkaEnvelopeKind(const char *name);
extern KafkaEnvelope *kafkaEnvelopeCreate(Relation rel, KafkaEnvelopeKind kind, KafkaFormat format,
										  bool schemas, const char *name, const char *dbname,
										  List *key_columns, const KafkaTransform *tf);
extern void kafkaEnvelopeRegister(KafkaEnvelope *env, KafkaOptions *opts, const char *topic);
extern int	kafkaEnvelopeEncode(KafkaEnvelope *env, const KafkaChangeEvent *ev, int64 now_ns,
								KafkaEnvMessage *out);
extern char *kafkaJsonValueText(JsonbValue *v, Oid typid, int32 typmod, bool debezium);

/* in envelope_avro.c */

/* source.version of the Debezium envelope */
#define KAFKA_FDW_SOURCE_VERSION "kafka_fdw-1.2"

/* A captured row read back into datums (opaque) */
typedef struct KafkaEnvAvroRow KafkaEnvAvroRow;

extern void kafkaEnvAvroCreate(KafkaEnvelope *env, Relation rel);
extern void kafkaEnvAvroRegister(KafkaEnvelope *env, KafkaOptions *opts, const char *topic);
extern KafkaEnvAvroRow *kafkaEnvAvroRow(KafkaEnvelope *env, const char *text);
extern char *kafkaEnvAvroKey(KafkaEnvelope *env, KafkaEnvAvroRow *row, size_t *len);
extern char *kafkaEnvAvroRowValue(KafkaEnvelope *env, KafkaEnvAvroRow *row, size_t *len);
extern char *kafkaEnvAvroDbzValue(KafkaEnvelope *env, const KafkaChangeEvent *ev, char op,
								  KafkaEnvAvroRow *before, KafkaEnvAvroRow *after, int64 now_ns,
								  size_t *len);

/* in worker.c */
extern int	kafka_max_workers;
extern int	kafka_naptime_ms;
extern int	kafka_emitter_batch_size;
extern void kafkaWorkerInit(void);
extern void kafkaRequireWorkers(void);
extern void kafkaWakeWorker(Oid dboid);
extern void kafkaWakeWorkerAtCommit(void);
extern bool kafkaDatabaseWanted(void);
extern void kafkaWorkerStartTransaction(void);
extern bool kafkaStartBgworker(const char *function, const char *name, const char *type, Datum arg,
							   const void *extra, size_t extralen, BackgroundWorkerHandle **handle);

/* in emitter.c */

/* first key of the per-stream transaction advisory lock ("kfdw") */
#define KAFKA_EMITTER_LOCK_CLASS 0x6b666477

extern void kafkaEmitterInit(void);
extern bool kafkaEmitterHasStreams(void);
extern int64 kafkaEmitterWork(void);
extern Oid	kafkaEmitterOwner(void);
extern void kafkaEmitterLockStream(int32 stream_id);

/* in progress.c */

/* the progress topic of streams and pipelines unless an option names another */
#define KAFKA_DEFAULT_PROGRESS_TOPIC "kafka_fdw_progress"

extern void kafkaEnsureProgressTopic(KafkaOptions *opts, const char *topic);
extern bool kafkaReadLastProgress(KafkaOptions *opts, const char *topic, const char *key, char **value);

/* in snapshot.c */
extern void kafkaSnapshotCheck(Oid relid, List *keys, int chunk_size);
extern int64 kafkaSnapshotStep(int32 stream_id);

/* in stream_api.c */

/* What kafkaBeginAsOwner changed, for kafkaEndAsOwner */
typedef struct KafkaOwnerContext
{
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;
} KafkaOwnerContext;

extern void kafkaBeginAsOwner(KafkaOwnerContext *oc);
extern void kafkaEndAsOwner(KafkaOwnerContext *oc);
extern void kafkaSpiExec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect);
extern List *kafkaTextArrayToList(Datum arr);

/* in ingest.c */
extern int	kafka_ingest_batch_size;
extern int	kafka_ingest_upsert_batch_size;
extern int	kafka_pipeline_batch_size;
/* an ingest batch ends when its messages' keys and values (an upsert batch: its rows and keys) reach this many bytes */
#define KAFKA_INGEST_BATCH_BYTES (64 * 1024 * 1024)
extern int	kafka_ingest_batch_wait_ms;
extern int	kafka_max_ingest_workers;
extern PGDLLEXPORT void kafka_ingest_main(Datum arg);
extern bool kafkaIngestHasJobs(void);
extern bool kafkaIngestSupervise(void);
extern int64 kafkaIngestRedrive(int32 job_id);
extern List *kafkaIngestCheck(Oid source, Oid target, bool upsert, bool debezium, List *key_columns);

/* in admin.c: SQL-callable helpers are declared with PG_FUNCTION_INFO_V1 there */

/* in registry.c */

/* A schema as the registry knows it */
typedef struct KafkaSchema
{
	int32		id;				/* its global id in the registry */
	char	   *subject;		/* the subject asked for; NULL when fetched by id */
	int32		version;		/* its version under subject; 0 when fetched by id */
	char	   *schema;			/* the schema text, as the registry stores it */
	char	   *schema_type;	/* AVRO, JSON or PROTOBUF */
} KafkaSchema;

/* The version argument of kafkaRegistrySubjectVersion meaning "the latest" */
#define KAFKA_REGISTRY_LATEST (-1)

extern const KafkaSchema *kafkaRegistrySchemaById(KafkaOptions *opts, int32 id, bool missing_ok);
extern const KafkaSchema *kafkaRegistrySubjectVersion(KafkaOptions *opts, const char *subject,
													  int32 version, bool missing_ok);
extern int32 kafkaRegistryRegister(KafkaOptions *opts, const char *subject, const char *schema,
								   const char *schema_type);
extern int32 kafkaRegistryLookup(KafkaOptions *opts, const char *subject, const char *schema,
								 const char *schema_type, int32 *version);
extern int32 kafkaRegistryRegisteredId(KafkaOptions *opts, const char *subject, const char *schema);
extern void kafkaRegistryRemember(KafkaOptions *opts, const char *subject, const char *schema,
								  int32 id);
extern List *kafkaRegistrySubjectVersions(KafkaOptions *opts, const char *subject);
extern bool kafkaRegistryCheckCompatibility(KafkaOptions *opts, const char *subject,
											const char *schema, const char *schema_type,
											List **messages);
extern const char *kafkaRegistryLevel(const char *level);
extern char *kafkaRegistryGetCompatibility(KafkaOptions *opts, const char *subject);
extern void kafkaRegistrySetCompatibility(KafkaOptions *opts, const char *subject, const char *level);
extern List *kafkaRegistrySubjects(KafkaOptions *opts);
extern void kafkaRegistryCheckUrl(const char *url);
extern void kafkaRegistryCheckCa(const char *pem);

/* in avro_compat.c */
extern void kafkaAvroCompatInit(void);
extern bool kafkaAvroSchemasSame(const char *a, const char *b);
extern List *kafkaAvroCompatCheck(const char *level, const char *schema, List *versions);
extern List *kafkaAvroCompatCheckSubject(KafkaOptions *opts, const char *subject, const char *schema,
										 const char *level, const KafkaSchema *latest);
extern int32 kafkaAvroRegisterChecked(KafkaOptions *opts, const char *subject, const char *schema,
									   const char *whose);
extern int32 kafkaAvroExistingId(KafkaOptions *opts, const char *subject, const char *schema,
								  const struct KafkaSchema **latest);
extern int32 kafkaAvroRegisterNew(KafkaOptions *opts, const char *subject, const char *schema,
								   const char *whose, const struct KafkaSchema *latest);

/* in registry_api.c: SQL-callable functions of the schema registry */

/* in import.c */
extern List *kafkaImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);

#endif							/* KAFKA_FDW_H */
