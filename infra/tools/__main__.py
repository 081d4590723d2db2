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
    replay,
    rotate_secret,
    site,
    stage_config,
    throttles,
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


def _outputs(path: str) -> dict:
    """`terraform output -json`, name → value."""
    return {name: output["value"] for name, output in json.loads(Path(path).read_text()).items()}


def write_stage_config(args: argparse.Namespace) -> int:
    """Write .chalice/config.json's stage and its policy files from Terraform outputs."""
    outputs = json.loads(Path(args.outputs).read_text())
    deployed = chalice_state.read(args.stage)
    values = stage_config.StageValues.from_terraform_outputs(
        args.stage, outputs, deployed.websocket_api_id if deployed else ""
    )
    print("changed" if stage_config.write(values) else "unchanged")
    return 0


def stream_environment(args: argparse.Namespace) -> int:
    """Print NAME=ARN for each stream (tables.json's stream_arn_env), one a line."""
    outputs = json.loads(Path(args.outputs).read_text())
    values = stage_config.StageValues.from_terraform_outputs(args.stage, outputs)
    for name, arn in stage_config.stream_environment(values).items():
        print(f"{name}={arn}")
    return 0


def deployed(args: argparse.Namespace) -> int:
    """Print one value chalice deploy recorded for the stage (empty before the first)."""
    state = chalice_state.read(args.stage)
    if args.field == "api_origins":  # a Terraform list, for infra/'s api_origins
        print(json.dumps(state.api_origins() if state else []))
    else:
        print(getattr(state, args.field) if state else "")
    return 0


def combined_api_origins(args: argparse.Namespace) -> int:
    """Print the API origins a `--terraform` state holds (a Terraform list; [] before)."""
    outputs = _outputs(args.outputs) if Path(args.outputs).stat().st_size else {}
    urls = (outputs.get("EndpointURL", ""), outputs.get("WebsocketConnectEndpointURL", ""))
    print(json.dumps(chalice_state.api_origins(*urls)))
    return 0


def stream_mappings(args: argparse.Namespace) -> int:
    """Turn on ReportBatchItemFailures (and friends) on every stream handler's mapping."""
    client = _boto3().client("lambda", region_name=args.region)
    outputs = _outputs(args.outputs)
    streams = outputs["stream_arns"]
    destinations = outputs.get("failed_stream_batches_queue_arns", {})
    state = chalice_state.read(args.stage)
    for function, table in stage_config.stream_sources().items():
        if state is None or function not in state.functions:
            print(f"{function}: not in this app (yet)")
            continue
        name = stage_config.lambda_name(args.stage, function)
        changed = event_source.configure(
            client, name, streams[table], destinations.get(function)
        )
        print(f"{function} ← {table} stream: {'updated' if changed else 'unchanged'}")
    return 0


def apply_throttles(args: argparse.Namespace) -> int:
    """Rate and burst limits on the REST stage and the WebSocket stage's default route."""
    boto3 = _boto3()
    limits = _outputs(args.outputs)["throttles"]
    state = chalice_state.read(args.stage)
    if state is None:
        raise LookupError(f"nothing deployed for stage {args.stage}: run chalice deploy first")
    rest = throttles.rest_stage(
        boto3.client("apigateway", region_name=args.region),
        state.rest_api_id,
        stage_config.WEBSOCKET_STAGE,
        float(limits["rest_rate_limit"]),
        int(limits["rest_burst_limit"]),
    )
    websocket = throttles.websocket_stage(
        boto3.client("apigatewayv2", region_name=args.region),
        state.websocket_api_id,
        stage_config.WEBSOCKET_STAGE,
        float(limits["websocket_rate_limit"]),
        int(limits["websocket_burst_limit"]),
    )
    print(
        f"REST {limits['rest_rate_limit']}/s burst {limits['rest_burst_limit']}"
        f" ({'updated' if rest else 'unchanged'}); WebSocket {limits['websocket_rate_limit']}/s"
        f" burst {limits['websocket_burst_limit']} ({'updated' if websocket else 'unchanged'})"
    )
    web_acl = _outputs(args.outputs).get("waf_web_acl_arn")
    if web_acl:  # per-source-IP limits (infra/waf.tf): WAF attaches to the REST stage only
        stage_arn = throttles.rest_stage_arn(
            args.region, state.rest_api_id, stage_config.WEBSOCKET_STAGE
        )
        changed = throttles.rest_web_acl(
            boto3.client("wafv2", region_name=args.region), web_acl, stage_arn
        )
        print(f"REST stage behind web ACL {web_acl.rsplit('/', 2)[-2]}"
              f" ({'updated' if changed else 'unchanged'})")
    return 0


def available_concurrency(args: argparse.Namespace) -> int:
    """Print how much concurrency the account could reserve for the REST function."""
    client = _boto3().client("lambda", region_name=args.region)
    name = stage_config.lambda_name(args.stage, stage_config.REST_FUNCTION)
    print(throttles.available_concurrency(client, name))
    return 0


def delivery_destination(args: argparse.Namespace) -> int:
    """Keep the delivery function's failed asynchronous invocations in the queue."""
    client = _boto3().client("lambda", region_name=args.region)
    print("updated" if delivery.configure(client, args.function, args.queue_arn) else "unchanged")
    return 0


def replay_failures(args: argparse.Namespace) -> int:
    """Re-drive what the on-failure queues kept (stream batches, big-room pages), once each."""
    boto3 = _boto3()
    outputs = _outputs(args.outputs)
    queues = [*outputs.get("failed_stream_batches_queue_arns", {}).values()]
    if outputs.get("failed_deliveries_queue_arn"):
        queues.append(outputs["failed_deliveries_queue_arn"])
    sqs = boto3.client("sqs", region_name=args.region)
    report = replay.replay_queues(
        sqs,
        boto3.client("dynamodbstreams", region_name=args.region),
        boto3.client("lambda", region_name=args.region),
        [replay.queue_url(sqs, arn) for arn in queues],
        dry_run=args.dry_run,
    )
    print(report.summary())
    return 0 if not report.kept else 1


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
    if args.distribution_id:
        cloudfront = _boto3().client("cloudfront", region_name=args.region)
        invalidation = site.invalidate(cloudfront, args.distribution_id, report["uploaded"])
        print(
            f"CloudFront invalidation {invalidation} completed"
            if invalidation
            else "no CloudFront invalidation needed"
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
    outputs = (["--outputs"], {"required": True, "help": "`terraform output -json` saved"})
    command("stage-config", write_stage_config, stage, outputs)
    command("stream-environment", stream_environment, stage, outputs)
    fields = ["rest_api_url", "websocket_api_url", "websocket_api_id", "rest_api_id", "api_origins"]
    command("deployed", deployed, stage, (["field"], {"choices": fields}))
    command("api-origins", combined_api_origins, outputs)
    command("stream-mappings", stream_mappings, stage, region, outputs)
    command("throttles", apply_throttles, stage, region, outputs)
    command("available-concurrency", available_concurrency, stage, region)
    command(
        "replay",
        replay_failures,
        region,
        outputs,
        (["--dry-run"], {"action": "store_true", "help": "report what would be re-driven only"}),
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
        (["--distribution-id"], {"default": ""}),
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
