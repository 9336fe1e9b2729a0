"""IAM as AWS enforces it: each API call, as the Service Authorization Reference defines its action, resource ARN
and condition keys (:mod:`.reference`, :mod:`.requests`), evaluated against a principal's policies
(:mod:`.policy`). Imports nothing from ``pushdeploy``."""
