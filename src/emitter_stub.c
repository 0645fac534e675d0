/*-------------------------------------------------------------------------
 *
 * emitter_stub.c
 *		  Placeholders for the emitter (src/outbox.c, src/emitter.c) so that
 *		  the worker branch builds and its tests run: the worker sees whether
 *		  a database has streams, publishes nothing, and the capture trigger
 *		  and kafka.flush_stream refuse to run.  Deleted when the emitter
 *		  lands.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "executor/spi.h"

PG_FUNCTION_INFO_V1(kafka_capture);
PG_FUNCTION_INFO_V1(kafka_flush_stream);

/* Inside a transaction: does kafka.stream have a row? */
bool
kafkaEmitterHasStreams(void)
{
	bool		found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT 1 FROM kafka.stream LIMIT 1", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed");
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

/* Outside a transaction: publish what is due; the stub publishes nothing */
int64
kafkaEmitterWork(void)
{
	return 0;
}

Datum
kafka_capture(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("kafka.capture is not implemented in this build")));
	PG_RETURN_NULL();
}

Datum
kafka_flush_stream(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("kafka.flush_stream is not implemented in this build")));
	PG_RETURN_NULL();
}
