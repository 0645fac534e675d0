/*-------------------------------------------------------------------------
 *
 * import.c
 *		  IMPORT FOREIGN SCHEMA: one CREATE FOREIGN TABLE statement per topic
 *		  of the cluster.  Kafka has no schemas: the remote schema name of
 *		  the statement is not used (any name imports from the whole
 *		  cluster; the import option topic_prefix narrows it).
 *
 *		  A table is named after its topic and has the metadata columns
 *		  partition, offset, timestamp and key (import option metadata).
 *		  Its value columns come from the schema registry when the server
 *		  has one: the latest version of the subject "<topic>-value", an
 *		  Avro schema, gives a table of format avro with a column per
 *		  record field (codec_avro.c's kafkaAvroSchemaColumns says which
 *		  type reads a field whole); an Avro schema of "<topic>-key" types
 *		  the key column (key_format avro).  A topic without a registered
 *		  schema gets one column "value" of the import option format (text,
 *		  bytea or jsonb: the formats whose value is one column).
 *
 * Invariants:
 *	- Names and values in the statements are quoted (quote_identifier,
 *	  quote_literal_cstr) and types are schema-qualified or SQL keywords
 *	  (format_type_extended with FORMAT_TYPE_FORCE_QUALIFY), so a topic,
 *	  field or server name cannot inject anything and no search_path can
 *	  redirect a type.
 *	- LIMIT TO and EXCEPT are applied here, before any registry request
 *	  (PostgreSQL filters the statements by table name again).
 *	- Memory beyond the statements is linear in the number of topics:
 *	  their names, a hash of the LIMIT TO/EXCEPT names, a hash of the
 *	  table names made, a hash of the registry's subjects; the work for one
 *	  topic (registry answers, parsed schemas, which hold avro-c objects
 *	  released with their memory context) is freed before the next.
 *	- The registry is either used or not: when it cannot be asked, the
 *	  import fails (with a hint at registry 'false'); it never falls back
 *	  to untyped tables.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

/* Appended to the hint of a registry error during an import */
#define IMPORT_REGISTRY_HINT "IMPORT FOREIGN SCHEMA ... OPTIONS (registry 'false') imports without the schema registry."

/* The options of an IMPORT FOREIGN SCHEMA statement */
typedef struct ImportOptions
{
	const KafkaCodec *untyped;	/* format of topics without a schema */
	bool		registry;		/* ask the schema registry */
	bool		metadata;		/* add the metadata columns */
	const char *topic_prefix;	/* only topics whose name starts with it */
} ImportOptions;

/* One column of a statement being made */
typedef struct ImportColumn
{
	char	   *name;			/* column name (unquoted) */
	char	   *type;			/* type, ready for SQL */
	bool		notnull;
	const char *option;			/* column option name, or NULL */
	const char *value;			/* its value */
} ImportColumn;

/* An entry of a hash of names (LIMIT TO/EXCEPT, tables made, subjects) */
typedef struct NameEntry
{
	char	   *name;			/* the key: a palloc'd string */
	bool		used;			/* LIMIT TO: a topic had this name */
	const char *topic;			/* tables made: the topic it was made for */
} NameEntry;

/* Names are hashed by the strings their pointers point to */
static uint32
name_key_hash(const void *key, Size keysize)
{
	(void) keysize;
	return string_hash(*(char *const *) key, 0);
}

