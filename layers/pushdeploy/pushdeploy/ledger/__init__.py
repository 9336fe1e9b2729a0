"""The release ledger: one DynamoDB table (single-table design), one module per item kind behind one facade.

Items, all under ``pk = TARGET#<target>`` unless said otherwise:

==============================  =====================================================================
``RELEASE#<release_id>``        :mod:`~pushdeploy.ledger.releases`: one release (push, revert, manual, rollback)
``CLAIM#<digest>``              :mod:`~pushdeploy.ledger.claims`: the digest is deploying or queued (until it ends)
``EVENT#<event id>``            :mod:`~pushdeploy.ledger.claims`: a push event already handled (TTL, 7 days)
``LIVE``                        :mod:`~pushdeploy.ledger.claims`: the digest production serves since the last success
``NEWEST_PUSH``                 :mod:`~pushdeploy.ledger.claims`: the newest push accepted (by push time)
``PENDING``                     :mod:`~pushdeploy.ledger.queue`: the newest push waiting for the group (newer wins)
``PENDING_REMEDY``              :mod:`~pushdeploy.ledger.queue`: a remedy waiting for the group (starts first)
``KNOWN_GOOD``                  :mod:`~pushdeploy.ledger.markers`: the last release that survived its watch window
``CANDIDATE``                   :mod:`~pushdeploy.ledger.markers`: the last succeeded release inside its window
``QUARANTINE#<digest>``         :mod:`~pushdeploy.ledger.markers`: rolled back: never auto-deployed until released
``LANE``                        :mod:`~pushdeploy.ledger.lanes`: the release deploying on an ECS-controlled service
``pk = DEPLOYMENT#<id>``        :mod:`~pushdeploy.ledger.releases`: a deployment's release (consistent; the GSI lags)
``pk = REVISION#<task def>``    :mod:`~pushdeploy.ledger.releases`: the release about to run it (ECS's hooks)
``pk = UNPROCESSED``            :mod:`~pushdeploy.ledger.unprocessed`: events that could not be processed (TTL)
==============================  =====================================================================

The table itself is declared in ``template.yaml`` (``LedgerTable``); tests and the rehearsal create it from there.
"""

from __future__ import annotations

from pushdeploy.ledger.claims import Claims
from pushdeploy.ledger.lanes import Lanes
from pushdeploy.ledger.markers import Markers
from pushdeploy.ledger.queue import Queue
from pushdeploy.ledger.releases import Releases
from pushdeploy.ledger.table import DEPLOYMENT_INDEX
from pushdeploy.ledger.unprocessed import Unprocessed

__all__ = ["DEPLOYMENT_INDEX", "Ledger"]


class Ledger(Releases, Claims, Queue, Markers, Lanes, Unprocessed):
    """Every item kind of one ledger table (the services' only way to the table)."""
