"""The predictive-analytics half of the main dataflow, after the user-keyed profile step.

Steps: customers' RFM facts (on each purchase) and departures from the profile step → keyed
``predict`` → the models step (MBG/NBD or BG/NBD and Gamma-Gamma, refitted on a schedule of
event time and when a bounded run's input ends)
→ the fitted parameters to Redis (``<prefix>:predict:params``) and, as ``models`` messages
through the internal topic, to every worker's profile step (one message per broadcast key),
where each customer's predictions are computed beside their facts.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Stream

from config.settings import Settings
from flows.placement import MODEL_KEYS, broadcast_keys
from flows.wiring import stateful_map
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
        model=settings.predict_model,
    )
    fitted = stateful_map("predict", inputs, step, at_end=step.at_end)
    fits = op.filter_map("fitted_models", fitted, lambda kv: kv[1])
    op.output(
        "redis_predict",
        op.map("predict_params", fits, lambda p: (settings.redis_key("predict", "params"), p)),
        RedisMirrorSink(settings.redis_url, ttl_s=settings.analytics_ttl_s),
    )
    return op.flat_map(
        "models_to_every_worker",
        fits,
        lambda params: [Feedback("models", key, params) for key in broadcast_keys("models")],
    )
