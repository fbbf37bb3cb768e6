"""The query layer: every number the dashboard and ``offerflow report`` show, from Redis and
the topics, as plain JSON-ready dictionaries. One layer, so the two can never disagree.

Pages (:data:`PAGES`): ``campaigns`` (funnel, budget burn, arm allocation over time per
segment, posterior means with 95% credible intervals), ``experiments`` (the report of
:mod:`offerflow.reports.experiment_report` plus the always-valid p-value of the primary metric over
time), ``attribution`` (credits per channel and campaign under every model), ``segments``
(sizes now and over time, feature means from a sample of profiles) and ``operations``
(events/s in and out, dead letters by reason, consumer lag per partition, Redis health,
live flow processes, last recovery snapshot).

The statistics drawn on the pages (credible intervals, rates, p-value histories) are in
:mod:`offerflow.reports.series`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition

from config.settings import Settings
from offerflow.reports import attribution_report, experiment_report
from offerflow.reports.series import credible, p_value_history, rates, shares
from operators.redis_mirror import client_for

PAGES = ("campaigns", "experiments", "attribution", "segments", "operations")
#: Profile documents read to summarize segment features (a SCAN sample, not every user).
PROFILE_SAMPLE = 2_000
#: Features summarized per segment, when profiles have them.
SUMMARY_FEATURES = (
    "events",
    "purchases",
    "revenue",
    "avg_order_value",
    "days_since_last_purchase",
    "churn_risk",
    "clv_90d",
)
#: Input topics whose consumer lag the operations page shows.
LAG_TOPICS = ("events", "internal")


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


class Analytics:
    """Reads what a deployment (``settings``: Redis prefix, topics, Kafka) holds now.

    Parameters
    ----------
    settings
        Which Redis keys and topics to read.

    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = client_for(settings.redis_url)
        self._consumer: Consumer | None = None

    def page(self, name: str) -> dict[str, Any]:
        """One page's data by name (one of :data:`PAGES`)."""
        if name not in PAGES:
            raise KeyError(name)
        return {"page": name, "generated_ms": int(time.time() * 1000), **getattr(self, name)()}

    # -- campaigns -----------------------------------------------------------------------

    def campaigns(self) -> dict[str, Any]:
        """Every campaign with statistics in Redis."""
        funnels = self._docs(self.settings.redis_key("campaign", "*"))
        policies = self._docs(self.settings.redis_key("policy", "*"))
        out = []
        for funnel in sorted(funnels, key=lambda d: d["campaign"]):
            cid = funnel["campaign"]
            raw = self.redis.get(self.settings.redis_key("budget", cid))
            spent = orjson.loads(raw) if raw else {"sends": 0, "conversions": 0}
            out.append(self._campaign(funnel, spent, [p for p in policies if p["campaign"] == cid]))
        return {"campaigns": out}

    def _campaign(
        self, funnel: dict[str, Any], spent: dict[str, Any], policies: list[dict[str, Any]]
    ) -> dict[str, Any]:
        t = funnel["totals"]
        limits = funnel.get("budget") or {}
        burn = {}
        for used, limit in (("sends", "max_sends"), ("conversions", "max_conversions")):
            if limits.get(limit):
                burn[used] = {"used": spent[used], "limit": limits[limit]}
                burn[used]["share"] = spent[used] / limits[limit]
        by_segment: dict[str, tuple[list[int], list[dict[str, int]]]] = {}
        for ts, segments in funnel["allocation"]:
            for segment, offers in segments.items():
                times, points = by_segment.setdefault(segment, ([], []))
                times.append(ts)
                points.append(offers)
        allocation = {}
        for segment, (times, points) in sorted(by_segment.items()):
            names = sorted({o for p in points for o in p})
            allocation[segment] = {
                "times": times,
                "decisions": [sum(p.values()) for p in points],
                "offers": {o: [shares(p).get(o, 0.0) for p in points] for o in names},
            }
        posteriors = []
        for policy in sorted(policies, key=lambda p: p["segment"]):
            for offer, arm in sorted(policy["arms"].items()):
                low, high = credible(arm["alpha"], arm["beta"])
                posteriors.append(
                    {
                        "segment": policy["segment"],
                        "policy": policy["policy"],
                        "offer": offer,
                        "pulls": arm["pulls"],
                        "mean": arm["mean"],
                        "low": low,
                        "high": high,
                    }
                )
        return {
            "campaign": funnel["campaign"],
            **t,
            "ctr": _ratio(t["clicks"], t["impressions"]),
            "conversion_rate": _ratio(t["conversions"], t["decisions"]),
            "channels": {
                ch: {**c, "ctr": _ratio(c["clicks"], c["impressions"])}
                for ch, c in sorted(funnel["channels"].items())
            },
            "no_offer_reasons": funnel["no_offer_reasons"],
            "budget": {"spent": spent, "limits": limits, "burn": burn},
            "allocation": allocation,
            "posteriors": posteriors,
            "drifts": sorted(
                ({"segment": p["segment"], **d} for p in policies for d in p.get("drifts", [])),
                key=lambda d: d["ts"],
            ),
            "rewards": sum(p["rewards"] for p in policies),
            "reward_sum": sum(p["reward_sum"] for p in policies),
        }

    # -- experiments ---------------------------------------------------------------------

    def experiments(self) -> dict[str, Any]:
        """Every experiment's report and its primary metric's p-value over time."""
        out = []
        for definition, documents in experiment_report.stored(self.settings, self.redis):
            report = experiment_report.analyse(definition, documents).to_json()
            report["srm_warning"] = report["sample_ratio"]["mismatch"]
            report["p_value_history"] = p_value_history(definition, documents)
            out.append(report)
        return {"experiments": out}

    # -- attribution ---------------------------------------------------------------------

    def attribution(self) -> dict[str, Any]:
        """Credits per channel and campaign under every model, and the removal effects."""
        return attribution_report.live(self.settings, self.redis).to_json()

    # -- segments ------------------------------------------------------------------------

    def segments(self) -> dict[str, Any]:
        """Segment sizes now and over time, and feature means from a sample of profiles."""
        sizes = sorted(
            self._docs(self.settings.redis_key("segment_size", "*")), key=lambda d: -d["size"]
        )
        sampled: dict[str, dict[str, list[float]]] = {}
        read = 0
        for doc in self._docs(self.settings.redis_key("profile", "*"), limit=PROFILE_SAMPLE):
            read += 1
            features = doc.get("features") or {}
            for segment in doc.get("segments") or ["(none)"]:
                columns = sampled.setdefault(segment, {f: [] for f in SUMMARY_FEATURES})
                for f in SUMMARY_FEATURES:
                    value = features.get(f)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        columns[f].append(float(value))
        summaries = [
            {
                "segment": segment,
                "sampled": max((len(v) for v in columns.values()), default=0),
                "means": {f: (sum(v) / len(v) if v else None) for f, v in columns.items()},
            }
            for segment, columns in sorted(sampled.items())
        ]
        return {
            "segments": [
                {
                    "segment": d["segment"],
                    "size": d["size"],
                    "joined": d["joined"],
                    "left": d["left"],
                    "times": [p[0] for p in d["history"]],
                    "sizes": [p[1] for p in d["history"]],
                }
                for d in sizes
            ],
            "profiles_sampled": read,
            "summaries": summaries,
        }

    # -- operations ----------------------------------------------------------------------

    def operations(self) -> dict[str, Any]:
        """Flow processes, throughput, dead letters, consumer lag, Redis and recovery."""
        processes = sorted(
            self._docs(self.settings.redis_key("ops", "*")), key=lambda d: (d["host"], d["process"])
        )
        totals: dict[str, dict[str, float]] = {}
        positions: dict[str, int] = {}
        for proc in processes:
            for section, counts in proc["counters"].items():
                merged = totals.setdefault(section, {})
                for k, v in counts.items():
                    merged[k] = merged.get(k, 0.0) + v
            for tp, offset in proc["positions"].items():
                positions[tp] = max(positions.get(tp, -1), offset)
        snapshots = [p["recovery"]["last_snapshot_ms"] for p in processes]
        return {
            "processes": [
                {
                    "host": p["host"],
                    "process": p["process"],
                    "pid": p["pid"],
                    "started_ms": p["started_ms"],
                    "reported_ms": p["ts"],
                    "recovery_dir": p["recovery"]["dir"],
                    "last_snapshot_ms": p["recovery"]["last_snapshot_ms"],
                    **rates(p["history"]),
                }
                for p in processes
            ],
            "workers": len(processes),
            "totals": totals,
            "dead_letter_share": shares(totals.get("dead_letters", {})),
            "lag": self._lag(positions),
            "redis": self._redis_health(),
            "last_snapshot_ms": max((s for s in snapshots if s), default=None),
        }

    def _lag(self, positions: dict[str, int]) -> list[dict[str, Any]]:
        """Per input partition: end offset, the flow's newest consumed offset, and the lag."""
        rows = []
        try:
            consumer = self._kafka()
            for logical in LAG_TOPICS:
                topic = self.settings.topic(logical)
                meta = consumer.list_topics(topic, timeout=2).topics.get(topic)
                if meta is None or meta.error is not None:
                    continue
                for partition in sorted(meta.partitions):
                    _low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=2, cached=False
                    )
                    done = positions.get(f"{topic}|{partition}", -1) + 1
                    rows.append(
                        {
                            "topic": topic,
                            "partition": partition,
                            "end": high,
                            "consumed": done,
                            "lag": max(0, high - done),
                        }
                    )
        except KafkaException as exc:
            return [{"error": str(exc)}]
        return rows

    def _redis_health(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            self.redis.ping()
            info = self.redis.info()
        except Exception as exc:  # any client error is the answer "unhealthy"
            return {"ok": False, "error": str(exc)}
        return {
            "ok": True,
            "ping_ms": round((time.perf_counter() - started) * 1000, 3),
            "version": info.get("redis_version"),
            "used_memory": info.get("used_memory_human"),
            "keys": self.redis.dbsize(),
            "clients": info.get("connected_clients"),
        }

    # -- helpers -------------------------------------------------------------------------

    def _docs(self, pattern: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The JSON documents at keys matching ``pattern`` (at most ``limit``)."""
        keys = []
        for key in self.redis.scan_iter(match=pattern, count=1000):
            keys.append(key)
            if limit is not None and len(keys) >= limit:
                break
        docs = []
        for start in range(0, len(keys), 500):
            for raw in self.redis.mget(keys[start : start + 500]):
                if raw is not None:
                    docs.append(orjson.loads(raw))
        return docs

    def _kafka(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(
                self.settings.kafka(
                    **{"group.id": "offerflow-dashboard", "enable.auto.commit": "false"}
                )
            )
        return self._consumer

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self.redis.close()
