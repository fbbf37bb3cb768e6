"""Change detection on named streams of numbers, with River's drift detectors.

A :class:`DriftWatch` keeps one detector per stream (an offer's rewards, a model's log loss)
and says when one of them has just detected a change in the stream's distribution. After a
detection River's ADWIN drops the part of its window before the change, so the same change
is not reported twice; the watch also counts detections per stream.

Detectors (``river.drift``): ``adwin`` (ADWIN, adaptive windowing: a change in the mean,
with a false-alarm bound ``delta``), ``page_hinkley`` (Page-Hinkley, a sustained shift of
the mean by more than ``delta``, alarm at ``threshold``), ``kswin`` (Kolmogorov-Smirnov on a
sliding window: any change of distribution; for continuous values, not 0/1 rewards).

Examples
--------

>>> import random
>>> rng = random.Random(1)
>>> watch = DriftWatch("adwin")
>>> before = [watch.update("offer_a", float(rng.random() < 0.30)) for _ in range(3000)]
>>> after = [watch.update("offer_a", float(rng.random() < 0.05)) for _ in range(3000)]
>>> any(before), any(after)
(False, True)
>>> watch.detections["offer_a"] >= 1
True

"""

from __future__ import annotations

from collections.abc import Mapping

from river import drift

DETECTORS = ("adwin", "page_hinkley", "kswin")


class DriftWatch:
    """One River detector per stream name.

    Parameters
    ----------
    detector
        ``adwin``, ``page_hinkley`` or ``kswin``.
    params
        Keyword arguments of the River detector (e.g. ``{"delta": 0.002}`` for ADWIN).

    """

    def __init__(self, detector: str = "adwin", params: Mapping[str, float] | None = None) -> None:
        if detector not in DETECTORS:
            raise ValueError(f"unknown detector {detector!r}; one of {', '.join(DETECTORS)}")
        self.detector = detector
        self.params = dict(params or {})
        self.streams: dict[str, drift.base.DriftDetector] = {}
        #: Changes detected per stream since the watch started.
        self.detections: dict[str, int] = {}

    def update(self, stream: str, value: float) -> bool:
        """Feed ``value`` to ``stream``'s detector; ``True`` when it detects a change now."""
        detector = self.streams.get(stream)
        if detector is None:
            detector = self.streams[stream] = self._new()
        detector.update(value)
        if not detector.drift_detected:
            return False
        self.detections[stream] = self.detections.get(stream, 0) + 1
        return True

    def _new(self) -> drift.base.DriftDetector:
        if self.detector == "adwin":
            return drift.ADWIN(**self.params)
        if self.detector == "page_hinkley":
            return drift.PageHinkley(**self.params)
        return drift.KSWIN(**self.params)
