"""Settings of the optional features: streaming attribution, predictions (churn, CLV) and
recommendations."""

from __future__ import annotations

from config.values import (
    at_least,
    boolean,
    conversions,
    duration,
    number,
    one_of,
    shares,
    text,
)
from config.variable import Variable

ATTRIBUTION = "Attribution"
PREDICTIONS = "Predictions"
RECOMMENDATIONS = "Recommendations"

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "ATTRIBUTION",
        "true",
        "`false` turns streaming attribution off (no touchpoints kept, no attribution records).",
        ATTRIBUTION,
        boolean,
    ),
    Variable(
        "ATTRIBUTION_CONVERSIONS",
        "purchase",
        "Event types that count as conversions, comma-separated.",
        ATTRIBUTION,
        conversions,
    ),
    Variable(
        "ATTRIBUTION_LOOKBACK",
        "30d",
        "Touchpoints older than this before a conversion (event time) earn no credit.",
        ATTRIBUTION,
        duration,
    ),
    Variable(
        "ATTRIBUTION_MAX_TOUCHES",
        "32",
        "Touchpoints kept per user; the oldest are dropped (and counted) beyond it.",
        ATTRIBUTION,
        at_least(1),
    ),
    Variable(
        "ATTRIBUTION_INACTIVITY",
        "7d",
        "A journey with no new touchpoint for this long (wall clock) ends as non-converting.",
        ATTRIBUTION,
        duration,
    ),
    Variable(
        "ATTRIBUTION_HALF_LIFE",
        "7d",
        "Half-life of the time-decay attribution model.",
        ATTRIBUTION,
        duration,
    ),
    Variable(
        "ATTRIBUTION_POSITION",
        "0.4,0.4",
        "First and last touch shares of the position-based (U-shaped) model.",
        ATTRIBUTION,
        shares,
    ),
    Variable(
        "MARKOV_ORDER",
        "1",
        "Order of the Markov-chain (data-driven) attribution model.",
        ATTRIBUTION,
        at_least(1),
    ),
    Variable(
        "MARKOV_REFRESH",
        "100",
        "Paths learned between recomputations of the Markov removal effects (1: always exact, "
        "at about a millisecond per path).",
        ATTRIBUTION,
        at_least(1),
    ),
    Variable(
        "PREDICTIONS",
        "true",
        "`false` turns predictive analytics off (no churn risk, expected purchases or CLV).",
        PREDICTIONS,
        boolean,
    ),
    Variable(
        "PREDICT_REFIT",
        "1h",
        "Event time between refits of the purchase and Gamma-Gamma models on all customers.",
        PREDICTIONS,
        duration,
    ),
    Variable(
        "PREDICT_REFRESH",
        "5m",
        "Processing time between a customer's checks for newer fitted models: after a refit, "
        "every customer's churn risk, expected purchases and CLV are recomputed within it.",
        PREDICTIONS,
        duration,
    ),
    Variable(
        "PREDICT_MIN_REPEAT",
        "50",
        "Customers with a repeat purchase needed before the first fit.",
        PREDICTIONS,
        at_least(2),
    ),
    Variable(
        "PREDICT_MODEL",
        "mbgnbd",
        "Purchase and dropout model: `mbgnbd` (a customer may drop out after any purchase, "
        "the first included: one-time buyers' churn risk grows with their silence) or "
        "`bgnbd` (dropout only after a repeat purchase: one-time buyers never churn).",
        PREDICTIONS,
        one_of("mbgnbd", "bgnbd"),
    ),
    Variable(
        "CLV_HORIZON", "90d", "Horizon of the predicted customer lifetime value.", PREDICTIONS
    ),
    Variable(
        "CLV_DISCOUNT",
        "0.1",
        "Annual discount rate of the predicted lifetime value.",
        PREDICTIONS,
        number,
    ),
    Variable(
        "RECOMMENDATIONS",
        "true",
        "`false` turns product recommendations off (no products in decisions, no Redis top-k).",
        RECOMMENDATIONS,
        boolean,
    ),
    Variable(
        "CATALOG_FILE",
        "",
        "Product catalogue CSV (item,category,price,tags,in_stock); empty: products are "
        "learned from the properties of product events.",
        RECOMMENDATIONS,
        text,
    ),
    Variable(
        "RECO_K",
        "5",
        "Products per decision and in each user's Redis top-k.",
        RECOMMENDATIONS,
        at_least(1),
    ),
    Variable(
        "RECO_PER_CATEGORY",
        "2",
        "Most products of one category in a top-k (diversity).",
        RECOMMENDATIONS,
        at_least(1),
    ),
    Variable(
        "RECO_REPEAT",
        "purchased",
        "What a user's top-k may repeat of their past: `purchased` (anything but what they "
        "bought), `never` (nothing they interacted with: one-off consumption such as films, "
        "articles, trips) or `allow`. A campaign's `repeat` overrides it for its decisions.",
        RECOMMENDATIONS,
        one_of("purchased", "never", "allow"),
    ),
    Variable(
        "RECO_HALF_LIFE",
        "7d",
        "Half-life (event time) of co-occurrence, affinity and trends.",
        RECOMMENDATIONS,
        duration,
    ),
    Variable(
        "RECO_REFRESH",
        "60s",
        "Least event time between refreshes of a user's Redis top-k.",
        RECOMMENDATIONS,
        duration,
    ),
)
