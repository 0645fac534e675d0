/*-------------------------------------------------------------------------
 *
 * kafka_fdw.c
 *		  Entry points of kafka_fdw: _PG_init and the FDW handler.  The scan
 *		  callbacks live in scan.c, the INSERT callbacks in modify.c, options
 *		  in option.c, handles in connection.c.
 *
 *		  _PG_init creates no librdkafka handle: when preloaded it runs in
 *		  the postmaster, and librdkafka threads do not survive fork().
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "foreign/fdwapi.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* GUCs and background workers register here as they are added */
}

PG_FUNCTION_INFO_V1(kafka_fdw_handler);

/* The FdwRoutine of kafka_fdw */
Datum
kafka_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	kafkaSetScanRoutines(routine);
	kafkaSetModifyRoutines(routine);
	PG_RETURN_POINTER(routine);
}
