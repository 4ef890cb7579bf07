"""Reference values for mlops-pipeline's HPO journal frames and trial seeds.

Pinned: Python 3.11.7 (hashlib, json, struct from its standard library), crc32c==2.7.1
(PyPI `crc32c`, the Castagnoli CRC used by iSCSI/ext4). Run:

    python3 -m venv /tmp/venv-hpo && /tmp/venv-hpo/bin/pip install crc32c==2.7.1
    /tmp/venv-hpo/bin/python tools/reference/hpo_study_reference.py

Writes mlops-pipeline/tests/fixtures/hpo_study_reference.json, read by
mlops-pipeline/tests/hpo_journal.rs. Every value records the exact Python call next to it.
"""
import hashlib
import json
import struct
import sys
from pathlib import Path

import crc32c

assert sys.version_info[:3] == (3, 11, 7), sys.version
from importlib.metadata import version

assert version("crc32c") == "2.7.1", version("crc32c")

out = {"python": sys.version.split()[0], "crc32c": "2.7.1"}

# CRC-32C check value of the standard test string.
out["crc32c_check"] = {
    "input": "123456789",
    "call": "crc32c.crc32c(b'123456789')",
    "value": crc32c.crc32c(b"123456789"),
}

# Whole frames: [u32 LE len][u32 LE crc32c(payload)][payload], payload = the record's JSON
# as serde_json writes it (fields in declaration order, no spaces).
records = [
    {"type": "heartbeat", "number": 3, "lease_until_ms": 1700000000000},
    {"type": "intermediate", "number": 7, "step": 2, "value": 0.5},
    {"type": "trial_finished", "number": 1, "state": "complete", "value": 0.25},
    {"type": "trial_finished", "number": 2, "state": "fail", "value": None},
    {"type": "trial_requeued", "number": 4, "attempt": 0},
    {
        "type": "trial_started",
        "number": 0,
        # Params are a BTreeMap: serde_json writes them sorted by name.
        "params": {"n": 3, "opt": "adam", "x": 1.5},
        "seed": 42,
        "worker": 1,
        "lease_until_ms": 99,
    },
]
frames = []
for r in records:
    payload = json.dumps(r, separators=(",", ":")).encode()
    crc = crc32c.crc32c(payload)
    frame = struct.pack("<II", len(payload), crc) + payload
    frames.append(
        {
            "record": r,
            "call": "struct.pack('<II', len(p), crc32c.crc32c(p)) + p, "
            "p = json.dumps(record, separators=(',', ':')).encode()",
            "crc32c": crc,
            "frame_hex": frame.hex(),
        }
    )
out["frames"] = frames

# Trial seeds: first 8 bytes (LE) of SHA-256(tag || seed u64 LE || number u64 LE).
seeds = []
for tag in (b"mlops-hpo/trial\0", b"mlops-hpo/sample\0"):
    for seed, number in [(0, 0), (42, 0), (42, 1), (42, 39), (2**64 - 1, 12345)]:
        d = hashlib.sha256(tag + struct.pack("<QQ", seed, number)).digest()
        seeds.append(
            {
                "tag": tag.decode().rstrip("\0"),
                "seed": seed,
                "number": number,
                "call": "int.from_bytes(hashlib.sha256(tag + struct.pack('<QQ', seed, number))"
                ".digest()[:8], 'little')",
                "value": int.from_bytes(d[:8], "little"),
            }
        )
out["seeds"] = seeds

dest = Path(__file__).resolve().parents[2] / "mlops-pipeline/tests/fixtures/hpo_study_reference.json"
dest.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {dest}")
