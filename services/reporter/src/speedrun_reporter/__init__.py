"""speedrun_reporter: see this service's README."""
