/*-------------------------------------------------------------------------
 *
 * option.c
 *		  The option model of kafka_fdw: one table of valid options with the
 *		  catalogs they belong to, the validator, and merging server -> user
 *		  mapping -> table options into one KafkaOptions.  The columns of a
 *		  table (column options, roles) are built by columns.c.
 *
 * Invariants:
 *	- Any option that is not a kafka_fdw option must be a librdkafka
 *	  configuration property; rdkafka_conf.c decides who may set it.
 *	- Every librdkafka property keeps where it came from and whether a
 *	  superuser wrote it, for the checks when a handle is built.
 *	- Table options override server options.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
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
	OT_BROKERS,					/* host:port list */
	OT_URL,						/* schema registry base URL */
	OT_PEM,						/* PEM certificates, as text */
	OT_KEY_FORMAT,				/* raw, or a format that can encode keys */
	OT_SUBJECT_STRATEGY,		/* topic, record, topic_record */
	OT_ENCODING,				/* a PostgreSQL encoding name */
	OT_FLAG,					/* a boolean column option that is no role */
	OT_IGNORED_INT				/* accepted for adjust/kafka_fdw compatibility */
} OptType;

/* Bounds of the brokers option: a few bootstrap addresses are enough */
#define KAFKA_MAX_BROKERS		100
#define KAFKA_MAX_BROKERS_LEN	4096

typedef struct KafkaOptionDef
{
	const char *name;
	int			where;			/* OPT_* mask */
	OptType		type;
	int			min;			/* OT_INT bounds */
	int			max;
} KafkaOptionDef;

/* What a user mapping takes, for hints */
#define MAPPING_HINT "A user mapping takes password_required, schema_registry_user, schema_registry_password and librdkafka properties, such as sasl.username and sasl.password."

static const KafkaOptionDef option_defs[] = {
	{"brokers", OPT_SERVER, OT_BROKERS, 0, 0},
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
	{"avro_schema", OPT_TABLE, OT_STRING, 0, 0},
	{"key_format", OPT_TABLE, OT_KEY_FORMAT, 0, 0},
	{"key_avro_schema", OPT_TABLE, OT_STRING, 0, 0},
	{"subject_name_strategy", OPT_TABLE, OT_SUBJECT_STRATEGY, 0, 0},
	{"value_subject", OPT_TABLE, OT_STRING, 0, 0},
	{"key_subject", OPT_TABLE, OT_STRING, 0, 0},
	{"encoding", OPT_TABLE, OT_ENCODING, 0, 0},
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
	{"force_not_null", OPT_COLUMN, OT_FLAG, 0, 0},
	{"force_null", OPT_COLUMN, OT_FLAG, 0, 0},
	{"password_required", OPT_MAPPING, OT_BOOL, 0, 0},
	{"schema_registry", OPT_SERVER, OT_URL, 0, 0},
	{"schema_registry_ca", OPT_SERVER, OT_PEM, 0, 0},
	{"schema_registry_user", OPT_MAPPING, OT_STRING, 0, 0},
	{"schema_registry_password", OPT_MAPPING, OT_STRING, 0, 0},
	{NULL, 0, 0, 0, 0}
};

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

/* The format a format option names */
static bool
parse_format(const char *s, KafkaFormat *f)
{
	const KafkaCodec *codec = kafkaCodecByName(s);

	if (codec == NULL)
		return false;
	*f = codec->format;
	return true;
}

/* The codec a key_format option names (NULL: raw), or false */
static bool
parse_key_format(const char *s, const KafkaCodec **codec)
{
	const KafkaCodec *c;

	if (pg_strcasecmp(s, "raw") == 0)
	{
		*codec = NULL;
		return true;
	}
	c = kafkaCodecByName(s);
	if (c == NULL || !(c->flags & KAFKA_CODEC_KEY))
		return false;
	*codec = c;
	return true;
}

