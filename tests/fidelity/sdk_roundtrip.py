"""Drives the official `vastai` Python SDK against the simulator (tests/it/fidelity.rs runs it).

Usage: sdk_roundtrip.py BASE_URL KEY INSTANCE_ID

Exercises the SDK's own code paths (paging, show-one, the two-step log protocol, labels,
execute) and prints one JSON object with what it saw; exits non-zero on any mismatch, so the
simulator stays honest against the client that real users run.
"""
import json
import sys
import time

from vastai import VastAI


def main() -> int:
    base, key, instance_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sdk = VastAI(api_key=key, server_url=base)
    seen = {}

    rows = sdk.show_instances()
    seen["ids"] = [row["id"] for row in rows]
    assert instance_id in seen["ids"], seen
    assert all(isinstance(row["duration"], float) for row in rows), "duration not computed"
    assert all(isinstance(row["extra_env"], dict) for row in rows), "extra_env not pairs"

    row = sdk.show_instance(instance_id)
    seen["status"] = row["actual_status"]
    assert row["id"] == instance_id, row

    text = sdk.logs(instance_id, tail="2")
    seen["log_tail"] = text.splitlines()
    assert len(seen["log_tail"]) == 2, seen

    assert sdk.label_instance(instance_id, "from-the-sdk").get("success") is True
    out = sdk.execute(instance_id, "nvidia-smi -L")
    seen["execute"] = out
    assert "nvidia-smi -L" in out, out

    time.sleep(2.1)  # show-one allows one call per 2 s per key
    assert sdk.show_instance(instance_id)["label"] == "from-the-sdk"

    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
