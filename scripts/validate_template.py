#!/usr/bin/env python3
"""Validates infra/template.yaml offline, in two passes, and fails loudly:

1. cfn-lint on the SAM template itself (SAM resource schemas, plain CloudFormation);
2. the SAM transform, run locally with aws-sam-translator (no AWS calls: a fixed region,
   no credentials, a stub instead of IAM's list of managed policies), then cfn-lint on the
   CloudFormation it produces. This pass checks what the first can't: the properties SAM
   passes through (event source mappings, routes, permissions, roles).

Usage: scripts/validate_template.py [template] (run with the test venv's python, where
cfn-lint and aws-sam-translator are installed; scripts/test.sh does).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Regions cfn-lint checks resource and property availability in: the default deploy region
# (samconfig.toml) and us-east-1.
REGIONS = ["sa-east-1", "us-east-1"]
# Values for the parameters without a default (the transform resolves some of them).
SAMPLE_PARAMETERS = {
    "StackProjectId": "00000000-0000-4000-8000-000000000000",
    "VpcId": "vpc-0123456789abcdef0",
    "GatewaySubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
}


def fail(message: str) -> None:
    print(f"validate_template: {message}", file=sys.stderr)
    sys.exit(1)


def cfn_lint(path: Path, what: str) -> None:
    cli = Path(sys.executable).parent / "cfn-lint"
    if not cli.exists():
        fail(f"cfn-lint is not installed next to {sys.executable}")
    result = subprocess.run(
        [str(cli), "--regions", *REGIONS, "--", str(path)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        print(result.stdout, end="", file=sys.stderr)
        print(result.stderr, end="", file=sys.stderr)
        fail(f"cfn-lint found problems in {what} (exit {result.returncode})")
    print(f"  cfn-lint: {what}: ok")


class StubManagedPolicies:
    """Stands in for samtranslator's ManagedPolicyLoader, which would list IAM's
    AWS-managed policies. The template names none by short name (roles get policy ARNs or
    the stack's own policies), so the map only has to exist."""

    def load(self) -> dict[str, str]:
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
        }


def translate(template_path: Path) -> dict:
    # Offline: a region for ARNs and pseudo parameters, no credentials, no metadata service.
    os.environ["AWS_DEFAULT_REGION"] = REGIONS[0]
    os.environ["AWS_REGION"] = REGIONS[0]
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ.pop("AWS_PROFILE", None)

    from cfnlint.decode import cfn_yaml
    from samtranslator.translator.transform import transform

    # cfn-lint's loader turns the short forms (!Ref, !Sub, ...) into Fn:: mappings; a JSON
    # round trip leaves plain dicts and strings.
    sam = json.loads(json.dumps(cfn_yaml.load(str(template_path))))
    functions = 0
    for name, resource in sam.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            # `sam build`/`sam package` replace the local CodeUri with the uploaded zip.
            resource["Properties"]["CodeUri"] = f"s3://platefull-validate/{name}.zip"
            functions += 1
    if functions == 0:
        fail("the template has no AWS::Serverless::Function")
    try:
        return transform(copy.deepcopy(sam), dict(SAMPLE_PARAMETERS), StubManagedPolicies())
    except Exception as err:  # the translator reports template errors as exceptions
        causes = getattr(err, "causes", None) or []
        details = "\n".join(f"  - {c.message if hasattr(c, 'message') else c}" for c in causes)
        fail(f"the SAM transform failed: {err}\n{details}")
        raise


def main() -> None:
    template = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "infra" / "template.yaml"
    if not template.is_file():
        fail(f"{template}: no such file")
    rel = template.relative_to(ROOT) if template.is_relative_to(ROOT) else template
    print(f"==> validating {rel}")
    cfn_lint(template, f"{rel} (SAM)")
    output = translate(template)
    resources = output.get("Resources", {})
    if any(r.get("Type", "").startswith("AWS::Serverless::") for r in resources.values()):
        fail("the transform left AWS::Serverless resources behind")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "template.transformed.json"
        out.write_text(json.dumps(output, indent=1))
        cfn_lint(out, f"{rel} after the SAM transform ({len(resources)} resources)")


if __name__ == "__main__":
    main()
