"""mplex ``/mplex/6.7.0`` (deprecated; no flow control): a sans-IO session core.

Import from the submodules: ``libp2p.muxer.mplex.core`` (``MplexSession``, ``MplexConfig``) and
``libp2p.muxer.mplex.errors``. This file stays import-free on purpose: both frame-codec twins
(``libp2p._pure.mplex`` and ``_native/mplex.pxi``) import ``errors`` while ``libp2p._accel`` is
still loading, so importing ``core`` (which imports ``libp2p._accel``) from here would be circular.
"""
