"""CodeDeploy for ECS blue/green: the backend (:mod:`.backend`) and its JSON-protocol server (:mod:`.server`)."""