static int
name_key_match(const void *a, const void *b, Size keysize)
{
	(void) keysize;
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* A hash of strings (the key: a pointer to one) */
static HTAB *
new_name_hash(const char *what, long n)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(NameEntry);
	ctl.hash = name_key_hash;
	ctl.match = name_key_match;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(what, Max(n, 16), &ctl, HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

static NameEntry *
name_find(HTAB *h, const char *name)
{
	return hash_search(h, &name, HASH_FIND, NULL);
}

static NameEntry *
name_enter(HTAB *h, const char *name, bool *found)
{
	NameEntry  *e = hash_search(h, &name, HASH_ENTER, found);

	if (!*found)
	{
		e->name = pstrdup(name);
		e->used = false;
		e->topic = NULL;
	}
	return e;
}

/* The valid import options, for hints */
#define IMPORT_OPTIONS_HINT "Valid options of IMPORT FOREIGN SCHEMA are: format, registry, metadata, topic_prefix."

/* Parse and check the OPTIONS of the statement */
static void
parse_import_options(List *options, KafkaOptions *server, ImportOptions *io)
{
	ListCell   *lc;
	bool		registry_given = false;

	io->untyped = kafkaCodec(KAFKA_FORMAT_TEXT);
	io->registry = server->schema_registry != NULL;
	io->metadata = true;
	io->topic_prefix = NULL;
	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		for (ListCell *prev = list_head(options); prev != lc; prev = lnext(options, prev))
			if (strcmp(((DefElem *) lfirst(prev))->defname, def->defname) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_SYNTAX_ERROR),
						 errmsg("option \"%s\" of IMPORT FOREIGN SCHEMA is given twice", def->defname)));
		if (strcmp(def->defname, "format") == 0)
		{
			const KafkaCodec *c = kafkaCodecByName(defGetString(def));

			if (c == NULL || !(c->flags & KAFKA_CODEC_WHOLE_VALUE))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"format\" of IMPORT FOREIGN SCHEMA: \"%s\"",
								defGetString(def)),
						 errhint("Topics without a registered schema get one value column: the format is text, bytea or jsonb.")));
			io->untyped = c;
		}
		else if (strcmp(def->defname, "registry") == 0)
		{
			io->registry = kafkaBoolOption(def);
			registry_given = true;
		}
		else if (strcmp(def->defname, "metadata") == 0)
			io->metadata = kafkaBoolOption(def);
		else if (strcmp(def->defname, "topic_prefix") == 0)
			io->topic_prefix = defGetString(def);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\" of IMPORT FOREIGN SCHEMA", def->defname),
					 errhint(IMPORT_OPTIONS_HINT)));
	}
	if (registry_given && io->registry && server->schema_registry == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("server \"%s\" has no schema registry", server->server_name),
				 errhint("Set the server option schema_registry, or leave out the import option registry.")));
}

/*
 * A table (or column) name for a topic (or field): the name, cut to
 * NAMEDATALEN - 1 bytes as the parser would cut it (silently here, so
 * that LIMIT TO and EXCEPT compare the names PostgreSQL will compare).
 */
static char *
cut_name(const char *name)
{
	int			len = strlen(name);

	if (len >= NAMEDATALEN)
		len = pg_mbcliplen(name, len, NAMEDATALEN - 1);
	return pnstrdup(name, len);
}

/* Is a topic internal: Kafka's (__consumer_offsets, ...) or a registry's store? */
static bool
internal_topic(const char *name)
{
	return strncmp(name, "__", 2) == 0 || strcmp(name, "_schemas") == 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The topics of the cluster (one metadata request, bounded by timeout_ms
 * and interruptible: connection.c), internal topics and those without the
 * prefix left out, sorted by name.  Returns their number.
 */
static int
list_topics(KafkaOptions *opts, const ImportOptions *io, char ***names)
{
	const struct rd_kafka_metadata *md = kafkaMetadata(kafkaGetMeta(opts), NULL, opts->timeout_ms);
	size_t		plen = io->topic_prefix ? strlen(io->topic_prefix) : 0;
	int			n = 0;

	/* librdkafka's result is malloc'd: released whatever happens */
	PG_TRY();
	{
		*names = palloc(sizeof(char *) * Max(md->topic_cnt, 1));
		for (int i = 0; i < md->topic_cnt; i++)
		{
			const char *t = md->topics[i].topic;

			if (internal_topic(t) || (plen > 0 && strncmp(t, io->topic_prefix, plen) != 0))
				continue;
			(*names)[n++] = pstrdup(t);
		}
	}
	PG_FINALLY();
	{
		rd_kafka_metadata_destroy(md);
	}
	PG_END_TRY();
	qsort(*names, n, sizeof(char *), cmp_names);
	return n;
}

/*
 * Add the import hint to an error a registry request raised, and rethrow
 * it (called in PG_CATCH).  Cancel, termination and resource errors are
 * rethrown as they are.
 */
static void
rethrow_registry_error(MemoryContext cxt) pg_attribute_noreturn();

static void
rethrow_registry_error(MemoryContext cxt)
{
	ErrorData  *edata;
	int			category;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);
	if (category == ERRCODE_OPERATOR_INTERVENTION || category == ERRCODE_INSUFFICIENT_RESOURCES ||
		category == ERRCODE_PROGRAM_LIMIT_EXCEEDED)
	{
		FreeErrorData(edata);
		PG_RE_THROW();
	}
	FlushErrorState();
	edata->hint = edata->hint ? psprintf("%s %s", edata->hint, IMPORT_REGISTRY_HINT) :
		pstrdup(IMPORT_REGISTRY_HINT);
	ReThrowError(edata);
}

