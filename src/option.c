/*-------------------------------------------------------------------------
 *
 * option.c
 *		  The option model of kafka_fdw: one table of valid options with the
 *		  catalogs they belong to, the validator, librdkafka pass-through
 *		  rules, and merging server -> user mapping -> table -> column options
 *		  into one KafkaOptions.
 *
 * Invariants:
 *	- Any option that is not a kafka_fdw option must be a librdkafka
 *	  configuration property; rd_kafka_conf_set() on a scratch conf decides.
 *	- Secrets (passwords, private keys) are accepted in user mappings only.
 *	- Properties that make librdkafka read files, load libraries or run
 *	  commands can be set by superusers only.
 *	- Table options override server options.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* Where an option may appear */
#define OPT_SERVER	(1 << 0)
#define OPT_TABLE	(1 << 1)
#define OPT_COLUMN	(1 << 2)
#define OPT_MAPPING (1 << 3)

/* How its value is checked */
typedef enum OptType
{
	OT_STRING, OT_INT, OT_BOOL, OT_FORMAT, OT_ON_ERROR, OT_CHAR, OT_ISOLATION,
	OT_IGNORED_INT				/* accepted for adjust/kafka_fdw compatibility */
} OptType;

typedef struct KafkaOptionDef
{
	const char *name;
	int			where;			/* OPT_* mask */
	OptType		type;
	int			min;			/* OT_INT bounds */
	int			max;
} KafkaOptionDef;

static const KafkaOptionDef option_defs[] = {
	{"brokers", OPT_SERVER, OT_STRING, 0, 0},
	{"topic", OPT_TABLE, OT_STRING, 0, 0},
	{"format", OPT_SERVER | OPT_TABLE, OT_FORMAT, 0, 0},
	{"batch_size", OPT_SERVER | OPT_TABLE, OT_INT, 1, 1000000},
	{"insert_batch_size", OPT_SERVER | OPT_TABLE, OT_INT, 1, 1000000},
	{"timeout_ms", OPT_SERVER | OPT_TABLE, OT_INT, 1, 3600000},
	{"on_error", OPT_SERVER | OPT_TABLE, OT_ON_ERROR, 0, 0},
	{"isolation_level", OPT_SERVER | OPT_TABLE, OT_ISOLATION, 0, 0},
	{"transactional", OPT_SERVER | OPT_TABLE, OT_BOOL, 0, 0},
	{"strict", OPT_TABLE, OT_BOOL, 0, 0},
	{"ignore_junk", OPT_TABLE, OT_BOOL, 0, 0},
	{"delimiter", OPT_TABLE, OT_CHAR, 0, 0},
	{"quote", OPT_TABLE, OT_CHAR, 0, 0},
	{"escape", OPT_TABLE, OT_CHAR, 0, 0},
	{"null", OPT_TABLE, OT_STRING, 0, 0},
	{"buffer_delay", OPT_TABLE, OT_IGNORED_INT, 0, 0},
	{"num_partitions", OPT_TABLE, OT_IGNORED_INT, 0, 0},
	{"partition", OPT_COLUMN, OT_BOOL, 0, 0},
	{"offset", OPT_COLUMN, OT_BOOL, 0, 0},
	{"timestamp", OPT_COLUMN, OT_BOOL, 0, 0},
	{"key", OPT_COLUMN, OT_BOOL, 0, 0},
	{"headers", OPT_COLUMN, OT_BOOL, 0, 0},
	{"junk", OPT_COLUMN, OT_BOOL, 0, 0},
	{"junk_error", OPT_COLUMN, OT_BOOL, 0, 0},
	{"json", OPT_COLUMN, OT_STRING, 0, 0},
	{NULL, 0, 0, 0, 0}
};

/* librdkafka properties that hold secrets: user mappings only */
static const char *const secret_props[] = {
	"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem",
	"ssl_key", "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", NULL
};

/* librdkafka properties kafka_fdw sets itself */
static const char *const reserved_props[] = {
	"bootstrap.servers", "metadata.broker.list", "log.queue", "enable.partition.eof",
	"isolation.level", "enable.auto.commit", "enable.auto.offset.store", "auto.offset.reset",
	"transactional.id", "acks", "request.required.acks", "enable.idempotence",
	"message.timeout.ms", "delivery.timeout.ms", NULL
};

