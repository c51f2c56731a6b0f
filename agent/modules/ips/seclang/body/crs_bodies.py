#!/usr/bin/env python3
"""Extracts the request bodies of the CRS 3.3 regression tests (testdata/oracles/crs-3.3-tests)
that carry a Content-Type, for seclang_body_test's differential run against libmodsecurity.

Writes testdata/seclang-body/crs-bodies.json: [{"title", "content_type", "data_hex"}], bodies as
the YAML gives them (block scalars keep LF line ends; the test adds CRLF variants). Rerun when
the oracle changes:  python3 agent/modules/ips/seclang/body/crs_bodies.py
"""
import glob
import json
import os

import yaml

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(ROOT, "..", "..", "..", "..", ".."))
BASE = os.path.join(REPO, "testdata", "oracles", "crs-3.3-tests")
OUT = os.path.join(REPO, "testdata", "seclang-body", "crs-bodies.json")


def main():
    out = []
    for path in sorted(glob.glob(BASE + "/**/*.yaml", recursive=True)):
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            doc = yaml.safe_load(f)
        for test in (doc or {}).get("tests") or []:
            for stage in test.get("stages") or []:
                inp = (stage.get("stage") or {}).get("input") or {}
                data = inp.get("data")
                content_type = None
                for k, v in (inp.get("headers") or {}).items():
                    if str(k).lower() == "content-type":
                        content_type = str(v)
                if data is None or content_type is None:
                    continue
                if isinstance(data, list):
                    data = "\r\n".join(str(x) for x in data)
                raw = str(data).encode("utf-8", errors="surrogateescape")
                out.append({"title": str(test.get("test_title")),
                            "content_type": content_type, "data_hex": raw.hex()})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=0)
        f.write("\n")
    print(f"{len(out)} bodies -> {OUT}")


if __name__ == "__main__":
    main()
