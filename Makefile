# kafka_fdw: PostgreSQL foreign data wrapper and stream bridge for Apache Kafka (PGXS build)
MODULE_big = kafka_fdw
OBJS = src/kafka_fdw.o src/option.o src/columns.o src/rdkafka_conf.o src/connection.o src/pushdown.o src/scan.o \
       src/codec.o src/codec_json.o src/codec_csv.o src/codec_raw.o src/codec_avro.o src/datum.o src/admin.o \
       src/modify.o src/producer.o src/encode.o src/xact.o src/message.o \
       src/outbox.o src/envelope.o src/envelope_avro.o src/emitter.o src/worker.o src/stream_api.o src/transform.o src/snapshot.o src/ingest.o src/ingest_api.o src/progress.o \
       src/registry.o src/registry_api.o src/avro_compat.o src/import.o

EXTENSION = kafka_fdw
DATA = kafka_fdw--1.0.sql kafka_fdw--1.0--1.1.sql kafka_fdw--1.1--1.2.sql
PGFILEDESC = "kafka_fdw - foreign data wrapper for Apache Kafka"

REGRESS ?= setup options read pushdown_joins or_pushdown pushdown_edges formats bad_messages decode_errors adjust_compat adjust_edges fuzz_findings avro write security registry avro_registry avro_compat import handles streams emitter emitter_avro transforms snapshot capture ingest
REGRESS_OPTS = --inputdir=.

PG_CPPFLAGS = -I$(srcdir)/src -isystem $(shell $(PG_CONFIG) --includedir-server)
SHLIB_LINK = -lrdkafka -lavro -ljansson -lcurl

# No LLVM bitcode for JIT inlining: nothing here is worth inlining into JIT-compiled queries, and
# with clang installed (the fuzz harnesses need it) PGXS would compile every file a second time
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the one internal header (PGXS does not track it)
$(OBJS): src/kafka_fdw.h

# libFuzzer harnesses of the decoders (fuzz/README.md); separate from the PGXS build
fuzz:
	$(MAKE) -C fuzz PG_CONFIG=$(PG_CONFIG)

.PHONY: fuzz
