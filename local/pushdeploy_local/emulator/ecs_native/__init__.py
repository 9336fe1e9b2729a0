"""A local Amazon ECS front for services with the ECS deployment controller (blue/green, linear, canary,
rolling)."""
