"""``pushdeploy``: the operator's command line for real accounts (and, with the ``rehearse`` extra, the local
rehearsal). Commands call :mod:`pushdeploy.services` only; one module per command under ``commands/``."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pushdeploy")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
