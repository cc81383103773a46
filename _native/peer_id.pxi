# PeerIdCore: twin of libp2p/_pure/peer_id.py. A peer ID's equality, hash and order in C slots:
# the host's tables hash and compare peer IDs several times per connection, each a Python call
# with the pure twin.

from cpython.object cimport PyObject_RichCompare


cdef class PeerIdCore:
    """Equal, hashed and ordered by ``_bytes`` (the multihash); compared only with its own kind."""

    cdef public bytes _bytes

    def __hash__(self):
        return hash(self._bytes)

    def __richcmp__(self, other, int op):
        if not isinstance(other, PeerIdCore):
            return NotImplemented
        return PyObject_RichCompare(self._bytes, (<PeerIdCore>other)._bytes, op)
