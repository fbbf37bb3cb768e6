"""Settings of profiles, segments, campaigns and their Redis documents."""

from __future__ import annotations

from config.values import at_least, durations, text
from config.variable import Variable

PROFILES = "Profiles, segments and Redis"

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "REDIS_URL",
        "redis://127.0.0.1:6379/0",
        "Redis for profiles and aggregates.",
        PROFILES,
        text,
    ),
    Variable(
        "REDIS_PREFIX",
        "offerflow",
        "Prefix of every Redis key.",
        PROFILES,
        text,
    ),
    Variable(
        "PROFILE_TTL_S",
        "7776000",
        "Profiles not updated for this long (wall clock) are "
        "deleted from flow state and Redis (default 90 days).",
        PROFILES,
        at_least(1),
    ),
    Variable(
        "HALF_LIVES",
        "1d,7d,30d",
        "Half-lives of the decayed profile features (`d`, `h`, "
        "`m` or `s` suffix). Changing them drops stored decayed sums; facts stay.",
        PROFILES,
        durations,
    ),
    Variable(
        "MAX_CATEGORIES",
        "10",
        "Categories kept per profile for affinity (weakest evicted).",
        PROFILES,
        at_least(1),
    ),
    Variable(
        "CLUSTERS",
        "6",
        "Online clusters (River KMeans) for users no rule segment claims; 0 turns clustering off.",
        PROFILES,
        at_least(0),
    ),
    Variable(
        "DEDUP_WINDOW",
        "32",
        "Recent event ids remembered per user: a redelivery changes nothing and is "
        "dead-lettered as `duplicate_event`.",
        PROFILES,
        at_least(1),
    ),
    Variable(
        "ERASE_GRACE_S",
        "604800",
        "After an `erase`, events for that user are "
        "dead-lettered for this long instead of rebuilding a profile (default 7 days).",
        PROFILES,
        at_least(0),
    ),
    Variable(
        "SEGMENTS_FILE",
        "",
        "Segment rule file (TOML); empty uses the shipped "
        "`state/segments.toml`. Reloaded within seconds of a change.",
        PROFILES,
        text,
    ),
    Variable(
        "CAMPAIGNS_FILE",
        "",
        "Campaign file (TOML, see docs/campaigns.md); empty uses the shipped "
        "`state/campaigns.toml`. Reloaded on change; the campaigns topic overrides it live.",
        PROFILES,
        text,
    ),
    Variable(
        "ANALYTICS_TTL_S",
        "2592000",
        "Expiry of campaign, policy and budget aggregates in Redis, refreshed on every "
        "update (default 30 days).",
        PROFILES,
        at_least(1),
    ),
)
