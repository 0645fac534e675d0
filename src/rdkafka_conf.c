/*-------------------------------------------------------------------------
 *
 * rdkafka_conf.c
 *		  Which librdkafka properties who may set, secrets, and building a
 *		  handle's configuration.
 *
 *		  One table (rdkafka_props) names the librdkafka properties that get
 *		  special treatment: the ones a non-superuser may set (an allowlist),
 *		  secrets, the ones kafka_fdw manages itself, and the ones librdkafka
 *		  pastes into its kinit command line.  A property that is not in the
 *		  table can be set by superusers only, so that a property added by a
 *		  future librdkafka is refused for everyone else by default.
 *
 *		  The rules are checked twice: by the validator when options are
 *		  written (CREATE/ALTER, as the current user), and when a handle's
 *		  configuration is built (kafkaHandleConfig, against who owns the
 *		  objects the options come from), so that catalogs written by an
 *		  older kafka_fdw, or objects handed to a non-superuser with ALTER ...
 *		  OWNER, cannot smuggle a superuser-only property past the validator.
 *
 * Invariants:
 *	- Names are matched exactly as librdkafka matches them: case
 *	  sensitively, and a topic-level property also as "topic.<name>".
 *	- A property kafka_fdw manages is refused in every spelling librdkafka
 *	  accepts, for everyone, superusers included.
 *	- Secrets live in user mappings only and are never echoed: neither in
 *	  our messages nor in librdkafka's (kafkaRedact cuts them out of every
 *	  log line and error of the handle that holds them).
 *	- A non-superuser on a SASL server (or one giving a client key by file)
 *	  must bring their own credentials in the user mapping, unless a
 *	  superuser set password_required 'false' on it (as in postgres_fdw).
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/memutils.h"

/* Flags of an entry of rdkafka_props */
#define PROP_USER		(1 << 0)	/* non-superusers may set it */
#define PROP_SECRET		(1 << 1)	/* a secret: user mappings only, never echoed */
#define PROP_TOPIC		(1 << 2)	/* topic-level: also spelled "topic.<name>" */
#define PROP_MANAGED	(1 << 3)	/* set by kafka_fdw: refused for everyone */
#define PROP_KINIT		(1 << 4)	/* pasted into the kinit command line:
									 * safe characters only, for everyone */

typedef struct RdkProp
{
	const char *name;			/* as librdkafka spells it (aliases listed
								 * separately) */
	int			flags;			/* PROP_* */
	const char *hint;			/* managed: what to use instead */
} RdkProp;

#define HINT_BROKERS "Use the server option \"brokers\"."
#define HINT_TIMEOUT "Use the option \"timeout_ms\"."
#define HINT_ACKS "kafka_fdw always writes with acks=all and idempotence, so that no acknowledged row is lost or duplicated."

/*
 * The one table.  The allowlist (PROP_USER) holds what cannot hurt the
 * database server or kafka_fdw's guarantees: timeouts, batching,
 * compression, fetch sizes, identification, and credentials given inline.
 * Everything that reads files, loads code, runs commands, sends signals or
 * changes what kafka_fdw relies on is either managed or superuser-only.
 * Aliases are checked against librdkafka 2.0.2's rd_kafka_conf_properties_show().
 */