/*
 * The registry's subjects, as a hash.  The answer (the whole list as JSON)
 * is parsed in a context of its own, deleted once the names are copied.
 */
static HTAB *
registry_subjects(KafkaOptions *opts)
{
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext tmp = AllocSetContextCreate(cxt, "kafka_fdw import subjects", ALLOCSET_DEFAULT_SIZES);
	List	   *volatile subjects = NIL;
	HTAB	   *h;
	ListCell   *lc;

	PG_TRY();
	{
		MemoryContextSwitchTo(tmp);
		subjects = kafkaRegistrySubjects(opts);
		MemoryContextSwitchTo(cxt);
	}
	PG_CATCH();
	{
		rethrow_registry_error(cxt);
	}
	PG_END_TRY();
	h = new_name_hash("kafka_fdw import subjects", list_length(subjects));
	foreach(lc, subjects)
	{
		bool		found;

		(void) name_enter(h, lfirst(lc), &found);
	}
	MemoryContextDelete(tmp);
	return h;
}

/* The latest version of a subject, or NULL if it has none (any more) */
static const KafkaSchema *
registry_latest(KafkaOptions *opts, const char *subject)
{
	MemoryContext cxt = CurrentMemoryContext;
	const KafkaSchema *volatile ks = NULL;

	PG_TRY();
	{
		ks = kafkaRegistrySubjectVersion(opts, subject, KAFKA_REGISTRY_LATEST, true);
	}
	PG_CATCH();
	{
		rethrow_registry_error(cxt);
	}
	PG_END_TRY();
	return ks;
}

/* A type as SQL: a keyword (integer, ...) or schema-qualified */
static char *
type_sql(Oid typid, int32 typmod)
{
	return format_type_extended(typid, typmod,
								FORMAT_TYPE_FORCE_QUALIFY | (typmod >= 0 ? FORMAT_TYPE_TYPEMOD_GIVEN : 0));
}

/*
 * The latest Avro schema of "<topic>-<what>" (what: value or key), parsed
 * into the current memory context; NULL if the subject does not exist.
 * A subject whose schema kafka_fdw cannot read (not Avro, or not valid)
 * is NULL with *unreadable set, after a NOTICE saying the column is bytea.
 */
static KafkaAvroSchema *
registry_schema(KafkaOptions *opts, HTAB *subjects, const char *topic, const char *what,
				bool *unreadable)
{
	char	   *subject = psprintf("%s-%s", topic, what);
	const KafkaSchema *ks;
	KafkaAvroSchema *schema;
	char	   *error;

	*unreadable = false;
	if (name_find(subjects, subject) == NULL)
		return NULL;
	ks = registry_latest(opts, subject);
	if (ks == NULL)
		return NULL;			/* deleted since the list was made */
	if (ks->schema_type != NULL && pg_strcasecmp(ks->schema_type, "AVRO") != 0)
	{
		ereport(NOTICE,
				(errmsg("the %s of topic \"%s\" is imported as bytea: the subject \"%s\" has a %s schema, not Avro",
						what, topic, subject, ks->schema_type)));
		*unreadable = true;
		return NULL;
	}
	schema = kafkaAvroSchemaParse(ks->schema, strlen(ks->schema), CurrentMemoryContext, &error);
	if (schema == NULL)
	{
		ereport(NOTICE,
				(errmsg("the %s of topic \"%s\" is imported as bytea: the latest schema of subject \"%s\" is not a valid Avro schema",
						what, topic, subject),
				 errdetail("%s", error)));
		*unreadable = true;
	}
	return schema;
}

