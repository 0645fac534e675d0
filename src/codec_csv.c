/*-------------------------------------------------------------------------
 *
 * codec_csv.c
 *		  Format csv: one CSV record per message, with COPY's rules:
 *		  delimiter, quote, escape (default: the quote), and a null string
 *		  that means NULL only when unquoted (default: the empty string).
 *		  Fields map to the value columns in column order.  Without the
 *		  table option strict, missing trailing fields are NULL and extra
 *		  fields are ignored; with it, the field count must match.  INSERT
 *		  writes the record the way COPY ... CSV does.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "commands/defrem.h"

/*
 * The CSV characters must leave a record unambiguous, as COPY requires: the
 * delimiter differs from the quote (and here also from the escape), none of
 * them is a line break, and the null string contains neither the delimiter
 * nor the quote nor a line break.  Checked by the validator and again when a
 * table is used (its catalog entry may predate the check).
 */
static void
check_csv(char delimiter, char quote, char escape, const char *null)
{
	const char *bad = NULL;

	if (delimiter == '\n' || delimiter == '\r')
		bad = "delimiter";
	else if (quote == '\n' || quote == '\r')
		bad = "quote";
	else if (escape == '\n' || escape == '\r')
		bad = "escape";
	if (bad)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("CSV %s cannot be newline or carriage return", bad)));
	if (delimiter == quote)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("CSV delimiter and quote must be different"),
				 errhint("Set the foreign table option \"delimiter\" or \"quote\" to another character.")));
	if (delimiter == escape)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("CSV delimiter and escape must be different"),
				 errhint("Set the foreign table option \"delimiter\" or \"escape\" to another character.")));
	if (strchr(null, '\n') || strchr(null, '\r'))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("CSV null string cannot contain newline or carriage return")));
	if (strchr(null, delimiter))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("CSV delimiter must not appear in the null string"),
				 errhint("Set the foreign table option \"null\" to a string without the delimiter.")));
	if (strchr(null, quote))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("CSV quote character must not appear in the null string"),
				 errhint("Set the foreign table option \"null\" to a string without the quote character.")));
}

/* The validator: the CSV options of a foreign table (all table-level) with their defaults */
static void
csv_validate(List *options)
{
	char		delimiter = ',';
	char		quote = '"';
	char		escape = 0;
	const char *null = "";
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "delimiter") == 0)
			delimiter = defGetString(def)[0];
		else if (strcmp(def->defname, "quote") == 0)
			quote = defGetString(def)[0];
		else if (strcmp(def->defname, "escape") == 0)
			escape = defGetString(def)[0];
		else if (strcmp(def->defname, "null") == 0)
			null = defGetString(def);
	}
	check_csv(delimiter, quote, escape ? escape : quote, null);
}

/* A table of format csv is used: its merged options */
static void
csv_check_table(KafkaOptions *opts)
{
	check_csv(opts->csv_delimiter, opts->csv_quote, opts->csv_escape, opts->csv_null);
}

static bool
csv_decode(KafkaDecoder *dec, const char *data, size_t len,
		   Datum *values, bool *nulls, char **reason)
{
	KafkaOptions *o = dec->opts;
	const char *p = data;
	const char *end = data + len;
	int			field = 0;
	size_t		nulllen = strlen(o->csv_null);

	/* a trailing newline ends the record, it is not data */
	if (end > p && end[-1] == '\n')
		end--;
	if (end > p && end[-1] == '\r')
		end--;

	for (;;)
	{
		KafkaColumn *col = field < o->nvalue_columns ? dec->by_index[field] : NULL;
		bool		quoted = false;
		const char *fstart = p;
		size_t		flen;

		resetStringInfo(&dec->buf);
		if (p < end && *p == o->csv_quote)
		{
			quoted = true;
			p++;
			for (;;)
			{
				if (p >= end)
				{
					*reason = psprintf("unterminated CSV quoted field %d", field + 1);
					return false;
				}
				if (*p == o->csv_escape && p + 1 < end &&
					(p[1] == o->csv_quote || (o->csv_escape != o->csv_quote && p[1] == o->csv_escape)))
				{
					if (col)
						appendStringInfoChar(&dec->buf, p[1]);
					p += 2;
					continue;
				}
				if (*p == o->csv_quote)
				{
					p++;
					break;
				}
				if (col)
					appendStringInfoChar(&dec->buf, *p);
				p++;
			}
			/* unquoted text may follow the closing quote, as in COPY */
			while (p < end && *p != o->csv_delimiter)
			{
				if (col)
					appendStringInfoChar(&dec->buf, *p);
				p++;
			}
		}
		else
		{
			const char *d = memchr(p, o->csv_delimiter, end - p);

			p = d ? d : end;
		}
		flen = p - fstart;

		if (col)
		{
			bool		ok;

			if (!quoted && flen == nulllen && memcmp(fstart, o->csv_null, nulllen) == 0)
				nulls[col->attnum - 1] = true;
			else
			{
				if (quoted)
					values[col->attnum - 1] = kafkaColumnFromText(col, dec->buf.data, dec->buf.len, &ok, reason);
				else
					values[col->attnum - 1] = kafkaColumnFromText(col, fstart, flen, &ok, reason);
				nulls[col->attnum - 1] = false;
			}
		}
		field++;
		if (p >= end)
			break;
		p++;					/* delimiter */
	}

	if (o->strict && field != o->nvalue_columns)
	{
		*reason = psprintf("CSV record has %d fields, the foreign table has %d value columns",
						   field, o->nvalue_columns);
		return false;
	}
	return true;
}

/*
 * One CSV field the way COPY ... CSV writes it: quoted if it contains the
 * delimiter, the quote, a newline, or equals the null string; inside quotes,
 * the quote and the escape are preceded by the escape.
 */
static void
append_csv_field(StringInfo buf, KafkaOptions *o, const char *s, bool single)
{
	bool		quote = strcmp(s, o->csv_null) == 0;

	if (!quote)
	{
		if (single && strcmp(s, "\\.") == 0)
			quote = true;
		for (const char *p = s; *p && !quote; p++)
			if (*p == o->csv_delimiter || *p == o->csv_quote || *p == '\n' || *p == '\r')
				quote = true;
	}
	if (!quote)
	{
		appendStringInfoString(buf, s);
		return;
	}
	appendStringInfoChar(buf, o->csv_quote);
	for (const char *p = s; *p; p++)
	{
		if (*p == o->csv_quote || *p == o->csv_escape)
			appendStringInfoChar(buf, o->csv_escape);
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, o->csv_quote);
}

static bool
csv_encode(KafkaEncoder *enc, Datum *values, bool *nulls)
{
	KafkaOptions *o = enc->opts;

	for (int i = 0; i < enc->nvalue; i++)
	{
		KafkaColumn *col = enc->value_cols[i];

		if (i > 0)
			appendStringInfoChar(&enc->value, o->csv_delimiter);
		if (nulls[col->attnum - 1])
			appendStringInfoString(&enc->value, o->csv_null);
		else
			append_csv_field(&enc->value, o, kafkaTextForm(col, values[col->attnum - 1]), enc->nvalue == 1);
	}
	return true;
}

const KafkaCodec kafka_codec_csv = {
	.format = KAFKA_FORMAT_CSV,
	.name = "csv",
	.flags = KAFKA_CODEC_TEXT,
	.validate = csv_validate,
	.check_table = csv_check_table,
	.decode = csv_decode,
	.encode = csv_encode,
};
