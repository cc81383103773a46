"""``libp2p keygen``: make an identity, optionally save it, and print its peer ID."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from libp2p.errors import Libp2pError
from libp2p.identity.keys import KeyType, generate_key_pair
from libp2p.identity.peer_id import PeerId

_TYPES = {
    "ed25519": KeyType.Ed25519,
    "secp256k1": KeyType.Secp256k1,
    "ecdsa": KeyType.ECDSA,
    "rsa": KeyType.RSA,
}


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "keygen",
        help="generate an identity and print its peer ID",
        description="Generate a key pair, print the peer ID in both text forms, the key type and the public key.",
    )
    p.add_argument("--type", choices=sorted(_TYPES), default="ed25519", help="key type (default: ed25519)")
    p.add_argument("--bits", type=int, default=2048, help="RSA modulus size, 2048 to 8192 (default: 2048)")
    p.add_argument("--out", metavar="FILE", help="save the private key protobuf to FILE (mode 0600)")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def _save(path: str, data: bytes, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def run(args: argparse.Namespace) -> int:
    try:
        key = generate_key_pair(_TYPES[args.type], bits=args.bits)
    except Libp2pError as exc:
        print(f"libp2p keygen: {exc}", file=sys.stderr)
        return 2
    if args.out:
        try:
            _save(args.out, key.marshal(), args.force)
        except FileExistsError:
            print(f"libp2p keygen: {args.out} exists (use --force to overwrite)", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"libp2p keygen: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return 1
    public = key.public_key
    pid = PeerId.from_public_key(public)
    info = {
        "peer_id": str(pid),
        "peer_id_cid": pid.to_cid_string(),
        "key_type": public.key_type.name,
        "public_key": public.marshal().hex(),
        "private_key_file": args.out,
    }
    if args.json:
        print(json.dumps(info))
    else:
        print(f"peer ID:     {info['peer_id']}")
        print(f"peer ID CID: {info['peer_id_cid']}")
        print(f"key type:    {info['key_type']}")
        print(f"public key:  {info['public_key']}  (libp2p PublicKey protobuf, hex)")
        if args.out:
            print(f"private key: saved to {args.out}")
    return 0
