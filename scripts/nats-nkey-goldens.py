#!/usr/bin/env python3
"""Prints the nkey goldens of Tests/LitestreamTests/NATS/NKeyTests.swift, made with the official `nkeys` package.

    python3 -m venv /tmp/nkeys && /tmp/nkeys/bin/pip install nkeys==0.2.1 && /tmp/nkeys/bin/python scripts/nats-nkey-goldens.py

Seeds are fixed (bytes 0..31, and 0xA5 * 32) so the output never changes; Ed25519 signatures are deterministic.
"""
import base64

import nkeys

for raw in (bytes(range(32)), bytes([0xA5] * 32)):
    seed = nkeys.encode_seed(raw, nkeys.PREFIX_BYTE_USER)
    kp = nkeys.from_seed(bytearray(seed))
    nonce = b"dXNlIHRoZSBub25jZQ"  # a server nonce is base64url text; its bytes are what is signed
    sig = base64.urlsafe_b64encode(kp.sign(nonce)).rstrip(b"=")
    print(f'seed:   {seed.decode()}')
    print(f'public: {kp.public_key.decode()}')
    print(f'nonce:  {nonce.decode()}')
    print(f'sig:    {sig.decode()}')
    print(f'crc16(seed body): {nkeys.crc16(bytearray(base64.b32decode(seed + b"=" * (-len(seed) % 8))[:-2])):#06x}')