static bool
in_list(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/*
 * Properties that read files, load libraries or run commands.  A non-superuser
 * could otherwise read any file the server can, or run code as the server.
 */
static bool
is_unsafe_prop(const char *name)
{
	size_t		len = strlen(name);
	static const char *const suffixes[] = {".location", ".keytab", ".cmd", "_location", NULL};
	static const char *const exact[] = {
		"plugin.library.paths", "ssl.providers", "ssl.engine.id", "ssl_engine_id",
		"ssl.ca.certificate.stores", "sasl.kerberos.kinit.cmd", "sasl.kerberos.keytab",
		NULL
	};

	for (const char *const *s = suffixes; *s; s++)
	{
		size_t		sl = strlen(*s);

		if (len >= sl && strcmp(name + len - sl, *s) == 0)
			return true;
	}
	return in_list(name, exact);
}

static const KafkaOptionDef *
find_option(const char *name)
{
	for (const KafkaOptionDef *d = option_defs; d->name; d++)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static const char *
catalog_name(int where)
{
	switch (where)
	{
		case OPT_SERVER:
			return "server";
		case OPT_TABLE:
			return "foreign table";
		case OPT_COLUMN:
			return "foreign table column";
		case OPT_MAPPING:
			return "user mapping";
	}
	return "foreign-data wrapper";
}

/* The kafka_fdw options valid in one catalog, for hints */
static char *
valid_options_list(int where)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const KafkaOptionDef *d = option_defs; d->name; d++)
	{
		if (!(d->where & where))
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, d->name);
	}
	return buf.data;
}

const char *
kafkaFormatName(KafkaFormat format)
{
	switch (format)
	{
		case KAFKA_FORMAT_JSON:
			return "json";
		case KAFKA_FORMAT_CSV:
			return "csv";
		case KAFKA_FORMAT_TEXT:
			return "text";
		case KAFKA_FORMAT_BYTEA:
			return "bytea";
		case KAFKA_FORMAT_JSONB:
			return "jsonb";
		case KAFKA_FORMAT_AVRO:
			return "avro";
	}
	return "?";
}

static bool
parse_format(const char *s, KafkaFormat *f)
{
	static const KafkaFormat all[] = {KAFKA_FORMAT_JSON, KAFKA_FORMAT_CSV, KAFKA_FORMAT_TEXT,
	KAFKA_FORMAT_BYTEA, KAFKA_FORMAT_JSONB};

	for (size_t i = 0; i < lengthof(all); i++)
		if (pg_strcasecmp(s, kafkaFormatName(all[i])) == 0)
		{
			*f = all[i];
			return true;
		}
	return false;
}

static bool
parse_on_error(const char *s, KafkaOnError *e)
{
	if (pg_strcasecmp(s, "fail") == 0 || pg_strcasecmp(s, "error") == 0)
		*e = KAFKA_ON_ERROR_FAIL;
	else if (pg_strcasecmp(s, "skip") == 0)
		*e = KAFKA_ON_ERROR_SKIP;
	else if (pg_strcasecmp(s, "junk") == 0)
		*e = KAFKA_ON_ERROR_JUNK;
	else
		return false;
	return true;
}

static int
int_value(DefElem *def, const KafkaOptionDef *d)
{
	char	   *s = defGetString(def);
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || (d->max > 0 && (v < d->min || v > d->max)))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->defname, s),
				 d->max > 0 ? errhint("Valid values are integers from %d to %d.", d->min, d->max)
				 : errhint("The value must be an integer.")));
	return (int) v;
}

static bool
bool_value(DefElem *def)
{
	bool		b;

	if (!parse_bool(defGetString(def), &b))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for boolean option \"%s\": \"%s\"",
						def->defname, defGetString(def))));
	return b;
}

/*
 * Check one librdkafka pass-through property: it must exist, its value must
 * be valid, secrets go to user mappings, unsafe ones need a superuser.
 */
