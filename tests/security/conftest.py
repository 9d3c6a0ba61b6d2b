"""The Kafka fixtures of tests/kafka (the real broker, a prefix of topics and ACLs per test)."""

from tests.kafka.kafka_helpers import kafka_bootstrap, kafka_env, prefix  # noqa: F401 - fixtures
