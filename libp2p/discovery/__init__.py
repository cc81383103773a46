"""Peer discovery: ways to learn of peers without a bootstrap address (mDNS on the local network)."""