static const RdkProp rdkafka_props[] = {
	/* managed by kafka_fdw, refused for everyone */
	{"bootstrap.servers", PROP_MANAGED, HINT_BROKERS},
	{"metadata.broker.list", PROP_MANAGED, HINT_BROKERS},
	{"isolation.level", PROP_MANAGED, "Use the option \"isolation_level\"."},
	{"transactional.id", PROP_MANAGED,
	"Use the option \"transactional\"; kafka_fdw chooses a transactional.id per session."},
	{"acks", PROP_MANAGED | PROP_TOPIC, HINT_ACKS},
	{"request.required.acks", PROP_MANAGED | PROP_TOPIC, HINT_ACKS},
	{"enable.idempotence", PROP_MANAGED, HINT_ACKS},
	{"message.timeout.ms", PROP_MANAGED | PROP_TOPIC, HINT_TIMEOUT},
	{"delivery.timeout.ms", PROP_MANAGED | PROP_TOPIC, HINT_TIMEOUT},
	{"delivery.report.only.error", PROP_MANAGED,
	"kafka_fdw counts the delivery report of every message to confirm an INSERT."},
	{"internal.termination.signal", PROP_MANAGED,
	"librdkafka's threads block signals already; a termination signal would keep query cancel and pg_terminate_backend from working."},
	{"log.queue", PROP_MANAGED, NULL},
	{"enable.partition.eof", PROP_MANAGED, NULL},
	{"auto.offset.reset", PROP_MANAGED | PROP_TOPIC, NULL},
	{"enable.auto.commit", PROP_MANAGED | PROP_TOPIC, NULL},
	{"auto.commit.enable", PROP_MANAGED | PROP_TOPIC, NULL},
	{"enable.auto.offset.store", PROP_MANAGED, NULL},

	/* identification */
	{"client.id", PROP_USER, NULL},
	{"client.rack", PROP_USER, NULL},

	/* security: protocol and credentials given inline */
	{"security.protocol", PROP_USER, NULL},
	{"sasl.mechanisms", PROP_USER, NULL},
	{"sasl.mechanism", PROP_USER, NULL},
	{"sasl.username", PROP_USER, NULL},
	{"sasl.password", PROP_USER | PROP_SECRET, NULL},
	{"sasl.oauthbearer.config", PROP_USER | PROP_SECRET, NULL},
	{"sasl.oauthbearer.client.secret", PROP_USER | PROP_SECRET, NULL},
	{"sasl.oauthbearer.client.id", PROP_USER, NULL},
	{"sasl.oauthbearer.method", PROP_USER, NULL},
	{"sasl.oauthbearer.scope", PROP_USER, NULL},
	{"sasl.oauthbearer.extensions", PROP_USER, NULL},
	{"enable.sasl.oauthbearer.unsecure.jwt", PROP_USER, NULL},
	{"ssl.key.pem", PROP_USER | PROP_SECRET, NULL},
	{"ssl.key.password", PROP_USER | PROP_SECRET, NULL},
	{"ssl.keystore.password", PROP_USER | PROP_SECRET, NULL},
	{"ssl.certificate.pem", PROP_USER, NULL},
	{"ssl.ca.pem", PROP_USER, NULL},
	{"ssl.cipher.suites", PROP_USER, NULL},
	{"ssl.curves.list", PROP_USER, NULL},
	{"ssl.sigalgs.list", PROP_USER, NULL},
	{"enable.ssl.certificate.verification", PROP_USER, NULL},
	{"ssl.endpoint.identification.algorithm", PROP_USER, NULL},

	/* pasted into librdkafka's default kinit command, run through sh */
	{"sasl.kerberos.principal", PROP_KINIT, NULL},
	{"sasl.kerberos.service.name", PROP_KINIT, NULL},
	{"sasl.kerberos.keytab", PROP_KINIT, NULL},

	/* timeouts */
	{"socket.timeout.ms", PROP_USER, NULL},
	{"socket.connection.setup.timeout.ms", PROP_USER, NULL},
	{"connections.max.idle.ms", PROP_USER, NULL},
	{"request.timeout.ms", PROP_USER | PROP_TOPIC, NULL},
	{"transaction.timeout.ms", PROP_USER, NULL},
	{"api.version.request.timeout.ms", PROP_USER, NULL},
	{"reconnect.backoff.ms", PROP_USER, NULL},
	{"reconnect.backoff.max.ms", PROP_USER, NULL},
	{"retry.backoff.ms", PROP_USER, NULL},
	{"metadata.max.age.ms", PROP_USER, NULL},
	{"topic.metadata.refresh.interval.ms", PROP_USER, NULL},
	{"topic.metadata.refresh.fast.interval.ms", PROP_USER, NULL},
	{"topic.metadata.propagation.max.ms", PROP_USER, NULL},

	/* producer batching */
	{"linger.ms", PROP_USER, NULL},
	{"queue.buffering.max.ms", PROP_USER, NULL},
	{"batch.num.messages", PROP_USER, NULL},
	{"batch.size", PROP_USER, NULL},
	{"queue.buffering.max.messages", PROP_USER, NULL},
	{"queue.buffering.max.kbytes", PROP_USER, NULL},
	{"queue.buffering.backpressure.threshold", PROP_USER, NULL},
	{"sticky.partitioning.linger.ms", PROP_USER, NULL},
	{"message.send.max.retries", PROP_USER, NULL},
	{"retries", PROP_USER, NULL},
	{"max.in.flight.requests.per.connection", PROP_USER, NULL},
	{"max.in.flight", PROP_USER, NULL},
	{"partitioner", PROP_USER | PROP_TOPIC, NULL},
	{"allow.auto.create.topics", PROP_USER, NULL},

	/* compression */
	{"compression.codec", PROP_USER | PROP_TOPIC, NULL},
	{"compression.type", PROP_USER | PROP_TOPIC, NULL},
	{"compression.level", PROP_USER | PROP_TOPIC, NULL},

	/* fetching and message sizes */
	{"fetch.wait.max.ms", PROP_USER, NULL},
	{"fetch.message.max.bytes", PROP_USER, NULL},
	{"max.partition.fetch.bytes", PROP_USER, NULL},
	{"fetch.max.bytes", PROP_USER, NULL},
	{"fetch.min.bytes", PROP_USER, NULL},
	{"fetch.error.backoff.ms", PROP_USER, NULL},
	{"queued.min.messages", PROP_USER, NULL},
	{"queued.max.messages.kbytes", PROP_USER, NULL},
	{"check.crcs", PROP_USER, NULL},
	{"message.max.bytes", PROP_USER, NULL},
	{"message.copy.max.bytes", PROP_USER, NULL},
	{"receive.message.max.bytes", PROP_USER, NULL},
	{NULL, 0, NULL}
};

