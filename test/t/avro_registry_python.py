"""Helper of test/t/avro_registry_python.sh: confluent-kafka-python's Avro serializers against
the test registry.

  produce BROKERS REGISTRY TOPIC   writes {id, name, at} with schema v1, then {id, name, at,
                                   score} with v2 (score has a default), through AvroSerializer
  produce_keyed BROKERS REGISTRY TOPIC
                                   writes two {id, name, at} values (v1) with record keys
                                   {id, region}, both through AvroSerializer (subjects
                                   TOPIC-value and TOPIC-key)
  consume BROKERS REGISTRY TOPIC N reads N values from offset 0 with AvroDeserializer (each with
                                   its writer schema by id) and prints each as sorted JSON
  consume_keyed BROKERS REGISTRY TOPIC N
                                   the same, printing {"key": ..., "value": ...} with the key
                                   read by AvroDeserializer too
"""
import datetime
import json
import sys
import threading

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry import topic_subject_name_strategy
from confluent_kafka.serialization import MessageField, SerializationContext

V1 = {"type": "record", "name": "py_event", "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": ["null", "string"], "default": None},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}
V2 = {"type": "record", "name": "py_event", "fields": V1["fields"] + [
    {"name": "score", "type": "int", "default": 0}]}
KEY = {"type": "record", "name": "py_key", "fields": [
    {"name": "id", "type": "long"}, {"name": "region", "type": "string"}]}
UTC = datetime.timezone.utc
# TopicNameStrategy named explicitly: without it, this client (2.16) first asks the registry
# for "associations" of the topic, an endpoint Apicurio 3.3.3 answers 404 and on which the
# client was seen waiting for an answer forever (CI, stop 13)
SERDE_CONF = {"subject.name.strategy": topic_subject_name_strategy}


def main():
    mode, brokers, url, topic = sys.argv[1:5]
    registry = SchemaRegistryClient({"url": url, "timeout": 10})
    ctx = SerializationContext(topic, MessageField.VALUE)
    kctx = SerializationContext(topic, MessageField.KEY)
    if mode == "produce_keyed":
        producer = Producer({"bootstrap.servers": brokers})
        kser = AvroSerializer(registry, json.dumps(KEY), conf=SERDE_CONF)
        ser = AvroSerializer(registry, json.dumps(V1), conf=SERDE_CONF)
        for key, row in [({"id": 7, "region": "eu"}, {"id": 1, "name": "ann", "at": datetime.datetime(2024, 1, 2, tzinfo=UTC)}),
                         ({"id": -8, "region": ""}, {"id": 2, "name": None, "at": datetime.datetime(1970, 1, 1, tzinfo=UTC)})]:
            producer.produce(topic, key=kser(key, kctx), value=ser(row, ctx))
        if producer.flush(30) != 0:
            sys.exit("produce: messages left unsent")
    elif mode == "produce":
        producer = Producer({"bootstrap.servers": brokers})
        batches = [
            (V1, [{"id": 1, "name": "ann", "at": datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, UTC)},
                  {"id": 2, "name": None, "at": datetime.datetime(1970, 1, 1, tzinfo=UTC)}]),
            (V2, [{"id": 3, "name": "cy", "at": datetime.datetime(2030, 6, 7, 8, 9, 10, tzinfo=UTC),
                   "score": 42}]),
        ]
        for schema, rows in batches:
            ser = AvroSerializer(registry, json.dumps(schema), conf=SERDE_CONF)
            for row in rows:
                producer.produce(topic, value=ser(row, ctx))
        if producer.flush(30) != 0:
            sys.exit("produce: messages left unsent")
    elif mode in ("consume", "consume_keyed"):
        want = int(sys.argv[5])
        de = AvroDeserializer(registry, conf=SERDE_CONF)
        consumer = Consumer({"bootstrap.servers": brokers, "group.id": "avro_registry_python",
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, 0, 0)])
        got = 0
        tries = 0
        while got < want and tries < 60:
            m = consumer.poll(1.0)
            tries += 1
            if m is None:
                continue
            if m.error():
                sys.exit("consume: %s" % m.error())
            if mode == "consume_keyed":
                out = {"key": de(m.key(), kctx) if m.key() is not None else None,
                       "value": de(m.value(), ctx)}
            else:
                out = de(m.value(), ctx)
            print(json.dumps(out, sort_keys=True, default=str))
            got += 1
        # assign()ed, no group membership, nothing committed: close() has nothing to do, but
        # bound it all the same (this checks our messages, not the client's shutdown)
        closer = threading.Thread(target=consumer.close, daemon=True)
        closer.start()
        closer.join(10)
        sys.stdout.flush()
        if got < want:
            sys.exit("consume: %d of %d messages" % (got, want))
    else:
        sys.exit("unknown mode " + mode)


main()