/* subject_name_strategy: Confluent's three strategies, by short name */
static bool
parse_subject_strategy(const char *s, KafkaSubjectStrategy *st)
{
	if (pg_strcasecmp(s, "topic") == 0)
		*st = KAFKA_SUBJECT_TOPIC;
	else if (pg_strcasecmp(s, "record") == 0)
		*st = KAFKA_SUBJECT_RECORD;
	else if (pg_strcasecmp(s, "topic_record") == 0)
		*st = KAFKA_SUBJECT_TOPIC_RECORD;
	else
		return false;
	return true;
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

/*
 * Check the brokers option before librdkafka sees it (librdkafka skips what
 * it cannot parse and retries forever): a comma-separated list of at most
 * KAFKA_MAX_BROKERS entries [protocol://]host[:port], host a name, an IPv4
 * address or a bracketed IPv6 address, port 1-65535.
 */
static void
check_brokers(const char *value)
{
	size_t		len = strlen(value);
	int			n = 0;
	const char *p = value;
	static const char *const hint =
		"List bootstrap brokers as host:port separated by commas, for example '10.0.0.1:9092,10.0.0.2:9092'; an IPv6 address goes in brackets: '[::1]:9092'.";

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"brokers\" must not be empty"),
				 errhint("%s", hint)));
	if (len > KAFKA_MAX_BROKERS_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"brokers\" is %zu bytes long, the limit is %d", len, KAFKA_MAX_BROKERS_LEN),
				 errhint("A few bootstrap brokers are enough: the client learns the others from the cluster.")));
	for (;;)
	{
		const char *comma = strchr(p, ',');
		size_t		elen = comma ? (size_t) (comma - p) : strlen(p);
		char	   *entry;
		char	   *e;
		char	   *host;
		char	   *port = NULL;
		bool		ok = true;

		/* surrounding blanks are tolerated, as librdkafka does */
		while (elen > 0 && (*p == ' ' || *p == '\t'))
			p++, elen--;
		while (elen > 0 && (p[elen - 1] == ' ' || p[elen - 1] == '\t'))
			elen--;
		if (elen == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"brokers\" has an empty entry: \"%s\"", value),
					 errhint("%s", hint)));
		if (++n > KAFKA_MAX_BROKERS)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"brokers\" lists more than %d addresses", KAFKA_MAX_BROKERS),
					 errhint("A few bootstrap brokers are enough: the client learns the others from the cluster.")));

		entry = pnstrdup(p, elen);
		host = entry;
		if ((e = strstr(entry, "://")) != NULL)
		{
			*e = '\0';
			if (pg_strcasecmp(entry, "plaintext") != 0 && pg_strcasecmp(entry, "ssl") != 0 &&
				pg_strcasecmp(entry, "sasl_plaintext") != 0 && pg_strcasecmp(entry, "sasl_ssl") != 0)
				ok = false;
			host = e + 3;
		}
		if (*host == '[')
		{
			/* [IPv6]:port */
			e = strchr(host, ']');
			if (e == NULL || e == host + 1 || strspn(host + 1, "0123456789abcdefABCDEF:.") != (size_t) (e - host - 1))
				ok = false;
			else if (e[1] == ':')
				port = e + 2;
			else if (e[1] != '\0')
				ok = false;
		}
		else
		{
			e = strchr(host, ':');
			if (e)
			{
				*e = '\0';
				port = e + 1;
			}
			if (*host == '\0' || strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != strlen(host))
				ok = false;
		}
		if (ok && port != NULL)
		{
			char	   *pend;
			long		pv;

			errno = 0;
			pv = strtol(port, &pend, 10);
			if (!isdigit((unsigned char) port[0]) || *pend != '\0' || errno != 0 || pv < 1 || pv > 65535)
				ok = false;
		}
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid broker address \"%s\" in option \"brokers\"", pnstrdup(p, elen)),
					 errhint("%s", hint)));
		pfree(entry);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

/*
 * An integer option: an optional sign and decimal digits, nothing else (no
 * spaces, units or exponents: strtol alone would take ' 100'), in range.
 */
static int
int_value(DefElem *def, const KafkaOptionDef *d)
{
	char	   *s = defGetString(def);
	char	   *end;
	long		v;
	bool		digits = isdigit((unsigned char) s[0]) ||
		((s[0] == '-' || s[0] == '+') && isdigit((unsigned char) s[1]));

	errno = 0;
	v = strtol(s, &end, 10);
	if (!digits || errno != 0 || end == s || *end != '\0' || v < INT_MIN || v > INT_MAX ||
		(d->max > 0 && (v < d->min || v > d->max)))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->defname, s),
				 d->max > 0 ? errhint("Valid values are integers from %d to %d.", d->min, d->max)
				 : errhint("The value must be an integer.")));
	return (int) v;
}

