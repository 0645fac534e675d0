/*-------------------------------------------------------------------------
 *
 * fuzz_shim.h
 *		  What the libFuzzer harnesses share with pg_shim.c: the per-input
 *		  arena, the ERROR trap, the database encoding, and a small fake
 *		  type catalog (scalar, array, domain and composite types) whose
 *		  input functions the shim implements.
 *
 * Invariants:
 *	- Every palloc of one input is freed by shim_end_input(); nothing
 *	  allocated with palloc survives an input.
 *	- ereport(ERROR) and the shim's input functions' errors longjmp to the
 *	  innermost SHIM_TRY, as the backend would abort the query.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FUZZ_SHIM_H
#define FUZZ_SHIM_H

#include "kafka_fdw.h"

#include <setjmp.h>

/* Fake type OIDs of the harness catalog (real OIDs for built-in types) */
#define SHIM_COMPOSITE_OID		900001	/* (a int4, b text, c int4[], d SHIM_INNER) */
#define SHIM_INNER_OID			900002	/* (x text, <dropped>, y bool) */
#define SHIM_COMPOSITE_ARR_OID	900003	/* SHIM_COMPOSITE[] */
#define SHIM_DOMAIN_OID			900004	/* domain over int4[] */
#define SHIM_LEADDROP_OID		900005	/* (<dropped>, p text, q int4) */

/* The ERROR trap: SHIM_TRY() is true on the first return, false after an ERROR */
extern sigjmp_buf *shim_error_jmp;
extern char shim_last_error[256];

/* Start and end one fuzz input (arena, encoding, refcounts) */
extern void shim_begin_input(int db_encoding);
extern void shim_end_input(bool errored);

/* Between these, pallocs outlive the input (for state a harness keeps across inputs) */
extern void shim_persistent_begin(void);
extern void shim_persistent_end(void);

/* A column of type typid for the codecs, its input function set up */
extern void shim_make_column(KafkaColumn *col, AttrNumber attnum, const char *name,
							 Oid typid, int value_index);

/* Options with ncolumns columns; csv/json defaults as option.c sets them */
extern KafkaOptions *shim_make_options(KafkaFormat format, int ncolumns);

/* A Bitmapset holding the attnums whose bit is set in mask (bit i: attnum i+1) */
extern Bitmapset *shim_attnum_set(uint32 mask, int ncolumns);

/* Check every non-null decoded datum of the columns (abort on a broken one) */
extern void shim_check_datums(KafkaOptions *o, Datum *values, bool *nulls);

#endif							/* FUZZ_SHIM_H */