/*
 * The entry for a property name, as librdkafka resolves it: the exact name
 * (case sensitive), or for a topic-level property "topic.<name>" (one
 * prefix: librdkafka strips it once).  NULL: not in the table, superuser only.
 */
static const RdkProp *
find_prop(const char *name)
{
	for (const RdkProp *p = rdkafka_props; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	if (strncmp(name, "topic.", 6) == 0)
		for (const RdkProp *p = rdkafka_props; p->name; p++)
			if ((p->flags & PROP_TOPIC) && strcmp(p->name, name + 6) == 0)
				return p;
	return NULL;
}

static int
prop_flags(const char *name)
{
	const RdkProp *p = find_prop(name);

	return p ? p->flags : 0;
}

bool
kafkaIsSecretProp(const char *name)
{
	return (prop_flags(name) & PROP_SECRET) != 0;
}

/*
 * Does librdkafka know this property?  Asked with an empty value on a
 * scratch configuration, so that a non-superuser's value never reaches
 * librdkafka for a property they may not set; plugin.library.paths would
 * load libraries even so and is known anyway.
 */
static bool
prop_exists(const char *name)
{
	rd_kafka_conf_t *conf;
	char		errstr[512];
	rd_kafka_conf_res_t res;

	if (strcmp(name, "plugin.library.paths") == 0)
		return true;
	conf = rd_kafka_conf_new();
	res = rd_kafka_conf_set(conf, name, "", errstr, sizeof(errstr));
	rd_kafka_conf_destroy(conf);
	return res != RD_KAFKA_CONF_UNKNOWN;
}

/* What a source is called in messages */
static const char *
source_name(KafkaPropSource source)
{
	switch (source)
	{
		case KAFKA_PROP_SERVER:
			return "server";
		case KAFKA_PROP_TABLE:
			return "foreign table";
		case KAFKA_PROP_MAPPING:
			return "user mapping";
	}
	return "?";
}

static void
report_managed(const RdkProp *p, const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("librdkafka property \"%s\" is managed by kafka_fdw", name),
			 p->hint ? errhint("%s", p->hint) : 0));
}

static void
report_secret_place(const char *name, KafkaPropSource source)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("librdkafka property \"%s\" holds a secret and is not allowed in %s options",
					name, source_name(source)),
			 errhint("Put secrets in a user mapping: CREATE USER MAPPING FOR ... SERVER ... OPTIONS (\"%s\" '...').",
					 name)));
}

/*
 * Values librdkafka pastes into the command line of kinit, which it runs
 * through the shell: letters, digits and ._/@:+- only, so that no value can
 * end the command or start another.
 */
static void
check_shell_safe(const char *name, const char *value)
{
	for (const char *c = value; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			  strchr("._/@:+-", *c) != NULL))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 kafkaIsSecretProp(name) ?
					 errmsg("invalid value for librdkafka property \"%s\"", name) :
					 errmsg("invalid value for librdkafka property \"%s\": \"%s\"", name, value),
					 errdetail("librdkafka pastes this property into the kinit command line it runs through the shell."),
					 errhint("Use only letters, digits and the characters . _ / @ : + -.")));
}

