"""Developer-side tools: the local CodeDeploy emulator, the local rehearsal and the operator CLI.

Not part of the Lambda layer.
"""
