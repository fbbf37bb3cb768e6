"""What the command modules share: the usage-error type and a few defaults."""

from __future__ import annotations

#: Where ``offerflow run`` keeps Bytewax recovery state when nothing else is configured.
DEFAULT_RECOVERY_DIR = "offerflow-recovery"


class UsageError(Exception):
    """Bad input from a flag or a file: :func:`offerflow.cli.main` prints it as one line and
    exits with code 2, never a traceback."""


def read_text(path: str, what: str = "file") -> str:
    """The UTF-8 text of ``path``, or a :class:`UsageError` naming the path and the problem."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise UsageError(f"no such {what}: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a {what}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