static void
validate_rdkafka_prop(DefElem *def, int where)
{
	rd_kafka_conf_t *conf;
	char		errstr[512];
	rd_kafka_conf_res_t res;
	char	   *value = defGetString(def);

	if (in_list(def->defname, reserved_props))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("librdkafka property \"%s\" is managed by kafka_fdw", def->defname),
				 strcmp(def->defname, "bootstrap.servers") == 0 ||
				 strcmp(def->defname, "metadata.broker.list") == 0 ?
				 errhint("Use the server option \"brokers\".") :
				 strcmp(def->defname, "isolation.level") == 0 ?
				 errhint("Use the option \"isolation_level\".") :
				 strcmp(def->defname, "transactional.id") == 0 ?
				 errhint("Use the option \"transactional\"; kafka_fdw chooses a transactional.id per session.") :
				 strstr(def->defname, "timeout") != NULL ?
				 errhint("Use the option \"timeout_ms\".") :
				 strstr(def->defname, "acks") != NULL || strcmp(def->defname, "enable.idempotence") == 0 ?
				 errhint("kafka_fdw always writes with acks=all and idempotence, so that no acknowledged row is lost or duplicated.") : 0));

	/* before librdkafka sees the value: setting some of these acts at once */
	if (is_unsafe_prop(def->defname) && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set librdkafka property \"%s\"", def->defname),
				 errdetail("The property makes librdkafka read files, load libraries or run commands on the database server."),
				 errhint("Ask a superuser to set it.")));

	/* plugin.library.paths would dlopen() right here: checked when used */
	if (strcmp(def->defname, "plugin.library.paths") == 0)
		return;

	conf = rd_kafka_conf_new();
	res = rd_kafka_conf_set(conf, def->defname, value, errstr, sizeof(errstr));
	rd_kafka_conf_destroy(conf);
	if (res == RD_KAFKA_CONF_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", def->defname),
				 where == OPT_MAPPING ?
				 errhint("A user mapping takes librdkafka properties only, such as sasl.username and sasl.password.") :
				 errhint("Valid %s options are: %s; or a librdkafka configuration property.",
						 catalog_name(where), valid_options_list(where))));
	if (res != RD_KAFKA_CONF_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for librdkafka property \"%s\": \"%s\"", def->defname, value),
				 errdetail("%s", errstr)));

	if (where != OPT_MAPPING && in_list(def->defname, secret_props))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("librdkafka property \"%s\" holds a secret and is not allowed in %s options",
						def->defname, catalog_name(where)),
				 errhint("Put secrets in a user mapping: CREATE USER MAPPING FOR ... SERVER ... OPTIONS (\"%s\" '...').",
						 def->defname)));
}

PG_FUNCTION_INFO_V1(kafka_fdw_validator);

/*
 * Validate the options of a kafka_fdw object.  Called for CREATE/ALTER of the
 * wrapper, servers, user mappings, foreign tables and their columns, always
 * with the complete resulting option list.
 */
