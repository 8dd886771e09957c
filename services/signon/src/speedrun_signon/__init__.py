"""speedrun_signon: see this service's README."""