/*
 * Check one librdkafka pass-through property written by CREATE/ALTER of a
 * server, foreign table or user mapping, as the current user.
 * unknown_hint: the hint for a name librdkafka does not know either.
 */
void
kafkaValidateRdkafkaProp(const char *name, const char *value, KafkaPropSource source,
						 const char *unknown_hint)
{
	const RdkProp *p = find_prop(name);
	int			flags = p ? p->flags : 0;
	rd_kafka_conf_t *conf;
	char		errstr[512];
	rd_kafka_conf_res_t res;

	if (flags & PROP_MANAGED)
		report_managed(p, name);
	if ((flags & PROP_SECRET) && source != KAFKA_PROP_MAPPING)
		report_secret_place(name, source);

	/* before librdkafka sees the value: setting some properties acts at once */
	if (!(flags & PROP_USER) && !superuser())
	{
		if (!prop_exists(name))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", name),
					 errhint("%s", unknown_hint)));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set librdkafka property \"%s\"", name),
				 errdetail("Non-superusers may set only the librdkafka properties on kafka_fdw's allowlist; the others may read files, run commands or change how the database server behaves."),
				 errhint("Ask a superuser to set it.")));
	}
	if (flags & PROP_KINIT)
		check_shell_safe(name, value);

	/* plugin.library.paths would dlopen() right here: checked when used */
	if (strcmp(name, "plugin.library.paths") == 0)
		return;

	conf = rd_kafka_conf_new();
	res = rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr));
	rd_kafka_conf_destroy(conf);
	if (res == RD_KAFKA_CONF_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"", name),
				 errhint("%s", unknown_hint)));
	if (res != RD_KAFKA_CONF_OK)
	{
		if (flags & PROP_SECRET)
		{
			KafkaSecrets *s = kafkaSecretsOf(list_make1(makeDefElem(pstrdup(name),
																	(Node *) makeString(pstrdup(value)), -1)),
											 CurrentMemoryContext);

			kafkaRedact(errstr, sizeof(errstr), s);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for librdkafka property \"%s\"", name),
					 errdetail("%s", errstr)));
		}
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for librdkafka property \"%s\": \"%s\"", name, value),
				 errdetail("%s", errstr)));
	}
}

/* Where a property of a handle's configuration was set, for messages */
static char *
prop_place(KafkaOptions *opts, KafkaProp *p)
{
	switch (p->source)
	{
		case KAFKA_PROP_SERVER:
			return psprintf("the options of server \"%s\"", opts->server_name);
		case KAFKA_PROP_TABLE:
			return psprintf("the options of foreign table \"%s\"",
							opts->table_name ? opts->table_name : "?");
		case KAFKA_PROP_MAPPING:
			return psprintf("the user mapping for server \"%s\"", opts->server_name);
	}
	return "?";
}

/*
 * The rules of the validator again, for the catalogs as they are now: a
 * property that only a superuser may set must come from an object a
 * superuser owns (or a superuser's own user mapping).
 */
static void
check_props_use(KafkaOptions *opts)
{
	ListCell   *lc;

	foreach(lc, opts->rdkafka_props)
	{
		KafkaProp  *kp = lfirst(lc);
		const RdkProp *p = find_prop(kp->name);
		int			flags = p ? p->flags : 0;

		if (flags & PROP_MANAGED)
			report_managed(p, kp->name);
		if ((flags & PROP_SECRET) && kp->source != KAFKA_PROP_MAPPING)
			report_secret_place(kp->name, kp->source);
		if (!(flags & PROP_USER) && !kp->trusted)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to use librdkafka property \"%s\"", kp->name),
					 errdetail("Only superusers may set it, and it is set in %s, %s.", prop_place(opts, kp),
							   kp->source == KAFKA_PROP_MAPPING ? "which is not a superuser's" :
							   "which a superuser does not own"),
					 errhint("Remove the property, or ask a superuser to set it on an object a superuser owns.")));
		if (flags & PROP_KINIT)
			check_shell_safe(kp->name, kp->value);
	}
}

/* The value librdkafka ends up with: the last of the given spellings, or NULL */
static const char *
conf_value(List *conflist, const char *name, const char *alias)
{
	const char *v = NULL;
	ListCell   *lc;

	foreach(lc, conflist)
	{
		DefElem    *d = lfirst(lc);

		if (strcmp(d->defname, name) == 0 || (alias && strcmp(d->defname, alias) == 0))
			v = defGetString(d);
	}
	return v;
}

