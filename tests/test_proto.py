"""The checked-in generated gRPC code matches what the pinned protoc makes of the .proto files."""

from __future__ import annotations

import filecmp
from pathlib import Path

from scripts.gen_proto import PROTO_ROOT, generate


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    generate(tmp_path)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "protoc generated nothing"
    stale = [
        str(rel)
        for rel in generated
        if not filecmp.cmp(tmp_path / rel, PROTO_ROOT / rel, shallow=False)
    ]
    assert stale == [], "run `make proto` and commit the result"
    checked_in = {p.relative_to(PROTO_ROOT) for p in PROTO_ROOT.rglob("*_pb2*") if p.is_file()}
    assert checked_in == set(generated)
