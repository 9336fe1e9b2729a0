"""Pure domain types and parsers: no I/O, no boto3. Everything else speaks these words."""
