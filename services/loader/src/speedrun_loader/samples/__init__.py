"""Sample question sets shipped with the loader (``make run`` loads ``sample.json``)."""
