"""Our node, a go node and a loopback runner for the libp2p/test-plans ``gossipsub-interop``
contract (see README.md)."""
