"""What every app shares, importing no app: domain errors, the API's error path and input
checks, pagination, rate limits, the Redis cache backend and its circuit breaker, request logs
and their redaction, request origins, health probes, page helpers."""
