"""Use cases, one per module: the only callers of :mod:`pushdeploy.ledger` and :mod:`pushdeploy.aws`."""
