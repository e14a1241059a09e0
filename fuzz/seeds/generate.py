#!/usr/bin/env python3
"""Writes the committed seed inputs of the fuzz targets (docs/fuzzing.md).

usage: python3 fuzz/seeds/generate.py   (from the repository root)

normalize_<kind>/: one valid payload per shape the sender sends (the seeds of
tests/properties.rs). signature_<kind>/: the same payloads as deliveries signed by
tests/sign.py with the fuzz secret of fuzz/src/lib.rs: `name: value` header lines,
`x-fuzz-now` (the verification time), an empty line, the body. handshake/: pings and
verification tokens.
"""
import json
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "fuzz" / "seeds"
NOW = 1767225600
SECRETS = {
    "standard-webhooks": "whsec_ZnV6ei1zZWNyZXQtb2YtcHJvdmlzaW9uZA==",
    "finch": "ZnV6ei1zZWNyZXQtb2YtcHJvdmlzaW9uZA==",
}
DEFAULT_SECRET = "fuzz-secret-of-provisiond"

PAYLOADS = {
    "standard-webhooks": [
        {"type": "employee.terminated", "timestamp": "2026-03-31T17:00:00Z",
         "data": {"id": "emp_123", "termination_date": "2026-03-31", "status": "terminated",
                  "email": "a@example.com", "manager_id": "emp_7"}},
        {"type": "employee.created", "data": {"id": "emp_9", "status": "active"}},
    ],
    "merge": [
        {"hook": {"event": "Employee.changed"}, "linked_account": {"id": "la_1"},
         "data": {"id": "e1", "employment_status": "INACTIVE",
                  "termination_date": "2026-03-01T00:00:00Z", "start_date": "2020-01-01T00:00:00Z",
                  "modified_at": "2026-03-01T10:00:00Z", "work_email": "a@example.com",
                  "manager": "e2"}},
        {"response": "Success! Your webhook is configured."},
    ],
    "workos": [
        {"id": "event_01", "event": "dsync.user.updated", "created_at": "2026-03-01T10:00:00Z",
         "data": {"id": "directory_user_01", "state": "inactive",
                  "emails": [{"primary": True, "value": "a@example.com"}],
                  "custom_attributes": {"department": "Eng", "manager_id": "m1"},
                  "raw_attributes": {
                      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                          {"department": "Eng", "manager": {"value": "m1"}}},
                  "updated_at": "2026-03-01T10:00:00Z"}},
        {"id": "event_02", "event": "dsync.deleted", "created_at": "2026-03-01T10:00:00Z",
         "data": {"id": "directory_01", "state": "deleting"}},
    ],
    "bamboohr": [
        {"type": "employee.updated", "timestamp": "2026-03-01T10:00:00+00:00",
         "data": {"companyId": 1, "employeeId": "42", "changedFields": ["status"]}},
        {"employees": [{"id": "42", "action": "Updated", "timestamp": "2026-03-01T10:00:00Z",
                        "fields": {"Status": "Inactive", "Termination Date": "2026-03-01",
                                   "First Name": "Ada", "Supervisor EID": "7"}}]},
    ],
    "gusto": [
        {"uuid": "u1", "event_type": "employee.terminated_effective", "entity_type": "Employee",
         "entity_uuid": "be4e7b8a-0000-4000-8000-000000000001", "timestamp": 1774937564},
    ],
    "hibob": [
        {"companyId": 1, "type": "employee.left", "triggeredAt": "2026-03-01T10:00:00.000Z",
         "version": "v2", "data": {"employeeId": "3332", "status": "terminated",
                                   "email": "a@example.com"}},
    ],
    "deel": [
        {"timestamp": "2026-03-01T10:00:00Z",
         "data": {"meta": {"event_type": "contract.terminated", "tracking_id": "t1"},
                  "resource": {"id": "c1", "worker_id": "w1", "status": "terminated",
                               "completion_date": "2026-03-01", "contracts": [{"id": "c2"}]}}},
        {"data": {"meta": {"event_type": "contract.terminated"},
                  "resource": [{"id": "c1", "status": "terminated"}]}},
    ],
    "finch": [
        {"company_id": "c", "account_id": "a", "connection_id": "x", "entity_id": "e",
         "event_type": "individual.deleted", "data": {"individual_id": "ind_1"}},
    ],
}

HANDSHAKES = [
    b"Ping test",
    b'{"text":"Ping test"}',
    b'{"verification_token":"asefasedfe23e234easd",'
    b'"webhook_subscription_uuid":"be4e7b8a-0000-4000-8000-000000000001"}',
]


def signed(kind: str, body: bytes) -> bytes:
    secret = SECRETS.get(kind, DEFAULT_SECRET)
    script = ROOT / "tests" / "sign.py"
    out = subprocess.run(["python3", str(script), kind, secret, str(NOW), "msg_seed"],
                         input=body, capture_output=True, check=True).stdout
    headers = json.loads(out)
    head = "".join(f"{name}: {value}\n" for name, value in headers.items())
    return f"{head}x-fuzz-now: {NOW}\n\n".encode() + body


def write(directory: pathlib.Path, name: str, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def main() -> None:
    for kind, payloads in PAYLOADS.items():
        target = kind.replace("-", "_")
        for i, payload in enumerate(payloads):
            body = json.dumps(payload, separators=(",", ":")).encode()
            write(SEEDS / f"normalize_{target}", f"{i}.json", body)
            write(SEEDS / f"signature_{target}", f"{i}.txt", signed(kind, body))
    for i, body in enumerate(HANDSHAKES):
        write(SEEDS / "handshake", f"{i}.txt", body)


if __name__ == "__main__":
    main()
