"""The local world pushdeploy is rehearsed and tested in (the ``rehearse`` extra; never in the Lambda layer).

Rooms, one way of imports (``proof -> rehearsal -> world -> emulator``):

- ``emulator/``: what moto lacks, played from AWS's documented behaviour (CodeDeploy, ECS's task-set scheduler,
  ECR layer downloads). It imports nothing from ``pushdeploy``: an independent oracle.
- ``world/``: the simulated account: moto + emulator, virtual clock, event bus (template rules -> handlers),
  traffic and alarm evaluation, the lifecycle engine, the sample environment.
- ``rehearsal/``: scenarios (YAML), their runner and report.
- ``proof/``: bench, chaos and the fleet they share.
"""
