"""Consumer lag of a flow process, as a Prometheus gauge computed when it is scraped.

Bytewax keeps its input positions in its recovery store, not in a Kafka consumer group, so
the usual lag exporters see nothing. This collector reads the positions the process records
(``offerflow_input_offset``: the newest offset consumed per topic and partition) and asks the
broker for each partition's end (high watermark), giving ``offerflow_input_lag``: records
written but not yet consumed. It is served on the ``/metrics`` endpoint only
(:func:`operators.ops_report.serve_metrics`), so only a scrape asks the broker; watermarks
are cached for a few seconds, and a broker that does not answer only leaves the gauge out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from operators import metrics

log = logging.getLogger(__name__)

NAME = "offerflow_input_lag"


class InputLag(Collector):
    """``offerflow_input_lag{topic, partition}`` for the partitions this process consumed.

    Parameters
    ----------
    kafka_config
        librdkafka settings of the flow (``bootstrap.servers`` and security).
    cache_s
        How long a partition's watermark is reused.

    """

    def __init__(self, kafka_config: Mapping[str, str], cache_s: float = 5.0) -> None:
        self.kafka_config = dict(kafka_config)
        self.cache_s = cache_s
        self._consumer: Consumer | None = None
        self._ends: dict[tuple[str, int], tuple[float, int]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            NAME,
            "Records in an input partition this process has not consumed yet (the partition's "
            "end offset minus the next offset to read).",
            labels=["topic", "partition"],
        )
        for (topic, partition), offset in _positions().items():
            end = self._end(topic, partition)
            if end is not None:
                family.add_metric([topic, str(partition)], max(0, end - offset - 1))
        yield family

    def _end(self, topic: str, partition: int) -> int | None:
        now = time.monotonic()
        cached = self._ends.get((topic, partition))
        if cached is not None and now - cached[0] < self.cache_s:
            return cached[1]
        try:
            if self._consumer is None:
                self._consumer = Consumer(
                    {**self.kafka_config, "group.id": "offerflow-lag", "enable.auto.commit": False}
                )
            _low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=1.0, cached=False
            )
        except KafkaException as exc:
            log.debug("no watermark for %s[%d]: %s", topic, partition, exc)
            return None
        self._ends[(topic, partition)] = (now, high)
        return high


def _positions() -> dict[tuple[str, int], int]:
    """The newest consumed offset per (topic, partition), from this process's metrics."""
    found = {}
    for family in metrics.INPUT_OFFSET.collect():
        for sample in family.samples:
            key = (sample.labels["topic"], int(sample.labels["partition"]))
            found[key] = int(sample.value)
    return found
