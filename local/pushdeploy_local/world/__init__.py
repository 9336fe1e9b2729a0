"""The simulated account the handlers run in: moto, the emulator, the event bus, traffic, alarms, virtual time."""