/*
 * librdkafka renders %{property} in sasl.kerberos.kinit.cmd with the
 * property's value and runs the result through sh.  Whatever the command
 * (its default, or one a superuser wrote), every value it refers to must be
 * shell-safe.
 */
static void
check_kinit_cmd(List *conflist)
{
	const char *cmd = conf_value(conflist, "sasl.kerberos.kinit.cmd", NULL);
	static char defcmd[1024];	/* librdkafka's default, asked once */
	static bool have_defcmd = false;

	if (!have_defcmd)
	{
		rd_kafka_conf_t *conf = rd_kafka_conf_new();
		size_t		size = sizeof(defcmd);

		if (rd_kafka_conf_get(conf, "sasl.kerberos.kinit.cmd", defcmd, &size) != RD_KAFKA_CONF_OK)
			defcmd[0] = '\0';
		rd_kafka_conf_destroy(conf);
		have_defcmd = true;
	}
	if (cmd == NULL)
		cmd = defcmd;
	for (const char *s = strstr(cmd, "%{"); s; s = strstr(s + 2, "%{"))
	{
		const char *end = strchr(s + 2, '}');
		char	   *ref;
		const char *v;

		if (end == NULL)
			break;
		ref = pnstrdup(s + 2, end - (s + 2));
		v = conf_value(conflist, ref, NULL);
		if (v)
			check_shell_safe(ref, v);
	}
}

/* The value of a property given in the user mapping, or NULL */
static const char *
mapping_value(KafkaOptions *opts, const char *name)
{
	ListCell   *lc;

	foreach(lc, opts->rdkafka_props)
	{
		KafkaProp  *kp = lfirst(lc);

		if (kp->source == KAFKA_PROP_MAPPING && strcmp(kp->name, name) == 0 && kp->value[0] != '\0')
			return kp->value;
	}
	return NULL;
}

static void
report_password_required(KafkaOptions *opts, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
			 errmsg("password is required"),
			 errdetail("Non-superusers must provide credentials in the user mapping for server \"%s\".",
					   opts->server_name),
			 errhint("%s", hint)));
}

/*
 * password_required, as in postgres_fdw: a non-superuser must not
 * authenticate to Kafka with the database server's own credentials
 * (Kerberos tickets or keytabs, client keys in files).  With SASL, the user
 * mapping must give the password (sasl.password, or for OAUTHBEARER
 * sasl.oauthbearer.client.secret), and GSSAPI (librdkafka's default
 * mechanism) is refused; a client key given by file must be replaced by
 * one given inline (ssl.key.pem).  A superuser can waive this with the
 * user mapping option password_required 'false'.
 */
static void
check_password_required(KafkaOptions *opts, List *conflist)
{
	const char *protocol;
	static const char *const key_files[] = {
		"ssl.key.location", "ssl.keystore.location", "ssl.certificate.location", NULL
	};

	if (!opts->password_required || superuser_arg(opts->userid))
		return;

	protocol = conf_value(conflist, "security.protocol", NULL);
	if (protocol && (pg_strcasecmp(protocol, "SASL_PLAINTEXT") == 0 ||
					 pg_strcasecmp(protocol, "SASL_SSL") == 0))
	{
		const char *mech = conf_value(conflist, "sasl.mechanisms", "sasl.mechanism");

		if (mech == NULL)
			mech = "GSSAPI";	/* librdkafka's default */
		if (pg_strcasecmp(mech, "PLAIN") == 0 || pg_strncasecmp(mech, "SCRAM-", 6) == 0)
		{
			if (mapping_value(opts, "sasl.password") == NULL)
				report_password_required(opts, "Add \"sasl.password\" to the user mapping, or ask a superuser to set password_required 'false' on it.");
		}
		else if (pg_strcasecmp(mech, "OAUTHBEARER") == 0)
		{
			if (mapping_value(opts, "sasl.oauthbearer.client.secret") == NULL)
				report_password_required(opts, "Add \"sasl.oauthbearer.client.secret\" to the user mapping, or ask a superuser to set password_required 'false' on it.");
		}
		else
			report_password_required(opts, psprintf("sasl.mechanisms \"%s\" authenticates with the database server's own credentials; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER with a password in the user mapping, or ask a superuser to set password_required 'false' on it.",
													mech));
	}

	for (const char *const *k = key_files; *k; k++)
		if (conf_value(conflist, *k, NULL) != NULL && mapping_value(opts, "ssl.key.pem") == NULL)
			report_password_required(opts, psprintf("The client key is given by file (\"%s\"); add the client key as \"ssl.key.pem\" to the user mapping, or ask a superuser to set password_required 'false' on it.",
													*k));
}

