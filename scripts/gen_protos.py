"""Regenerate the Python code for protos/binhai/v1/*.proto (the one way to do it).

Usage: python scripts/gen_protos.py [--out DIR]

Writes *_pb2.py, *_pb2.pyi and *_pb2_grpc.py next to the .proto files (or under DIR, which
tests use to check the committed code is not stale). Needs grpcio-tools (the `dev` extra).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos" / "binhai" / "v1"


def generate(out: Path) -> list[Path]:
    """Compile every .proto under protos/binhai/v1 into ``out`` (mirroring the repo layout)."""
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(PROTO_DIR.glob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(p.relative_to(ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out / "protos" / "binhai" / "v1").glob("*_pb2*.py*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write under this directory instead of the repo")
    ns = parser.parse_args()
    if ns.out is not None:
        generate(ns.out)
        return
    tmp = ROOT / "build" / "protos-gen"
    shutil.rmtree(tmp, ignore_errors=True)
    for path in generate(tmp):
        shutil.copyfile(path, PROTO_DIR / path.name)
        print(f"wrote {(PROTO_DIR / path.name).relative_to(ROOT)}", file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
