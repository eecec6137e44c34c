#!/usr/bin/env python3
"""Checks the API description (docs/openapi.json) with third-party validators.

    check_openapi.py DOCUMENT               the document is valid OpenAPI 3.1 (openapi-spec-validator)
    check_openapi.py DOCUMENT SAMPLES.json  ... and every sample answer conforms to it (openapi-core)

SAMPLES.json is what tests/it/openapi.rs collects from the real routers: a list of
{"method", "path", "status", "contentType", "body"} (body: the raw text). openapi-core finds
the operation by method and path, the response by status (an undocumented status fails) and
validates the body against that response's schema (where a schema closes an object with
`additionalProperties: false`, a field the document doesn't name fails too).
Exit status 1 and one line per problem when anything fails.
"""
import json
import sys

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    spec, _ = read_from_filename(argv[1])
    validate(spec)  # raises with the reason when the document is not valid OpenAPI
    if len(argv) == 2:
        print(f"{argv[1]}: valid OpenAPI {spec['openapi']}")
        return 0
    api = OpenAPI.from_dict(spec)
    with open(argv[2], encoding="utf-8") as f:
        samples = json.load(f)
    problems = 0
    for s in samples:
        request = MockRequest("http://127.0.0.1:3000", s["method"].lower(), s["path"].split("?")[0])
        content_type = s.get("contentType") or "application/json"
        response = MockResponse(s["body"].encode("utf-8"), status_code=s["status"], content_type=content_type)
        try:
            api.validate_response(request, response)
        except Exception as err:  # every validation error names its cause
            problems += 1
            causes, cause = [], err
            while cause is not None:
                causes.extend(e.message for e in getattr(cause, "schema_errors", None) or ())
                cause = cause.__cause__
            why = "; ".join(dict.fromkeys(causes)) or str(err)
            print(f"{s['method']} {s['path']} -> {s['status']}: {why}\n    body: {s['body'][:400]}")
    print(f"{len(samples)} sample answers checked against {argv[1]}: {problems} not as documented")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
