"""Protobuf schemas (``*.proto``) and the modules protoc generated from them (``*_pb2.py``).

Regenerate with the command in ``README.md``; never edit the generated files by hand.
"""