Datum
kafka_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	int			where;
	ListCell   *lc;
	int			roles = 0;

	switch (catalog)
	{
		case ForeignServerRelationId:
			where = OPT_SERVER;
			break;
		case ForeignTableRelationId:
			where = OPT_TABLE;
			break;
		case AttributeRelationId:
			where = OPT_COLUMN;
			break;
		case UserMappingRelationId:
			where = OPT_MAPPING;
			break;
		default:
			where = 0;
			break;
	}

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const KafkaOptionDef *d = find_option(def->defname);

		if (d == NULL)
		{
			if (where == OPT_SERVER || where == OPT_TABLE || where == OPT_MAPPING)
			{
				validate_rdkafka_prop(def, where);
				continue;
			}
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 where == 0 ?
					 errhint("The kafka_fdw foreign-data wrapper takes no options.") :
					 errhint("Valid %s options are: %s.", catalog_name(where),
							 valid_options_list(where))));
		}
		if (where == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 errhint("The kafka_fdw foreign-data wrapper takes no options.")));
		if (!(d->where & where))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"%s\" is not valid for a %s", def->defname, catalog_name(where)),
					 where == OPT_MAPPING ?
					 errhint("A user mapping takes librdkafka properties only, such as sasl.username and sasl.password.") :
					 errhint("Valid %s options are: %s.", catalog_name(where), valid_options_list(where))));

		switch (d->type)
		{
			case OT_STRING:
				if (defGetString(def)[0] == '\0' && strcmp(d->name, "null") != 0)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("option \"%s\" must not be empty", def->defname)));
				break;
			case OT_INT:
				(void) int_value(def, d);
				break;
			case OT_IGNORED_INT:
				(void) int_value(def, d);
				ereport(NOTICE,
						(errmsg("option \"%s\" is accepted for compatibility and ignored", def->defname),
						 errdetail("%s", strcmp(d->name, "num_partitions") == 0 ?
								   "kafka_fdw reads the partitions of a topic from the broker." :
								   "kafka_fdw waits for the high watermark of each partition, not for a delay.")));
				break;
			case OT_BOOL:
				if (bool_value(def) && where == OPT_COLUMN && strcmp(d->name, "json") != 0)
					roles++;
				break;
			case OT_FORMAT:
				{
					KafkaFormat f;

					if (!parse_format(defGetString(def), &f))
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"format\": \"%s\"", defGetString(def)),
								 errhint("Valid formats are: json, csv, text, bytea, jsonb.")));
					break;
				}
			case OT_ON_ERROR:
				{
					KafkaOnError e;

					if (!parse_on_error(defGetString(def), &e))
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"on_error\": \"%s\"", defGetString(def)),
								 errhint("Valid values are: fail, skip, junk.")));
					break;
				}
			case OT_ISOLATION:
				if (pg_strcasecmp(defGetString(def), "read_committed") != 0 &&
					pg_strcasecmp(defGetString(def), "read_uncommitted") != 0)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("invalid value for option \"isolation_level\": \"%s\"", defGetString(def)),
							 errhint("Valid values are: read_committed, read_uncommitted.")));
				break;
			case OT_CHAR:
				if (strlen(defGetString(def)) != 1)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("option \"%s\" must be a single one-byte character", def->defname)));
				/* a message's trailing newline ends the record: it cannot be a CSV character */
				if (defGetString(def)[0] == '\n' || defGetString(def)[0] == '\r')
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("option \"%s\" cannot be newline or carriage return", def->defname)));
				break;
		}
	}

	if (roles > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("a column can have only one of the options partition, offset, timestamp, key, headers, junk, junk_error")));

	if (where == OPT_SERVER)
	{
		bool		has_brokers = false;

		foreach(lc, options)
			if (strcmp(((DefElem *) lfirst(lc))->defname, "brokers") == 0)
				has_brokers = true;
		if (!has_brokers)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("option \"brokers\" is required for a kafka_fdw server"),
					 errhint("For example: CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '127.0.0.1:9092').")));
	}
	if (where == OPT_TABLE)
	{
		bool		has_topic = false;
		char		delimiter = ',',
					quote = '"';

		foreach(lc, options)
		{
			DefElem    *def = (DefElem *) lfirst(lc);

			if (strcmp(def->defname, "topic") == 0)
				has_topic = true;
			else if (strcmp(def->defname, "delimiter") == 0)
				delimiter = defGetString(def)[0];
			else if (strcmp(def->defname, "quote") == 0)
				quote = defGetString(def)[0];
		}
		/* as COPY: a field starting with the delimiter could not tell quoted from empty */
		if (delimiter == quote)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("options \"delimiter\" and \"quote\" must be different")));
		if (!has_topic)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("option \"topic\" is required for a kafka_fdw foreign table"),
					 errhint("Add OPTIONS (topic 'name') to the foreign table.")));
	}

	PG_RETURN_VOID();
}

/* Options of the user mapping of userid (or PUBLIC) for a server; NIL if none */
static List *
user_mapping_options(Oid userid, Oid serverid)
{
	HeapTuple	tp;
	Datum		datum;
	bool		isnull;
	List	   *result = NIL;

	tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid), ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		return NIL;
	datum = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp, Anum_pg_user_mapping_umoptions, &isnull);
	if (!isnull)
		result = untransformRelOptions(datum);
	ReleaseSysCache(tp);
	return result;
}

/* Set or replace a pass-through property in a list (later sources override) */
static List *
set_prop(List *props, DefElem *def)
{
	ListCell   *lc;

	foreach(lc, props)
	{
		DefElem    *old = (DefElem *) lfirst(lc);

		if (strcmp(old->defname, def->defname) == 0)
		{
			lfirst(lc) = def;
			return props;
		}
	}
	return lappend(props, def);
}