/*
 * The value columns of a topic from its registered schema: a column per
 * field of a record, else one column "value".  NIL without a schema.
 */
static List *
value_columns(KafkaAvroSchema *schema)
{
	KafkaAvroColumnDef *defs;
	int			n = kafkaAvroSchemaColumns(schema, &defs);
	List	   *cols = NIL;

	for (int i = 0; i < n; i++)
	{
		ImportColumn *c = palloc0(sizeof(ImportColumn));
		const char *field = defs[i].field ? defs[i].field : "value";

		c->name = cut_name(field);
		c->type = type_sql(defs[i].typid, defs[i].typmod);
		c->notnull = defs[i].notnull;
		/* a field name longer than a column name: the column option json */
		if (strcmp(c->name, field) != 0)
		{
			c->option = "json";
			c->value = field;
		}
		cols = lappend(cols, c);
	}
	return cols;
}

/* A metadata column named name, or with '_' in front until no value column has its name */
static ImportColumn *
meta_column(List *value_cols, const char *name, Oid typid, const char *option)
{
	ImportColumn *c = palloc0(sizeof(ImportColumn));
	char	   *colname = pstrdup(name);
	bool		clash;

	do
	{
		ListCell   *lc;

		clash = false;
		foreach(lc, value_cols)
			if (strcmp(((ImportColumn *) lfirst(lc))->name, colname) == 0)
				clash = true;
		if (clash)
			colname = psprintf("_%s", colname);
	} while (clash);
	c->name = colname;
	c->type = type_sql(typid, -1);
	c->option = option;
	c->value = "true";
	return c;
}

