"""Settings: every ``OFFERFLOW_*`` variable, how it is parsed and checked, and how secrets are
judged and masked."""