/* Apply one level (server or table) of options to opts */
static void
apply_level(KafkaOptions *opts, List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const KafkaOptionDef *d = find_option(def->defname);
		const char *name = def->defname;

		if (d == NULL)
			opts->rdkafka_props = set_prop(opts->rdkafka_props, def);
		else if (strcmp(name, "brokers") == 0)
			opts->brokers = defGetString(def);
		else if (strcmp(name, "topic") == 0)
			opts->topic = defGetString(def);
		else if (strcmp(name, "format") == 0)
			(void) parse_format(defGetString(def), &opts->format);
		else if (strcmp(name, "batch_size") == 0)
			opts->batch_size = int_value(def, d);
		else if (strcmp(name, "insert_batch_size") == 0)
			opts->insert_batch_size = int_value(def, d);
		else if (strcmp(name, "timeout_ms") == 0)
			opts->timeout_ms = int_value(def, d);
		else if (strcmp(name, "on_error") == 0)
			(void) parse_on_error(defGetString(def), &opts->on_error);
		else if (strcmp(name, "isolation_level") == 0)
			opts->read_committed = pg_strcasecmp(defGetString(def), "read_committed") == 0;
		else if (strcmp(name, "strict") == 0)
			opts->strict = bool_value(def);
		else if (strcmp(name, "transactional") == 0)
			opts->transactional = bool_value(def);
		else if (strcmp(name, "ignore_junk") == 0)
		{
			if (bool_value(def))
				opts->on_error = KAFKA_ON_ERROR_JUNK;
		}
		else if (strcmp(name, "delimiter") == 0)
			opts->csv_delimiter = defGetString(def)[0];
		else if (strcmp(name, "quote") == 0)
			opts->csv_quote = defGetString(def)[0];
		else if (strcmp(name, "escape") == 0)
		{
			opts->csv_escape = defGetString(def)[0];
			opts->csv_escape_set = true;
		}
		else if (strcmp(name, "null") == 0)
			opts->csv_null = defGetString(def);
	}
}

/* Check that a metadata column has a type we can fill */
static void
check_column_type(KafkaColumn *col, const char *role, const Oid *types, int ntypes, const char *hint)
{
	for (int i = 0; i < ntypes; i++)
		if (col->typid == types[i])
			return;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("%s column \"%s\" has type %s", role, col->name, format_type_be(col->typid)),
			 errhint("%s", hint)));
}

/*
 * Options of a server and the current user's mapping, with defaults.
 */
KafkaOptions *
kafkaGetServerOptions(Oid serverid)
{
	KafkaOptions *opts = palloc0(sizeof(KafkaOptions));
	ForeignServer *server = GetForeignServer(serverid);
	ListCell   *lc;

	opts->serverid = server->serverid;
	opts->userid = GetUserId();
	opts->format = KAFKA_FORMAT_JSON;
	opts->batch_size = 10000;
	opts->timeout_ms = 30000;
	opts->on_error = KAFKA_ON_ERROR_FAIL;
	opts->csv_delimiter = ',';
	opts->csv_quote = '"';
	opts->csv_escape = '"';
	opts->csv_null = "";
	opts->read_committed = true;

	apply_level(opts, server->options);
	foreach(lc, user_mapping_options(opts->userid, server->serverid))
		opts->rdkafka_props = set_prop(opts->rdkafka_props, (DefElem *) lfirst(lc));
	return opts;
}

/*
 * Merge all options that apply to a foreign table for the current user.
 * rel may be NULL; then the table is opened here.
 */