/*
 * A boolean option (any spelling parse_bool takes); an error names the
 * option.  Also used by columns.c for the column options.
 */
bool
kafkaBoolOption(DefElem *def)
{
	bool		b;

	if (!parse_bool(defGetString(def), &b))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for boolean option \"%s\": \"%s\"",
						def->defname, defGetString(def))));
	return b;
}

/* The source of librdkafka properties in a catalog */
static KafkaPropSource
prop_source(int where)
{
	return where == OPT_SERVER ? KAFKA_PROP_SERVER :
		where == OPT_TABLE ? KAFKA_PROP_TABLE : KAFKA_PROP_MAPPING;
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
				kafkaValidateRdkafkaProp(def->defname, defGetString(def), prop_source(where),
										 where == OPT_MAPPING ?
										 MAPPING_HINT :
										 psprintf("Valid %s options are: %s; or a librdkafka configuration property.",
												  catalog_name(where), valid_options_list(where)));
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
					 errhint(MAPPING_HINT) :
					 errhint("Valid %s options are: %s.", catalog_name(where), valid_options_list(where))));

		/* as in postgres_fdw: only a superuser may waive the password */
		if (strcmp(d->name, "password_required") == 0 && !kafkaBoolOption(def) && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("password_required=false is superuser-only"),
					 errhint("User mappings with the password_required option set to false may only be created or modified by the superuser.")));

		switch (d->type)
		{
			case OT_BROKERS:
				check_brokers(defGetString(def));
				break;
			case OT_URL:
				kafkaRegistryCheckUrl(defGetString(def));
				break;
			case OT_PEM:
				kafkaRegistryCheckCa(defGetString(def));
				break;
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
				if (kafkaBoolOption(def) && where == OPT_COLUMN)
					roles++;
				break;
			case OT_FLAG:
				(void) kafkaBoolOption(def);
				break;
			case OT_ENCODING:
				{
					int			enc = pg_char_to_encoding(defGetString(def));

					if (enc < 0 || !PG_VALID_ENCODING(enc))
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"encoding\": \"%s\"", defGetString(def)),
								 errhint("Give the name of a PostgreSQL encoding, such as UTF8, LATIN1, WIN1252 or SJIS (see pg_encoding_to_char).")));
					kafkaCheckEncoding(enc, NULL);
					break;
				}
			case OT_FORMAT:
				{
					KafkaFormat f;

					if (!parse_format(defGetString(def), &f))
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"format\": \"%s\"", defGetString(def)),
								 errhint("Valid formats are: %s.", kafkaFormatNames())));
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
			case OT_KEY_FORMAT:
				{
					const KafkaCodec *c;

					if (!parse_key_format(defGetString(def), &c))
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"key_format\": \"%s\"", defGetString(def)),
								 errhint("Valid values are: %s.", kafkaKeyFormatNames())));
					break;
				}
			case OT_SUBJECT_STRATEGY:
				{
					KafkaSubjectStrategy st;

					if (!parse_subject_strategy(defGetString(def), &st))
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
								 errmsg("invalid value for option \"subject_name_strategy\": \"%s\"", defGetString(def)),
								 errhint("Valid values are: topic, record, topic_record.")));
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

		foreach(lc, options)
		{
			DefElem    *def = (DefElem *) lfirst(lc);

			if (strcmp(def->defname, "topic") == 0)
				has_topic = true;
		}
		if (!has_topic)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("option \"topic\" is required for a kafka_fdw foreign table"),
					 errhint("Add OPTIONS (topic 'name') to the foreign table.")));
		kafkaCodecValidate(options);
	}

	PG_RETURN_VOID();
}

/*
 * Is there a conversion between the message encoding of a table and the
 * database encoding, both ways?  Checked when the option is written and
 * when the table is used (a table restored into a database of another
 * encoding), so that a missing conversion is one clear error rather than a
 * bad message each.
 */
