"""speedrun_devstack: the whole system on one machine."""
