/*-------------------------------------------------------------------------
 *
 * codec_csv.c
 *		  Decoding a CSV record message into columns, with COPY's rules:
 *		  delimiter, quote, escape (default: the quote), and a null string
 *		  that means NULL only when unquoted (default: the empty string).
 *		  Fields map to the value columns in column order.  Without the
 *		  table option strict, missing trailing fields are NULL and extra
 *		  fields are ignored; with it, the field count must match.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

bool
kafkaDecodeCsv(KafkaDecoder *dec, const char *data, size_t len,
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
