"""Helper of test/t/emitter_avro_python.sh: confluent-kafka-python's AvroDeserializer reads the
change events a stream with format => 'avro' published (Debezium's envelope, as its
AvroConverter writes it), each key and value with its writer schema from the registry.

  consume BROKERS REGISTRY TOPIC N   reads N messages from offset 0 (read_committed) and prints
                                     each as one line of sorted JSON: the key, then the op,
                                     before, after, source fields and transaction of the value
                                     (or "tombstone")
"""
import json
import sys
import threading

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def main():
    mode, brokers, url, topic = sys.argv[1:5]
    if mode != "consume":
        sys.exit("unknown mode " + mode)
    want = int(sys.argv[5])
    registry = SchemaRegistryClient({"url": url, "timeout": 10})
    # TopicNameStrategy named: the default makes this client (2.16) ask Apicurio for topic
    # "associations", a request it was seen waiting on forever (test/t/avro_registry_python.py)
    de = AvroDeserializer(registry, conf={"subject.name.strategy": topic_subject_name_strategy})
    kctx = SerializationContext(topic, MessageField.KEY)
    vctx = SerializationContext(topic, MessageField.VALUE)
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "emitter_avro_python",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
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
        key = de(m.key(), kctx) if m.key() is not None else None
        value = de(m.value(), vctx) if m.value() is not None else None
        if value is None:
            out = {"key": key, "value": "tombstone"}
        else:
            src = value["source"]
            out = {"key": key, "op": value["op"], "before": value["before"], "after": value["after"],
                   "source": {k: src[k] for k in ("version", "connector", "name", "snapshot",
                                                  "schema", "table")},
                   "transaction": value["transaction"],
                   "ts": [type(value[k]).__name__ for k in ("ts_ms", "ts_us", "ts_ns")]}
        print(json.dumps(out, sort_keys=True, default=str))
        got += 1
    # assign()ed, no group membership, nothing committed: bound the close all the same
    closer = threading.Thread(target=consumer.close, daemon=True)
    closer.start()
    closer.join(10)
    sys.stdout.flush()
    if got < want:
        sys.exit("consume: %d of %d messages" % (got, want))


main()
