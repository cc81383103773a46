"""Application protocols: identify, ping, echo, perf."""
