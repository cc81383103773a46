"""The host: dialing, listening, connection reuse, stream handlers, and the upgrader."""
