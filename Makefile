# kafka_fdw: PostgreSQL foreign data wrapper and stream bridge for Apache Kafka (PGXS build)
MODULE_big = kafka_fdw
OBJS = src/kafka_fdw.o src/option.o src/connection.o src/pushdown.o src/scan.o \
       src/codec.o src/codec_json.o src/codec_csv.o src/admin.o \
       src/modify.o src/encode.o src/xact.o

EXTENSION = kafka_fdw
DATA = kafka_fdw--1.0.sql
PGFILEDESC = "kafka_fdw - foreign data wrapper for Apache Kafka"

REGRESS ?= setup options read formats bad_messages write fuzz_findings
REGRESS_OPTS = --inputdir=.

PG_CPPFLAGS = -I$(srcdir)/src -isystem $(shell $(PG_CONFIG) --includedir-server)
SHLIB_LINK = -lrdkafka -lavro -lcurl

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the one internal header (PGXS does not track it)
$(OBJS): src/kafka_fdw.h

# libFuzzer harnesses of the decoders (fuzz/README.md); separate from the PGXS build
fuzz:
	$(MAKE) -C fuzz PG_CONFIG=$(PG_CONFIG)

.PHONY: fuzz
