"""Stream multiplexers: yamux and mplex, each a sans-IO session core plus an asyncio adapter."""
