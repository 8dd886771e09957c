"""speedrun_loader: see this service's README."""
