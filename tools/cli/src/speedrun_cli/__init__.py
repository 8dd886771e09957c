"""speedrun_cli: the speedrun command line."""