KafkaOptions *
kafkaGetOptions(Oid foreigntableid, Relation rel)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	KafkaOptions *opts = kafkaGetServerOptions(table->serverid);
	ListCell   *lc;
	TupleDesc	tupdesc;
	bool		close_rel = false;
	int			value_index = 0;

	apply_level(opts, table->options);
	/* as in COPY, the escape character defaults to the quote character */
	if (!opts->csv_escape_set)
		opts->csv_escape = opts->csv_quote;

	if (rel == NULL)
	{
		rel = table_open(foreigntableid, AccessShareLock);
		close_rel = true;
	}
	tupdesc = RelationGetDescr(rel);
	opts->ncolumns = tupdesc->natts;
	opts->columns = palloc0(sizeof(KafkaColumn) * Max(tupdesc->natts, 1));

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		KafkaColumn *col = &opts->columns[i];
		Oid			func;
		bool		isvarlena;

		col->attnum = i + 1;
		col->name = pstrdup(NameStr(att->attname));
		col->json_name = col->name;
		col->typid = att->atttypid;
		col->typmod = att->atttypmod;
		col->dropped = att->attisdropped;
		col->value_index = -1;
		if (att->attisdropped)
			continue;
		col->category = TypeCategory(att->atttypid);
		getTypeInputInfo(att->atttypid, &func, &col->in_ioparam);
		fmgr_info(func, &col->in_func);
		getTypeOutputInfo(att->atttypid, &func, &isvarlena);
		fmgr_info(func, &col->out_func);

		foreach(lc, GetForeignColumnOptions(foreigntableid, att->attnum))
		{
			DefElem    *def = (DefElem *) lfirst(lc);
			const char *n = def->defname;

			if (strcmp(n, "json") == 0)
				col->json_name = defGetString(def);
			else if (!bool_value(def))
				continue;
			else if (strcmp(n, "partition") == 0)
				col->kind = KAFKA_COL_PARTITION;
			else if (strcmp(n, "offset") == 0)
				col->kind = KAFKA_COL_OFFSET;
			else if (strcmp(n, "timestamp") == 0)
				col->kind = KAFKA_COL_TIMESTAMP;
			else if (strcmp(n, "key") == 0)
				col->kind = KAFKA_COL_KEY;
			else if (strcmp(n, "headers") == 0)
				col->kind = KAFKA_COL_HEADERS;
			else if (strcmp(n, "junk") == 0)
				col->kind = KAFKA_COL_JUNK;
			else if (strcmp(n, "junk_error") == 0)
				col->kind = KAFKA_COL_JUNK_ERROR;
		}

		switch (col->kind)
		{
			case KAFKA_COL_VALUE:
				col->value_index = value_index++;
				break;
			case KAFKA_COL_PARTITION:
				{
					static const Oid t[] = {INT2OID, INT4OID, INT8OID};

					check_column_type(col, "partition", t, 3, "Use int or bigint.");
					opts->partition_attnum = col->attnum;
					break;
				}
			case KAFKA_COL_OFFSET:
				{
					static const Oid t[] = {INT8OID, INT4OID};

					check_column_type(col, "offset", t, 2, "Use bigint.");
					opts->offset_attnum = col->attnum;
					break;
				}
			case KAFKA_COL_TIMESTAMP:
				{
					static const Oid t[] = {TIMESTAMPTZOID, TIMESTAMPOID, INT8OID};

					check_column_type(col, "timestamp", t, 3,
									  "Use timestamptz, timestamp or bigint (milliseconds since the epoch).");
					opts->timestamp_attnum = col->attnum;
					break;
				}
			case KAFKA_COL_KEY:
				opts->key_attnum = col->attnum;
				break;
			case KAFKA_COL_HEADERS:
				{
					static const Oid t[] = {JSONBOID, JSONOID};

					check_column_type(col, "headers", t, 2, "Use jsonb or json.");
					opts->headers_attnum = col->attnum;
					break;
				}
			case KAFKA_COL_JUNK:
				{
					static const Oid t[] = {TEXTOID, BYTEAOID, VARCHAROID};

					check_column_type(col, "junk", t, 3, "Use text or bytea.");
					opts->junk_attnum = col->attnum;
					break;
				}
			case KAFKA_COL_JUNK_ERROR:
				{
					static const Oid t[] = {TEXTOID, VARCHAROID};

					check_column_type(col, "junk_error", t, 2, "Use text.");
					opts->junk_error_attnum = col->attnum;
					break;
				}
		}
	}
	opts->nvalue_columns = value_index;
	for (int i = 0; i < opts->ncolumns; i++)
		if (opts->columns[i].json_name)
			opts->columns[i].json_name_len = strlen(opts->columns[i].json_name);

	if (close_rel)
		table_close(rel, AccessShareLock);

	if ((opts->format == KAFKA_FORMAT_TEXT || opts->format == KAFKA_FORMAT_BYTEA ||
		 opts->format == KAFKA_FORMAT_JSONB) && opts->nvalue_columns > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("format \"%s\" needs exactly one value column, foreign table \"%s\" has %d",
						kafkaFormatName(opts->format), get_rel_name(foreigntableid), opts->nvalue_columns),
				 errhint("Mark the other columns as metadata (partition, offset, timestamp, key, headers) or use format json or csv.")));
	if (opts->on_error == KAFKA_ON_ERROR_JUNK && opts->junk_attnum == 0 && opts->junk_error_attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("on_error 'junk' needs a junk or junk_error column"),
				 errhint("Add a column with OPTIONS (junk 'true') or (junk_error 'true').")));

	return opts;
}