/*
 * The configuration a handle of this kind gets, as a list of DefElems
 * (name, value) in the order librdkafka must apply them: our defaults, the
 * properties of the catalogs, then what kafka_fdw manages.  Checks the
 * catalogs' properties against the rules first (see the file header).
 */
List *
kafkaHandleConfig(KafkaOptions *opts, HandleKind kind)
{
	List	   *conf = NIL;
	ListCell   *lc;

	check_props_use(opts);

#define ADD(n, v) conf = lappend(conf, makeDefElem((n), (Node *) makeString(pstrdup(v)), -1))
	ADD("bootstrap.servers", opts->brokers);
	ADD("client.id", "kafka_fdw");
	/* defaults the user may override */
	if (kind == HANDLE_CONSUMER)
		ADD("fetch.wait.max.ms", "10");
	if (kind == HANDLE_CONSUMER && opts->consumer_min_messages > 0)
		ADD("queued.min.messages", psprintf("%d", opts->consumer_min_messages));
	/* librdkafka 2.2+ looks again at a full queue's partitions this often */
	if (kind == HANDLE_CONSUMER && kafkaHasFetchQueueBackoff())
		ADD("fetch.queue.backoff.ms", "10");
	if (kind == HANDLE_WRITER || kind == HANDLE_TXN_WRITER)
	{
		/*
		 * Throughput: a statement produces everything before it waits, so
		 * let librdkafka fill large batches; a short linger lets it send
		 * while the statement still produces.  Every wait for delivery is a
		 * flush (producer.c), which sends at once what lingers.
		 *
		 * The table-change emitter lingers for a second (writer_linger_ms):
		 * librdkafka 2.0's broker thread spins while a partition has its 5
		 * idempotent requests in flight and the oldest queued message is
		 * older than linger.ms (rd_kafka_msgq_allow_wakeup_at makes the next
		 * wake-up "now"), which a backlog queued at once for a batch causes:
		 * with 5 ms the broker thread used up to three times the CPU time.
		 * Its batches still go out when batch.num.messages or batch.size is
		 * reached.  Keyless messages keep switching partitions as with 5 ms
		 * (the sticky partitioner's default follows linger.ms).  librdkafka
		 * requires linger.ms below message.timeout.ms (timeout_ms).
		 */
		if (opts->writer_linger_ms > 0)
		{
			ADD("linger.ms", psprintf("%d", Min(opts->writer_linger_ms, opts->timeout_ms / 2)));
			ADD("sticky.partitioning.linger.ms", "10");
		}
		else
			ADD("linger.ms", "5");
		ADD("batch.num.messages", "10000");
		ADD("batch.size", "4000000");
		ADD("queue.buffering.max.messages", "500000");
		/* a missing topic is an error, not a new topic */
		ADD("allow.auto.create.topics", "false");
		if (kind == HANDLE_TXN_WRITER)
			ADD("transaction.timeout.ms", psprintf("%d", Max(60000, opts->timeout_ms)));
		if (opts->writer_compression)
			ADD("compression.type", opts->writer_compression);
	}
	foreach(lc, opts->rdkafka_props)
	{
		KafkaProp  *kp = lfirst(lc);

		ADD(kp->name, kp->value);
	}
	ADD("log.queue", "true");
	if (kind == HANDLE_WRITER || kind == HANDLE_TXN_WRITER)
	{
		/* no silent loss, no duplicates; librdkafka fails what it cannot deliver in time */
		ADD("acks", "all");
		ADD("enable.idempotence", "true");
		ADD("message.timeout.ms", psprintf("%d", opts->timeout_ms));
	}
	if (kind == HANDLE_CONSUMER || kind == HANDLE_META)
	{
		ADD("enable.partition.eof", "true");
		/* never jump over messages that retention deleted during a scan */
		ADD("auto.offset.reset", "error");
		ADD("enable.auto.commit", "false");
		ADD("isolation.level", opts->read_committed ? "read_committed" : "read_uncommitted");
	}
#undef ADD

	check_kinit_cmd(conf);
	check_password_required(opts, conf);
	return conf;
}

