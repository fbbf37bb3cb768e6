"""The personalization API (``offerflow serve``): decisions, profiles, recommendations and
analytics over HTTP, and an HTTP event collector; see :mod:`offerflow.api.app`."""
