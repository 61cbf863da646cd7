#!/usr/bin/env python3
"""Runs the official ONNX checker (full_check: also strict shape inference) on each file given.

Usage: python3 check_onnx.py model.onnx [more.onnx ...]
Prints one JSON line per file: {"file", "ok", "ir_version", "opset", "nodes", "error"}.
Exits 1 when any file fails. Needs the `onnx` Python package (Debian: python3-onnx).
"""

import json
import sys

import onnx


def check(path: str) -> dict:
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
        return {
            "file": path,
            "ok": True,
            "ir_version": model.ir_version,
            "opset": opset,
            "nodes": len(model.graph.node),
            "onnx_version": onnx.__version__,
        }
    except Exception as e:  # noqa: BLE001 - report every checker failure as data
        return {"file": path, "ok": False, "error": f"{type(e).__name__}: {e}"}


if __name__ == "__main__":
    results = [check(p) for p in sys.argv[1:]]
    for r in results:
        print(json.dumps(r))
    sys.exit(0 if results and all(r["ok"] for r in results) else 1)