/*
 * Set one property; on failure destroy conf and raise an error that does
 * not show a secret's value.
 */
void
kafkaConfSet(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char		errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
	{
		rd_kafka_conf_destroy(conf);
		if (kafkaIsSecretProp(name))
		{
			KafkaSecrets *s = kafkaSecretsOf(list_make1(makeDefElem(pstrdup(name),
																	(Node *) makeString(pstrdup(value)), -1)),
											 CurrentMemoryContext);

			kafkaRedact(errstr, sizeof(errstr), s);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid librdkafka property \"%s\"", name),
					 errdetail("%s", errstr)));
		}
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid librdkafka property \"%s\" = \"%s\"", name, value),
				 errdetail("%s", errstr)));
	}
}

/*
 * Does the librdkafka we run with have fetch.queue.backoff.ms (2.2 and
 * later)?  Without it, a partition whose consumer queue holds
 * queued.min.messages is looked at again only when the broker thread wakes
 * for something else, up to a second later: the refill stall that scans and
 * ingest workers avoid by waking it themselves (kafkaFetchersStopped).  Asked
 * at run time: the library loaded may be newer than the headers built with.
 */
bool
kafkaHasFetchQueueBackoff(void)
{
	return rd_kafka_version() >= 0x020200ff;
}

/* A new librdkafka configuration with every property of a kafkaHandleConfig list */
rd_kafka_conf_t *
kafkaNewConf(List *conflist)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	ListCell   *lc;

	foreach(lc, conflist)
	{
		DefElem    *d = lfirst(lc);

		kafkaConfSet(conf, d->defname, defGetString(d));
	}
	return conf;
}

static int
longer_first(const void *a, const void *b)
{
	size_t		la = strlen(*(char *const *) a);
	size_t		lb = strlen(*(char *const *) b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

/*
 * The strings to cut out of a handle's messages: the value of every secret
 * property, and its words and key=value parts, since librdkafka quotes
 * parts of a value too ("Unrecognized sasl.oauthbearer.config beginning
 * at: ...").  Allocated in cxt.
 */
KafkaSecrets *
kafkaSecretsOf(List *conflist, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	KafkaSecrets *s = palloc0(sizeof(KafkaSecrets));
	List	   *vals = NIL;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, conflist)
	{
		DefElem    *d = lfirst(lc);
		char	   *v = defGetString(d);
		char	   *copy;
		char	   *tok;
		char	   *save;

		if (!kafkaIsSecretProp(d->defname) || v[0] == '\0')
			continue;
		vals = lappend(vals, pstrdup(v));
		copy = pstrdup(v);
		for (tok = strtok_r(copy, " \t\n\r,", &save); tok; tok = strtok_r(NULL, " \t\n\r,", &save))
		{
			char	   *eq = strchr(tok, '=');

			vals = lappend(vals, pstrdup(tok));
			if (eq && eq[1] != '\0')
				vals = lappend(vals, pstrdup(eq + 1));
		}
	}
	s->n = list_length(vals);
	s->values = palloc(sizeof(char *) * Max(s->n, 1));
	foreach(lc, vals)
		s->values[i++] = lfirst(lc);
	if (s->n > 1)
		qsort(s->values, s->n, sizeof(char *), longer_first);
	MemoryContextSwitchTo(old);
	return s;
}

/*
 * Replace every occurrence of a secret in buf (NUL-terminated, size bytes)
 * with "***", in place, truncating if the result does not fit.  Plain C
 * with no allocation: it runs in librdkafka's log and error callbacks.
 */
void
kafkaRedact(char *buf, size_t size, const KafkaSecrets *secrets)
{
	static const char mask[] = "***";
	const size_t mlen = sizeof(mask) - 1;

	if (secrets == NULL || size == 0)
		return;
	for (int i = 0; i < secrets->n; i++)
	{
		const char *sec = secrets->values[i];
		size_t		slen = strlen(sec);
		char	   *p = buf;

		if (slen == 0)
			continue;
		while ((p = strstr(p, sec)) != NULL)
		{
			size_t		tail = strlen(p + slen);	/* bytes after the secret */
			size_t		room = size - 1 - (p - buf);	/* bytes from p to the end */
			size_t		m = Min(mlen, room);
			size_t		keep = Min(tail, room - m);

			memmove(p + m, p + slen, keep);
			memcpy(p, mask, m);
			p[m + keep] = '\0';
			p += m;
		}
	}
}