/* The CREATE FOREIGN TABLE statement of one topic */
static char *
import_topic(KafkaOptions *opts, const ImportOptions *io, HTAB *subjects, const char *topic,
			 const char *table)
{
	const KafkaCodec *format = io->untyped;
	List	   *value_cols = NIL;
	List	   *cols = NIL;
	Oid			key_type = TEXTOID;
	int32		key_typmod = -1;
	bool		key_avro = false;
	StringInfoData sql;
	ListCell   *lc;
	bool		first = true;

	if (subjects != NULL)
	{
		bool		unreadable;
		KafkaAvroSchema *schema = registry_schema(opts, subjects, topic, "value", &unreadable);

		if (schema != NULL)
		{
			value_cols = value_columns(schema);
			format = kafkaCodec(KAFKA_FORMAT_AVRO);
		}
		else if (unreadable)
			format = kafkaCodec(KAFKA_FORMAT_BYTEA);
		if (io->metadata)
		{
			schema = registry_schema(opts, subjects, topic, "key", &unreadable);
			if (schema != NULL)
			{
				key_type = kafkaAvroSchemaType(schema, &key_typmod);
				key_avro = true;
			}
			else if (unreadable)
				key_type = BYTEAOID;
		}
	}
	if (format->format != KAFKA_FORMAT_AVRO)
	{
		ImportColumn *c = palloc0(sizeof(ImportColumn));

		c->name = "value";
		c->type = type_sql(format->format == KAFKA_FORMAT_TEXT ? TEXTOID :
						   format->format == KAFKA_FORMAT_BYTEA ? BYTEAOID : JSONBOID, -1);
		value_cols = list_make1(c);
	}
	if (io->metadata)
	{
		ImportColumn *key = meta_column(value_cols, "key", TEXTOID, "key");

		key->type = type_sql(key_type, key_typmod);
		cols = lappend(cols, meta_column(value_cols, "partition", INT4OID, "partition"));
		cols = lappend(cols, meta_column(value_cols, "offset", INT8OID, "offset"));
		cols = lappend(cols, meta_column(value_cols, "timestamp", TIMESTAMPTZOID, "timestamp"));
		cols = lappend(cols, key);
	}
	cols = list_concat(cols, value_cols);

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE FOREIGN TABLE %s (", quote_identifier(table));
	foreach(lc, cols)
	{
		ImportColumn *c = lfirst(lc);

		appendStringInfo(&sql, "%s\n  %s %s", first ? "" : ",", quote_identifier(c->name), c->type);
		first = false;
		if (c->option)
			appendStringInfo(&sql, " OPTIONS (%s %s)", quote_identifier(c->option),
							 quote_literal_cstr(c->value));
		if (c->notnull)
			appendStringInfoString(&sql, " NOT NULL");
	}
	appendStringInfo(&sql, "\n) SERVER %s OPTIONS (topic %s, format %s",
					 quote_identifier(opts->server_name), quote_literal_cstr(topic),
					 quote_literal_cstr(format->name));
	if (key_avro)
		appendStringInfoString(&sql, ", key_format 'avro'");
	appendStringInfoChar(&sql, ')');
	return sql.data;
}

/*
 * The ImportForeignSchema callback.  PostgreSQL has checked USAGE on the
 * server and CREATE on the local schema; it runs the statements returned
 * (as the current user) and filters them by LIMIT TO/EXCEPT again.
 */
List *
kafkaImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	KafkaOptions *opts = kafkaGetServerOptions(serverOid);
	ImportOptions io;
	HTAB	   *listed = NULL;
	HTAB	   *tables;
	HTAB	   *subjects = NULL;
	char	  **topics;
	int			ntopics;
	List	   *wanted = NIL;
	List	   *commands = NIL;
	MemoryContext tmp;
	ListCell   *lc;

	parse_import_options(stmt->options, opts, &io);

	/* LIMIT TO / EXCEPT: table names, as the parser cut them */
	if (stmt->list_type != FDW_IMPORT_SCHEMA_ALL)
	{
		listed = new_name_hash("kafka_fdw import list", list_length(stmt->table_list));
		foreach(lc, stmt->table_list)
		{
			bool		found;

			(void) name_enter(listed, ((RangeVar *) lfirst(lc))->relname, &found);
		}
	}

	ntopics = list_topics(opts, &io, &topics);
	tables = new_name_hash("kafka_fdw import tables", ntopics);
	for (int i = 0; i < ntopics; i++)
	{
		char	   *table = cut_name(topics[i]);
		NameEntry  *e;
		bool		found;

		if (listed != NULL)
		{
			e = name_find(listed, table);
			if (e != NULL)
				e->used = true;
			if ((stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO) != (e != NULL))
				continue;
		}
		e = name_enter(tables, table, &found);
		if (found)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("topics \"%s\" and \"%s\" would both be imported as table \"%s\"",
							e->topic, topics[i], table),
					 errdetail("Table names are cut to %d bytes.", NAMEDATALEN - 1),
					 errhint("Leave the table out with EXCEPT and create the foreign tables of these topics yourself.")));
		e->topic = topics[i];
		wanted = lappend(wanted, e);
	}
	if (listed != NULL && stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO)
		foreach(lc, stmt->table_list)
		{
			NameEntry  *e = name_find(listed, ((RangeVar *) lfirst(lc))->relname);

			if (e != NULL && !e->used)
			{
				if (internal_topic(e->name))
					ereport(NOTICE,
							(errmsg("table \"%s\" of LIMIT TO is not imported: internal topics are left out",
									e->name)));
				else
					ereport(NOTICE,
							(errmsg("no topic to import as table \"%s\" of LIMIT TO", e->name),
							 io.topic_prefix ?
							 errdetail("Only topics starting with \"%s\" are imported (import option topic_prefix).",
									   io.topic_prefix) : 0));
				e->used = true; /* named twice: one notice */
			}
		}

	/* one list of subjects rather than a request per topic without one */
	if (io.registry && wanted != NIL)
		subjects = registry_subjects(opts);

	tmp = AllocSetContextCreate(CurrentMemoryContext, "kafka_fdw import", ALLOCSET_DEFAULT_SIZES);
	foreach(lc, wanted)
	{
		NameEntry  *e = lfirst(lc);
		MemoryContext old = MemoryContextSwitchTo(tmp);
		char	   *sql = import_topic(opts, &io, subjects, e->topic, e->name);

		MemoryContextSwitchTo(old);
		commands = lappend(commands, pstrdup(sql));
		MemoryContextReset(tmp);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextDelete(tmp);
	return commands;
}
