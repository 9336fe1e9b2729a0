"""One module per command; each turns its arguments into an :class:`~pushdeploy_cli.answers.Answer`."""
