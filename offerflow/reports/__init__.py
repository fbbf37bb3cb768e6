"""Reports: the query layer over Redis and the topics, and what is built from it for the
terminal, the dashboard and the command line."""