void
kafkaCheckEncoding(int encoding, const char *table)
{
	int			db = GetDatabaseEncoding();

	if (encoding == PG_UTF8 || encoding == db || encoding == PG_SQL_ASCII || db == PG_SQL_ASCII)
		return;
	if (!OidIsValid(FindDefaultConversionProc(encoding, db)) ||
		!OidIsValid(FindDefaultConversionProc(db, encoding)))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 table ?
				 errmsg("no conversion between the message encoding \"%s\" of foreign table \"%s\" and the database encoding \"%s\"",
						pg_encoding_to_char(encoding), table, pg_encoding_to_char(db)) :
				 errmsg("no conversion between the message encoding \"%s\" and the database encoding \"%s\"",
						pg_encoding_to_char(encoding), pg_encoding_to_char(db)),
				 errhint("Set the option \"encoding\" to an encoding PostgreSQL converts to and from \"%s\", such as UTF8.",
						 pg_encoding_to_char(db))));
}

/*
 * Options of the user mapping of userid (or PUBLIC) for a server; NIL if
 * none.  *umuser: the role the mapping is for (InvalidOid for PUBLIC).
 */
static List *
user_mapping_options(Oid userid, Oid serverid, Oid *umuser)
{
	HeapTuple	tp;
	Datum		datum;
	bool		isnull;
	List	   *result = NIL;

	*umuser = InvalidOid;
	tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid), ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		return NIL;
	*umuser = ((Form_pg_user_mapping) GETSTRUCT(tp))->umuser;
	datum = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp, Anum_pg_user_mapping_umoptions, &isnull);
	if (!isnull)
		result = untransformRelOptions(datum);
	ReleaseSysCache(tp);
	return result;
}

/*
 * Set or replace a pass-through property in a list (later sources
 * override), remembering where it came from.
 */
static List *
set_prop(List *props, DefElem *def, KafkaPropSource source, bool trusted)
{
	KafkaProp  *kp = palloc(sizeof(KafkaProp));
	ListCell   *lc;

	kp->name = def->defname;
	kp->value = defGetString(def);
	kp->source = source;
	kp->trusted = trusted;
	foreach(lc, props)
	{
		KafkaProp  *old = (KafkaProp *) lfirst(lc);

		if (strcmp(old->name, kp->name) == 0)
		{
			lfirst(lc) = kp;
			return props;
		}
	}
	return lappend(props, kp);
}

/* Apply one level (server or table) of options to opts */
static void
apply_level(KafkaOptions *opts, List *options, KafkaPropSource source, bool trusted)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const KafkaOptionDef *d = find_option(def->defname);
		const char *name = def->defname;

		if (d == NULL)
			opts->rdkafka_props = set_prop(opts->rdkafka_props, def, source, trusted);
		else if (strcmp(name, "brokers") == 0)
			opts->brokers = defGetString(def);
		else if (strcmp(name, "schema_registry") == 0)
			opts->schema_registry = defGetString(def);
		else if (strcmp(name, "schema_registry_ca") == 0)
			opts->schema_registry_ca = defGetString(def);
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
		{
			(void) parse_on_error(defGetString(def), &opts->on_error);
			opts->on_error_explicit = true;
		}
		else if (strcmp(name, "isolation_level") == 0)
			opts->read_committed = pg_strcasecmp(defGetString(def), "read_committed") == 0;
		else if (strcmp(name, "strict") == 0)
			opts->strict = kafkaBoolOption(def);
		else if (strcmp(name, "transactional") == 0)
			opts->transactional = kafkaBoolOption(def);
		else if (strcmp(name, "ignore_junk") == 0)
			opts->ignore_junk = kafkaBoolOption(def);
		else if (strcmp(name, "encoding") == 0)
			opts->encoding = pg_char_to_encoding(defGetString(def));
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
		else if (strcmp(name, "avro_schema") == 0)
			opts->avro_schema = defGetString(def);
		else if (strcmp(name, "key_format") == 0)
			(void) parse_key_format(defGetString(def), &opts->key_codec);
		else if (strcmp(name, "key_avro_schema") == 0)
			opts->key_avro_schema = defGetString(def);
		else if (strcmp(name, "subject_name_strategy") == 0)
			(void) parse_subject_strategy(defGetString(def), &opts->subject_strategy);
		else if (strcmp(name, "value_subject") == 0)
			opts->value_subject = defGetString(def);
		else if (strcmp(name, "key_subject") == 0)
			opts->key_subject = defGetString(def);
	}
}

/* The owner of a relation (foreign tables here; streamed tables elsewhere) */
Oid
kafkaRelOwner(Oid relid)
{
	HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);
	return owner;
}

/*
 * Options of a server and the current user's mapping, with defaults.
 */
