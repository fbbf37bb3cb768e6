"""Record contracts: the Avro schemas (``*.avsc``) and the one serde layer over them.

Every record OfferFlow reads or writes has a schema here. JSON (orjson) and Avro (fastavro,
schemaless or the Confluent wire format) decode to the same in-memory values and encode back,
so a topic can switch formats without touching the flows.
"""
