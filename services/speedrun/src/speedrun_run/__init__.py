"""speedrun_run: see this service's README."""
