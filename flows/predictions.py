"""The predictive-analytics half of the main dataflow, after the user-keyed profile step.

Steps: customers' RFM facts (on each purchase) and departures from the profile step → keyed
``predict`` → the models step (BG/NBD and Gamma-Gamma, refitted on a schedule of event time)
→ ``predicted`` messages back to each customer's profile through the internal topic, and the
fitted parameters to Redis (``<prefix>:predict:params``).
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Stream

from config.settings import Settings
from flows.placement import MODEL_KEYS
from flows.wiring import keyed_outputs
from operators.feedback import Feedback
from operators.predict_step import PredictStep
from operators.redis_mirror import RedisMirrorSink


def predict(changes: Stream, settings: Settings) -> Stream[Feedback]:
    """Wire the models step after the profile step's ``changes``; returns the messages for
    the internal topic."""
    inputs = op.filter_map(
        "predict_inputs",
        changes,
        lambda kv: (MODEL_KEYS["predict"], kv[1][1]) if kv[1][0] == "predict" else None,
    )
    step = PredictStep(
        refit_ms=settings.predict_refit_ms,
        min_repeat=settings.predict_min_repeat,
        horizon_days=settings.clv_horizon_days,
        annual_discount=settings.clv_discount,
    )
    outputs = keyed_outputs("predict", inputs, step)
    params = op.filter_map(
        "predict_params",
        outputs,
        lambda kv: (
            (settings.redis_key("predict", "params"), kv[1][1]) if kv[1][0] == "params" else None
        ),
    )
    op.output(
        "redis_predict", params, RedisMirrorSink(settings.redis_url, ttl_s=settings.analytics_ttl_s)
    )
    return op.filter_map(
        "predicted_messages", outputs, lambda kv: kv[1][1] if kv[1][0] == "internal" else None
    )
