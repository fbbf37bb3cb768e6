"""Every configuration variable: its name (without the ``OFFERFLOW_`` prefix), default and
meaning, grouped by concern, each declared once with its parser. :mod:`config.settings`
resolves them; the README's configuration table is generated from
:data:`VARIABLES`, so code and docs cannot drift.

Any variable can also be read from a file: ``OFFERFLOW_<NAME>_FILE`` names a file whose content
(trailing newline stripped) is the value, the usual way to hand secrets to a container.
"""

from __future__ import annotations

from config import api, features, kafka, operations, privacy, profiles
from config.kafka import TOPICS
from config.privacy import DEV_ID_KEY
from config.variable import Variable

__all__ = ["DEV_ID_KEY", "TOPICS", "VARIABLES", "Variable"]

#: Every variable, by concern, in the order the README's configuration table shows them.
VARIABLES: tuple[Variable, ...] = (
    *privacy.VARIABLES,
    *kafka.VARIABLES,
    *profiles.VARIABLES,
    *features.VARIABLES,
    *operations.VARIABLES,
    *api.VARIABLES,
)
