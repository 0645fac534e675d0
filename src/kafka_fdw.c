/*-------------------------------------------------------------------------
 *
 * kafka_fdw.c
 *		  Entry points of kafka_fdw: _PG_init and the FDW handler.  The scan
 *		  callbacks live in scan.c, the INSERT callbacks in modify.c,
 *		  IMPORT FOREIGN SCHEMA in import.c, options in option.c, columns in
 *		  columns.c, handles in connection.c.
 *
 *		  _PG_init creates no librdkafka handle: when preloaded it runs in
 *		  the postmaster, and librdkafka threads do not survive fork().
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "foreign/fdwapi.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* kafka_fdw.max_handles: librdkafka handles one backend may keep */
int			kafka_max_handles = 16;

/*
 * Register the GUCs.  Runs when the library is first loaded: at server
 * start if preloaded, otherwise in the first backend that uses kafka_fdw.
 */
void
_PG_init(void)
{
	/*
	 * PGC_SUSET: each handle costs threads and file descriptors of the
	 * machine, so only a superuser may let a session keep more.
	 */
	DefineCustomIntVariable("kafka_fdw.max_handles",
							"Maximum number of librdkafka client handles a session keeps.",
							"Each handle has about 8 threads and 18 file descriptors; idle ones are destroyed, least recently used first, to stay within the limit.",
							&kafka_max_handles,
							16, 2, 1000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	/* the workers' GUCs; shared memory and the launcher when preloaded */
	kafkaWorkerInit();
	kafkaEmitterInit();
	kafkaXactInit();
	kafkaAvroCompatInit();
	MarkGUCPrefixReserved("kafka_fdw");
}

PG_FUNCTION_INFO_V1(kafka_fdw_handler);

/* The FdwRoutine of kafka_fdw */
Datum
kafka_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	kafkaSetScanRoutines(routine);
	kafkaSetModifyRoutines(routine);
	routine->ImportForeignSchema = kafkaImportForeignSchema;
	PG_RETURN_POINTER(routine);
}