KafkaOptions *
kafkaGetServerOptions(Oid serverid)
{
	return kafkaGetServerOptionsFor(serverid, GetUserId());
}

/*
 * The options of a server with the user mapping of userid: a background
 * worker publishes a table's changes with the table owner's credentials,
 * never with those of the role it runs as.
 */
KafkaOptions *
kafkaGetServerOptionsFor(Oid serverid, Oid userid)
{
	KafkaOptions *opts = palloc0(sizeof(KafkaOptions));
	ForeignServer *server = GetForeignServer(serverid);
	ListCell   *lc;
	Oid			umuser;
	List	   *umoptions;

	opts->serverid = server->serverid;
	opts->server_name = server->servername;
	opts->password_required = true;
	opts->userid = userid;
	opts->format = KAFKA_FORMAT_JSON;
	opts->batch_size = 10000;
	opts->timeout_ms = 30000;
	opts->on_error = KAFKA_ON_ERROR_FAIL;
	opts->csv_delimiter = ',';
	opts->csv_quote = '"';
	opts->csv_escape = '"';
	opts->csv_null = "";
	opts->read_committed = true;
	opts->encoding = PG_UTF8;

	apply_level(opts, server->options, KAFKA_PROP_SERVER, superuser_arg(server->owner));
	umoptions = user_mapping_options(opts->userid, server->serverid, &umuser);
	foreach(lc, umoptions)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "password_required") == 0)
			opts->password_required = kafkaBoolOption(def);
		else if (strcmp(def->defname, "schema_registry_user") == 0)
			opts->schema_registry_user = defGetString(def);
		else if (strcmp(def->defname, "schema_registry_password") == 0)
			opts->schema_registry_password = defGetString(def);
		else
			opts->rdkafka_props = set_prop(opts->rdkafka_props, def, KAFKA_PROP_MAPPING,
										   OidIsValid(umuser) && superuser_arg(umuser));
	}
	return opts;
}

/*
 * Refuse a relation that is not a foreign table of kafka_fdw (42809), for
 * the SQL functions that take one (its options would be no Kafka options).
 */
void
kafkaRequireKafkaTable(Oid relid)
{
	if (get_rel_relkind(relid) != RELKIND_FOREIGN_TABLE ||
		strcmp(GetForeignDataWrapper(GetForeignServer(GetForeignTable(relid)->serverid)->fdwid)->fdwname,
			   KAFKA_FDW_NAME) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a kafka_fdw foreign table", get_rel_name(relid))));
}

/*
 * Merge all options that apply to a foreign table for the current user,
 * then build its columns (columns.c).  rel may be NULL; then the table is
 * opened here.
 */
KafkaOptions *
kafkaGetOptions(Oid foreigntableid, Relation rel)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	KafkaOptions *opts = kafkaGetServerOptions(table->serverid);
	bool		close_rel = false;
	bool		server_on_error = opts->on_error_explicit;

	opts->table_name = get_rel_name(foreigntableid);
	opts->relid = foreigntableid;
	opts->on_error_explicit = false;
	apply_level(opts, table->options, KAFKA_PROP_TABLE, superuser_arg(kafkaRelOwner(foreigntableid)));

	/*
	 * The bad message policy: the table's on_error, else its ignore_junk
	 * 'true' (adjust/kafka_fdw's spelling of 'junk'), else the server's
	 * on_error; else kafkaBuildColumns makes it 'junk' if the table has a
	 * junk or junk_error column, as adjust/kafka_fdw does, or 'fail'.
	 */
	if (!opts->on_error_explicit && opts->ignore_junk)
	{
		opts->on_error = KAFKA_ON_ERROR_JUNK;
		opts->on_error_explicit = true;
	}
	else if (server_on_error)
		opts->on_error_explicit = true;
	kafkaCheckEncoding(opts->encoding, opts->table_name);
	/* as in COPY, the escape character defaults to the quote character */
	if (!opts->csv_escape_set)
		opts->csv_escape = opts->csv_quote;

	if (rel == NULL)
	{
		rel = table_open(foreigntableid, AccessShareLock);
		close_rel = true;
	}
	kafkaBuildColumns(opts, rel);
	kafkaCodecCheckTable(opts);
	if (close_rel)
		table_close(rel, AccessShareLock);

	return opts;
}
