"""Sign-on's HTTP transport: routes, request and response bodies, error mapping."""
