"""What moto lacks, moto-style: a backend of records answering as AWS does, and a server beside it.

Imports nothing from ``pushdeploy``, so it stays an independent oracle of AWS's behaviour.
"""
