/*-------------------------------------------------------------------------
 *
 * worker_stub.c
 *		  TEMPORARY stand-in for the worker branch's worker.c, so that the
 *		  emitter branch builds and its tests run without the background
 *		  worker: kafkaWakeWorker does nothing and the batch size is fixed.
 *		  Delete this file when merging the worker branch (worker.c defines
 *		  both symbols and the GUC kafka_fdw.emitter_batch_size).
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

int			kafka_emitter_batch_size = 10000;

void
kafkaWakeWorker(Oid dboid)
{
	(void) dboid;
}
