"""Kafka as every part of kstreamy meets it: client settings derived from the application's
config, building clients and waiting for the cluster (``clients``), librdkafka's log lines routed
into Python logging (``log``), and the topics kstreamy creates and checks (``topics``).

The runtime, the command line's operations (``kstreamy.ops``), interactive queries and the test
helpers all use these; nothing here imports the runtime.
"""
