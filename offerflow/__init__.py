"""OfferFlow's application shell: the command line, the web services, the lab (simulators and
evaluators), the reports and the local development stack. The engine itself lives in
``flows/`` (dataflows), ``operators/`` (per-record steps), ``state/`` (keyed state), ``models/``
(pure learners and statistics) and ``schemas/`` (event contracts)."""
