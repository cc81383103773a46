"""The ``libp2p`` command, run as a user would (a subprocess)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from libp2p.identity.keys import unmarshal_private_key
from libp2p.identity.peer_id import PeerId


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "libp2p", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("key_type", ["ed25519", "secp256k1", "ecdsa", "rsa"])
def test_keygen_json_and_saved_key(tmp_path: Path, key_type: str) -> None:
    out = tmp_path / "id.key"
    proc = _cli("keygen", "--type", key_type, "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["key_type"].lower() == key_type
    key = unmarshal_private_key(out.read_bytes())
    pid = PeerId.from_public_key(key.public_key)
    assert info["peer_id"] == str(pid)
    assert PeerId.from_string(info["peer_id_cid"]) == pid
    assert bytes.fromhex(info["public_key"]) == key.public_key.marshal()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_keygen_human_output_and_no_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "id.key"
    first = _cli("keygen", "--out", str(out))
    assert first.returncode == 0
    assert "peer ID:" in first.stdout and "Ed25519" in first.stdout
    saved = out.read_bytes()
    second = _cli("keygen", "--out", str(out))
    assert second.returncode == 2 and "exists" in second.stderr  # bad input, not a network failure
    assert out.read_bytes() == saved
    third = _cli("keygen", "--out", str(out), "--force", "--json")
    assert third.returncode == 0 and out.read_bytes() != saved


def test_keygen_rejects_bad_rsa_size() -> None:
    proc = _cli("keygen", "--type", "rsa", "--bits", "1024")
    assert proc.returncode != 0
    assert proc.stdout == ""


def test_version_and_help() -> None:
    proc = _cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("aiolibp2p ")
    assert _cli().returncode == 2
