"""One configuration variable: its name (without the ``OFFERFLOW_`` prefix), default, meaning,
the concern it belongs to and its parser. The variables themselves are declared by concern in
the modules beside this one and gathered in :mod:`config.variables`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from config.values import duration, durations


@dataclass(frozen=True)
class Variable:
    """One configuration variable: name (without prefix), default, what it does, the concern
    it belongs to, and how its text is read. A variable with a ``parse`` is the
    :class:`~config.settings.Settings` field :attr:`field`; the others feed fields derived from
    several variables (the gate policy, the topics, the keys)."""

    name: str
    default: str
    help: str
    group: str
    parse: Callable[[Mapping[str, str], str], Any] | None = None

    @property
    def field(self) -> str:
        """The settings field: the lower-case name, ``_ms`` added for durations."""
        return self.name.lower() + ("_ms" if self.parse in (duration, durations) else "")
