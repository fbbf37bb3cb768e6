"""Web services: the operator dashboard."""
