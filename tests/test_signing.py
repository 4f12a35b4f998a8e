"""Tests of goldenvision.signing: Ed25519 known answers (RFC 8032), keys, keyrings."""

from __future__ import annotations

import base64
import hashlib
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from goldenvision import signing
from goldenvision.errors import IntegrityError

# RFC 8032 section 7.1, TEST 1 and TEST 2: (secret key, public key, message, signature).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
        "d25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
        "387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


@pytest.mark.parametrize("sk_hex, pk_hex, msg_hex, sig_hex", RFC8032)
def test_rfc8032_vectors(sk_hex, pk_hex, msg_hex, sig_hex):
    sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sk_hex))
    msg = bytes.fromhex(msg_hex)
    assert signing.public_key_raw(sk) == bytes.fromhex(pk_hex)
    sig = signing.sign(msg, sk)
    assert sig.hex() == sig_hex
    assert signing.verify(msg, sig, bytes.fromhex(pk_hex))
    assert not signing.verify(msg + b"x", sig, bytes.fromhex(pk_hex))
    bad = bytearray(sig)
    bad[0] ^= 1
    assert not signing.verify(msg, bytes(bad), bytes.fromhex(pk_hex))
    # key id: first 16 hex digits of sha256 of the raw public key
    assert signing.key_id(sk) == hashlib.sha256(bytes.fromhex(pk_hex)).hexdigest()[:16]


def test_new_keypair_round_trip_and_headers():
    priv_pem, pub_pem = signing.new_keypair("acme-buyer", "buyer")
    assert priv_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pub_pem.startswith(b"name: acme-buyer\nrole: buyer\n-----BEGIN PUBLIC KEY-----")
    sk = signing.load_private_key(priv_pem)
    pk = signing.load_public_key(pub_pem)
    assert signing.key_id(sk) == signing.key_id(pk)
    sig = signing.sign(b"manifest", priv_pem)
    assert len(sig) == 64
    assert signing.verify(b"manifest", sig, pub_pem)
    # raw and base64-of-raw public keys load to the same key
    raw = signing.public_key_raw(pk)
    assert signing.key_id(raw) == signing.key_id(base64.b64encode(raw)) == signing.key_id(pk)


def test_bad_role_and_name_refused():
    with pytest.raises(IntegrityError, match="role"):
        signing.new_keypair("x", "boss")
    with pytest.raises(IntegrityError, match="key name"):
        signing.new_keypair("../evil", "buyer")


def test_write_keypair_mode_passphrase_and_no_overwrite(tmp_path):
    key_path, pub_path = signing.write_keypair(tmp_path, "factory1", "factory", passphrase="s3cret")
    assert key_path.name == "factory1.key" and pub_path.name == "factory1.pub"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert b"ENCRYPTED" in key_path.read_bytes()
    sk = signing.load_private_key(key_path, passphrase="s3cret")
    assert signing.key_id(sk) == signing.key_id(pub_path)
    with pytest.raises(IntegrityError, match="factory1.key"):
        signing.load_private_key(key_path, passphrase="wrong")
    with pytest.raises(IntegrityError, match="factory1.key"):
        signing.load_private_key(key_path)
    with pytest.raises(IntegrityError, match="already exists"):
        signing.write_keypair(tmp_path, "factory1", "factory")


def test_keyring_reads_roles_and_refuses_garbage(tmp_path):
    signing.write_keypair(tmp_path, "b", "buyer")
    signing.write_keypair(tmp_path, "f", "factory")
    ring = signing.load_keyring(tmp_path)
    assert sorted((t.name, t.role) for t in ring) == [("b", "buyer"), ("f", "factory")]
    assert all(len(t.key_id) == 16 for t in ring)
    (tmp_path / "junk.pub").write_bytes(b"not a key at all, really not")
    with pytest.raises(IntegrityError, match="junk.pub"):
        signing.load_keyring(tmp_path)
    with pytest.raises(IntegrityError, match="not found"):
        signing.load_keyring(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IntegrityError, match="no|none"):
        signing.load_keyring(empty)


def test_load_private_key_rejects_non_ed25519():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(IntegrityError, match="Ed25519"):
        signing.load_private_key(pem)
