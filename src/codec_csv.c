/*-------------------------------------------------------------------------
 *
 * codec_csv.c
 *		  Format csv: one CSV record per message, with COPY's rules:
 *		  delimiter, quote, escape (default: the quote), and a null string
 *		  that means NULL only when unquoted (default: the empty string;
 *		  the column options force_not_null and force_null as in COPY).
 *		  Fields map to the value columns in column order.  Without the
 *		  table option strict, missing trailing fields are NULL and extra
 *		  fields are ignored (under on_error 'junk' reported); with it, the
 *		  field count must match.  INSERT writes the record the way
 *		  COPY ... CSV does.
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

/* One field for kafkaSalvageField */
typedef struct CsvField
{
	KafkaColumn *col;
	const char *str;
	size_t		len;
	Datum	   *value;
	bool	   *isnull;
} CsvField;

static void
csv_field_call(void *arg)
{
	CsvField   *f = arg;

	*f->value = kafkaColumnFromText(f->col, f->str, f->len);
	*f->isnull = false;
}

/*
 * A problem with the record as a whole (a field count that does not fit,
 * an unterminated quote): false with *reason, or in salvage mode recorded
 * first in the failures (as adjust/kafka_fdw lists it) and true, so that
 * the fields decoded so far are kept.
 */
static bool
record_problem(KafkaDecoder *dec, char *problem, char **reason)
{
	if (!dec->salvage)
	{
		*reason = problem;
		return false;
	}
	dec->errors = lcons(problem, dec->errors);
	return true;
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
					return record_problem(dec, psprintf("unterminated CSV quoted field %d", field + 1),
										  reason);
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
			/*
			 * As in COPY: the unquoted null string is NULL (force_not_null:
			 * the string itself), a quoted one a value (force_null: NULL).
			 */
			if (!quoted && flen == nulllen && memcmp(fstart, o->csv_null, nulllen) == 0 &&
				!col->force_not_null)
				nulls[col->attnum - 1] = true;
			else if (quoted && col->force_null && (size_t) dec->buf.len == nulllen &&
					 memcmp(dec->buf.data, o->csv_null, nulllen) == 0)
				nulls[col->attnum - 1] = true;
			else if (unlikely(dec->salvage))
			{
				CsvField	f = {col, quoted ? dec->buf.data : fstart, quoted ? (size_t) dec->buf.len : flen,
				&values[col->attnum - 1], &nulls[col->attnum - 1]};

				kafkaSalvageField(dec, col, csv_field_call, &f, &nulls[col->attnum - 1]);
			}
			else
			{
				if (quoted)
					values[col->attnum - 1] = kafkaColumnFromText(col, dec->buf.data, dec->buf.len);
				else
					values[col->attnum - 1] = kafkaColumnFromText(col, fstart, flen);
				nulls[col->attnum - 1] = false;
			}
		}
		field++;
		if (p >= end)
			break;
		p++;					/* delimiter */
	}

	/*
	 * Fields beyond the table's: an error with strict, a failure to report
	 * under on_error 'junk' (as adjust/kafka_fdw does), else ignored.  Too
	 * few fields: an error with strict, else the missing ones are NULL.
	 * COPY's words.
	 */
	if (field > o->nvalue_columns && (o->strict || o->on_error == KAFKA_ON_ERROR_JUNK))
		return record_problem(dec, pstrdup("extra data after last expected column"), reason);
	if (field < o->nvalue_columns && o->strict)
	{
		const char *missing = "?";

		for (int i = 0; i < o->ncolumns; i++)
			if (o->columns[i].kind == KAFKA_COL_VALUE && o->columns[i].value_index == field)
				missing = o->columns[i].name;
		return record_problem(dec, psprintf("missing data for column \"%s\"", missing), reason);
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
	.flags = KAFKA_CODEC_TEXT | KAFKA_CODEC_BY_FIELD,
	.validate = csv_validate,
	.check_table = csv_check_table,
	.decode = csv_decode,
	.encode = csv_encode,
};
