"""Command line of the deployment helpers: `python -m infra.tools COMMAND --help`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import (
    chalice_state,
    combined,
    delivery,
    event_source,
    leftovers,
    rotate_secret,
    site,
    stage_config,
)


def _boto3():
    # Imported late so `--help` and the pure commands work without boto3.
    import boto3

    return boto3


def credentials(args: argparse.Namespace) -> int:
    """Say which identity deploys, or why there is none."""
    boto3 = _boto3()
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        identity = boto3.client("sts", region_name=args.region).get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        print(
            f"No usable AWS credentials ({error}). Configure them with `aws configure`,"
            " `aws sso login` or AWS_PROFILE / AWS_ACCESS_KEY_ID.",
            file=sys.stderr,
        )
        return 1
    print(f"{identity['Arn']} (account {identity['Account']})")
    return 0


def write_stage_config(args: argparse.Namespace) -> int:
    """Write .chalice/config.json's stage and its policy file from Terraform outputs."""
    outputs = json.loads(Path(args.outputs).read_text())
    deployed = chalice_state.read(args.stage)
    values = stage_config.StageValues.from_terraform_outputs(
        args.stage, outputs, deployed.websocket_api_id if deployed else ""
    )
    print("changed" if stage_config.write(values) else "unchanged")
    return 0


def deployed(args: argparse.Namespace) -> int:
    """Print one value chalice deploy recorded for the stage (empty before the first)."""
    state = chalice_state.read(args.stage)
    print(getattr(state, args.field) if state else "")
    return 0


def stream_mapping(args: argparse.Namespace) -> int:
    """Turn on ReportBatchItemFailures (and friends) on the stream handler's mapping."""
    client = _boto3().client("lambda", region_name=args.region)
    changed = event_source.configure(client, args.function, args.stream_arn)
    print(f"updated {', '.join(changed)}" if changed else "unchanged")
    return 0


def delivery_destination(args: argparse.Namespace) -> int:
    """Keep the delivery function's failed asynchronous invocations in the queue."""
    client = _boto3().client("lambda", region_name=args.region)
    print("updated" if delivery.configure(client, args.function, args.queue_arn) else "unchanged")
    return 0


def upload_site(args: argparse.Namespace) -> int:
    """Upload frontend/dist (and config.json once the API URLs exist)."""
    s3 = _boto3().client("s3", region_name=args.region)
    files = site.read_dist(Path(args.dist))
    keep: frozenset[str] = frozenset()
    if args.rest_api_url and args.websocket_api_url:
        files[site.CONFIG_KEY] = site.site_config(args.rest_api_url, args.websocket_api_url)
    else:
        keep = frozenset({site.CONFIG_KEY})  # first deploy: written after chalice deploy
    report = site.upload(s3, args.bucket, files, keep)
    print(
        f"{len(report['uploaded'])} uploaded, {len(report['unchanged'])} unchanged,"
        f" {len(report['deleted'])} deleted"
    )
    return 0


def empty_bucket(args: argparse.Namespace) -> int:
    """Delete every object of the site bucket."""
    count = site.empty(_boto3().client("s3", region_name=args.region), args.bucket)
    print(f"{count} objects deleted from {args.bucket}")
    return 0


def remove_leftovers(args: argparse.Namespace) -> int:
    """Delete what a failed chalice deploy left (it records nothing for chalice delete)."""
    boto3 = _boto3()
    removed = leftovers.remove(
        boto3.client("lambda", region_name=args.region),
        boto3.client("iam", region_name=args.region),
        args.stage,
    )
    print("\n".join(f"deleted {item}" for item in removed) or "nothing left behind")
    return 0


def build_combined(args: argparse.Namespace) -> int:
    """Write infra/combined/<stage>/ for `./deploy.sh --terraform`."""
    print(combined.build(args.stage, args.region))
    return 0


def rotate_signing_key(args: argparse.Namespace) -> int:
    """Make the next due phase of a JWT signing key rotation (no valid token is refused)."""
    # infra/secret.tf names the parameter after the stage alone.
    parameter = stage_config.StageValues.placeholder(args.stage).jwt_secret_parameter
    ssm = _boto3().client("ssm", region_name=args.region)
    print(rotate_secret.rotate(ssm, parameter, args.token_lifetime))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.tools", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, handler, *options):
        sub = commands.add_parser(name, help=handler.__doc__, description=handler.__doc__)
        sub.set_defaults(handler=handler)
        for flags, kwargs in options:
            sub.add_argument(*flags, **kwargs)
        return sub

    stage = (["--stage"], {"default": "dev"})
    region = (["--region"], {"default": None})
    command("credentials", credentials, region)
    command("stage-config", write_stage_config, stage, (["--outputs"], {"required": True}))
    command(
        "deployed",
        deployed,
        stage,
        (["field"], {"choices": ["rest_api_url", "websocket_api_url", "websocket_api_id"]}),
    )
    command(
        "stream-mapping",
        stream_mapping,
        region,
        (["--function"], {"required": True}),
        (["--stream-arn"], {"required": True}),
    )
    command(
        "delivery-destination",
        delivery_destination,
        region,
        (["--function"], {"required": True}),
        (["--queue-arn"], {"required": True}),
    )
    command(
        "upload-site",
        upload_site,
        region,
        (["--bucket"], {"required": True}),
        (["--dist"], {"required": True}),
        (["--rest-api-url"], {"default": ""}),
        (["--websocket-api-url"], {"default": ""}),
    )
    command("empty-bucket", empty_bucket, region, (["--bucket"], {"required": True}))
    command("leftovers", remove_leftovers, stage, region)
    command("combined", build_combined, stage, (["--region"], {"default": "us-east-1"}))
    command(
        "rotate-secret",
        rotate_signing_key,
        stage,
        region,
        (["--token-lifetime"], {"type": int, "default": rotate_secret.TOKEN_LIFETIME_SECONDS}),
    )

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, LookupError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        # AWS refusals (botocore's ClientError and friends): the message, not a traceback.
        if type(error).__module__.startswith("botocore"):
            print(f"error: AWS refused {args.command}: {error}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
