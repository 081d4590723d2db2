"""deploy.sh end to end against a moto server, in a copy of the repo.

The moto server comes from tests/infra/moto_launcher.py, which fills the gaps
moto 5.2.1 has for `chalice deploy` (Swagger 2.0 import, CORS mocks, WebSocket
deployments) and for deploy.sh (UpdateStage, GetAccountSettings). With them
every step runs: Terraform, the site upload, chalice deploy twice (the second
with the WebSocket API's id), the throttles, the stream mapping's settings, the
CSP's API origins, config.json and the CloudFront invalidation. One deployed
stage is shared by the checks; then a second run changes nothing.

cleanup.sh (and deploying again after it) is test_deploy_cleanup.py, and
`./deploy.sh --terraform` test_deploy_terraform.py: each its own module, so its
own moto server and stage, on whichever xdist worker is free (tests/conftest.py
hands the three out first). Most of their minutes are the AWS provider's
fixed waits, which no emulator can shorten (tests/README.md): a CloudFront
distribution is disabled and deleted in 45 s at best, an SQS queue is read
back six times 5 s apart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zipfile
from pathlib import Path

import pytest

from chalicelib.connections_api import Delivery
from infra.tools import chalice_state, event_source, packaging, site, stage_config

from .conftest import Moto, deploy, run

# A script run may take minutes on a busy machine: run()'s own limit, not pytest-timeout's 300 s.
pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

STAGE = "dev"
TABLES = stage_config.TABLES


@pytest.fixture(scope="module")
def deployed(repo: Path, env: dict[str, str]):
    """One `./deploy.sh --yes --skip-build` run: every check below shares its stage."""
    return deploy(repo, env)


@pytest.fixture(scope="module")
def outputs(deployed, repo: Path, env: dict[str, str], terraform: str) -> dict:
    result = run([terraform, "-chdir=infra", "output", "-json"], env, repo)
    return {name: output["value"] for name, output in json.loads(result.stdout).items()}


@pytest.fixture(scope="module")
def state(deployed, repo: Path) -> chalice_state.Deployed:
    recorded = chalice_state.read(STAGE, repo / ".chalice")
    assert recorded is not None
    return recorded


def test_deploy_runs_every_step_and_prints_the_https_url(deployed, outputs: dict) -> None:
    for number in range(1, 12):
        assert f"[{number}/11]" in deployed.stdout
    assert "WebSocket API id recorded in .chalice/config.json" in deployed.stdout
    website = re.search(r"Website: +(\S+)", deployed.stdout).group(1)
    assert website == outputs["website_url"] == outputs["site_origin"]
    assert re.fullmatch(r"https://[a-z0-9]+\.cloudfront\.net", website)


def test_tables_follow_tables_json(moto: Moto, outputs: dict) -> None:
    dynamodb = moto.client("dynamodb")
    for logical, spec in TABLES.items():
        name = outputs["table_names"][logical]
        assert name == f"chalice-chat-{STAGE}-{logical}"
        table = dynamodb.describe_table(TableName=name)["Table"]
        keys = {key["KeyType"]: key["AttributeName"] for key in table["KeySchema"]}
        assert keys["HASH"] == spec["hash_key"]
        assert keys.get("RANGE") == spec.get("range_key")
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["Status"] == "ENABLED"
        backups = dynamodb.describe_continuous_backups(TableName=name)
        pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
        indexes = {
            index["IndexName"]: index["Projection"]
            for index in table.get("GlobalSecondaryIndexes", [])
        }
        for index in spec.get("global_secondary_indexes", []):
            projection = indexes.pop(index["name"])
            assert projection["ProjectionType"] == index["projection"]
            # A projection's attributes are a set: Terraform and DynamoDB keep their own order.
            assert sorted(projection.get("NonKeyAttributes", [])) == sorted(
                index.get("non_key_attributes", [])
            )
        assert indexes == {}
        local = {index["IndexName"]: index for index in table.get("LocalSecondaryIndexes", [])}
        for index in spec.get("local_secondary_indexes", []):
            schema = local.pop(index["name"])["KeySchema"]
            keys = {key["KeyType"]: key["AttributeName"] for key in schema}
            assert keys == {"HASH": spec["hash_key"], "RANGE": index["range_key"]}
        assert local == {}
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if "ttl_attribute" in spec:
            assert ttl["TimeToLiveStatus"] == "ENABLED"
            assert ttl["AttributeName"] == spec["ttl_attribute"]
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"
        stream = table.get("StreamSpecification", {"StreamEnabled": False})
        if "stream_view_type" in spec:
            assert stream["StreamViewType"] == spec["stream_view_type"]
            assert table["LatestStreamArn"] == outputs["stream_arns"][logical]
        else:
            assert not stream["StreamEnabled"]
            assert logical not in outputs["stream_arns"]


def test_site_bucket_is_private_and_read_only_by_the_distribution(
    moto: Moto, outputs: dict
) -> None:
    s3 = moto.client("s3")
    bucket = outputs["site_bucket"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchWebsiteConfiguration"):
        s3.get_bucket_website(Bucket=bucket)
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == f"arn:aws:s3:::{bucket}/*"
    distribution = f"arn:aws:cloudfront::123456789012:distribution/{outputs['distribution_id']}"
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceArn": distribution}}


def test_distribution_serves_the_bucket_over_https_only(moto: Moto, outputs: dict) -> None:
    cloudfront = moto.client("cloudfront")
    config = cloudfront.get_distribution_config(Id=outputs["distribution_id"])["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    (origin,) = config["Origins"]["Items"]
    assert origin["DomainName"].startswith(outputs["site_bucket"] + ".s3.")
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"].get("Items", [])]
    assert {b["ViewerProtocolPolicy"] for b in behaviours} == {"redirect-to-https"}
    assert all(b["Compress"] for b in behaviours)
    uncached = {b["PathPattern"] for b in config["CacheBehaviors"]["Items"]}
    assert uncached == {"/index.html", "/config.json"}
    # moto answers the distribution without the origin's OAC id: check the OAC itself.
    (control,) = cloudfront.list_origin_access_controls()["OriginAccessControlList"]["Items"]
    assert (control["SigningBehavior"], control["SigningProtocol"]) == ("always", "sigv4")
    assert control["OriginAccessControlOriginType"] == "s3"


def test_content_security_policy_allows_the_site_and_its_apis_only(
    outputs: dict, state: chalice_state.Deployed
) -> None:
    policy = dict(
        directive.split(" ", 1) for directive in outputs["content_security_policy"].split("; ")
    )
    assert policy["default-src"] == "'self'"
    assert policy["connect-src"].split() == ["'self'", *state.api_origins()]
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"


def test_site_objects_carry_content_types_and_cache_headers(moto: Moto, outputs: dict) -> None:
    s3 = moto.client("s3")
    bucket = outputs["site_bucket"]
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {
        "index.html",
        "config.json",
        "assets/index-3f2a1b.js",
        "assets/index-9c8d7e.css",
        "favicon.svg",
    }
    expected = {
        "index.html": ("text/html; charset=utf-8", site.NO_CACHE),
        "config.json": ("application/json", site.NO_CACHE),
        "assets/index-3f2a1b.js": ("text/javascript; charset=utf-8", site.IMMUTABLE),
        "assets/index-9c8d7e.css": ("text/css; charset=utf-8", site.IMMUTABLE),
        "favicon.svg": ("image/svg+xml", site.SHORT),
    }
    for key, (content_type, cache) in expected.items():
        head = s3.head_object(Bucket=bucket, Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (content_type, cache), key


def test_config_json_points_the_site_at_the_deployed_apis(
    moto: Moto, outputs: dict, state: chalice_state.Deployed
) -> None:
    body = moto.client("s3").get_object(Bucket=outputs["site_bucket"], Key="config.json")["Body"]
    assert json.loads(body.read()) == {
        "apiUrl": state.rest_api_url,
        "wsUrl": state.websocket_api_url,
    }
    assert re.fullmatch(
        r"https://\w+\.execute-api\.us-east-1\.amazonaws\.com/api", state.rest_api_url
    )
    assert re.fullmatch(
        r"wss://\w+\.execute-api\.us-east-1\.amazonaws\.com/api", state.websocket_api_url
    )


def test_entry_paths_were_invalidated(moto: Moto, outputs: dict) -> None:
    cloudfront = moto.client("cloudfront")
    listed = cloudfront.list_invalidations(DistributionId=outputs["distribution_id"])
    paths = set()
    for summary in listed["InvalidationList"]["Items"]:
        batch = cloudfront.get_invalidation(
            DistributionId=outputs["distribution_id"], Id=summary["Id"]
        )
        paths.update(batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"])
    assert paths == {"/", "/index.html", "/config.json"}


def test_jwt_secret_is_random_and_never_printed_or_stored_in_state(
    moto: Moto, outputs: dict, deployed, repo: Path
) -> None:
    parameter = moto.client("ssm").get_parameter(
        Name=outputs["jwt_secret_parameter"], WithDecryption=True
    )["Parameter"]
    assert parameter["Type"] == "SecureString"
    secret = parameter["Value"]
    assert re.fullmatch(r"[A-Za-z0-9]{64}", secret)
    assert secret not in deployed.stdout + deployed.stderr
    states = [path for path in (repo / "infra").rglob("terraform.tfstate*") if path.is_file()]
    assert states, "no Terraform state written"
    for state_file in states:
        assert secret not in state_file.read_text()


def test_stage_config_carries_the_applied_values(repo: Path, outputs: dict) -> None:
    config = json.loads((repo / ".chalice" / "config.json").read_text())["stages"][STAGE]
    env = config["environment_variables"]
    for logical, spec in TABLES.items():
        assert env[spec["name_env"]] == outputs["table_names"][logical]
        if "stream_arn_env" in spec:
            assert env[spec["stream_arn_env"]] == outputs["stream_arns"][logical]
    assert env["CORS_ORIGIN"] == outputs["site_origin"]
    secret = config["lambda_functions"]["api_handler"]["environment_variables"]
    assert secret["JWT_SECRET_PARAMETER"] == outputs["jwt_secret_parameter"]


def test_each_function_runs_with_its_own_role_and_policy(
    moto: Moto, repo: Path, state: chalice_state.Deployed
) -> None:
    iam, aws_lambda = moto.client("iam"), moto.client("lambda")
    core = {"api_handler", "websocket_connect", "websocket_message", "websocket_disconnect"}
    assert core | {"on_new_messages"} <= set(state.functions) <= set(stage_config.PERMISSIONS)
    roles = set()
    for function in state.functions:
        name = stage_config.lambda_name(STAGE, function)
        role = aws_lambda.get_function_configuration(FunctionName=name)["Role"].split("/")[-1]
        roles.add(role)
        (policy_name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        granted = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
        written = repo / ".chalice" / stage_config.policy_file_name(STAGE, function)
        assert granted == json.loads(written.read_text()), function
        resources = [r for s in granted["Statement"] for r in s["Resource"]]
        assert all(":123456789012:" in r for r in resources if not r.startswith("arn:aws:s3"))
        for resource in resources:
            if ":execute-api:" in resource:  # narrowed to this API from the first deploy on
                assert f":{state.websocket_api_id}/api/" in resource
    assert len(roles) == len(state.functions)


def test_functions_get_their_memory_and_the_rest_function_its_reserved_concurrency(
    moto: Moto, repo: Path, outputs: dict
) -> None:
    aws_lambda = moto.client("lambda")
    configured = json.loads((repo / ".chalice" / "config.json").read_text())["lambda_functions"]
    stream_handler = aws_lambda.get_function_configuration(
        FunctionName="chalice-chat-dev-on_new_messages"
    )
    assert stream_handler["MemorySize"] == configured["on_new_messages"]["lambda_memory_size"]
    assert "JWT_SECRET" not in json.dumps(stream_handler["Environment"]["Variables"])
    reserved = aws_lambda.get_function_concurrency(FunctionName="chalice-chat-dev")
    assert (
        reserved["ReservedConcurrentExecutions"] == outputs["throttles"]["api_reserved_concurrency"]
    )
    assert outputs["throttles"]["api_reserved_concurrency"] > 0


def test_every_function_runs_the_package_with_its_modules_compiled(
    moto: Moto, repo: Path, state: chalice_state.Deployed
) -> None:
    """What chalice deploy uploaded (by CodeSha256) holds a .pyc of every .py (packaging.py)."""
    built = {
        base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode(): path
        for path in (repo / ".chalice" / "deployments").glob("*.zip")
    }
    aws_lambda = moto.client("lambda")
    for function in state.functions:
        name = stage_config.lambda_name(STAGE, function)
        uploaded = built[aws_lambda.get_function_configuration(FunctionName=name)["CodeSha256"]]
        with zipfile.ZipFile(uploaded) as archive:
            names = set(archive.namelist())
        sources = {entry for entry in names if entry.endswith(".py")}
        assert {"app.py", "chalicelib/fanout.py"} <= sources, function
        assert {packaging.pyc_name(source) for source in sources} <= names, function


def test_stream_mapping_reports_batch_item_failures(moto: Moto, outputs: dict) -> None:
    aws_lambda = moto.client("lambda")
    arn = aws_lambda.get_function_configuration(FunctionName="chalice-chat-dev-on_new_messages")[
        "FunctionArn"
    ]
    (mapping,) = aws_lambda.list_event_source_mappings(FunctionName=arn)["EventSourceMappings"]
    assert mapping["EventSourceArn"] == outputs["stream_arns"]["messages"]
    for key, value in event_source.WANTED.items():
        assert mapping[key] == value, key
    # What Lambda gives up on is kept (a pointer into the stream) for `infra.tools replay`.
    destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == outputs["failed_stream_batches_queue_arns"]["on_new_messages"]


def test_failed_deliveries_go_to_the_queue(moto: Moto, outputs: dict) -> None:
    name = stage_config.lambda_name(STAGE, "deliver_to_connections")
    config = moto.client("lambda").get_function_event_invoke_config(FunctionName=name)
    assert (
        config["DestinationConfig"]["OnFailure"]["Destination"]
        == (outputs["failed_deliveries_queue_arn"])
    )


def test_every_function_is_watched_by_alarms_that_notify_the_topic(
    moto: Moto, outputs: dict
) -> None:
    alarms = {
        alarm["AlarmName"]: alarm
        for page in moto.client("cloudwatch").get_paginator("describe_alarms").paginate()
        for alarm in page["MetricAlarms"]
    }
    functions = [name for name in stage_config.PERMISSIONS if not name.startswith("_")]
    wanted = {f"{stage_config.lambda_name(STAGE, name)}-{kind}"
              for name in functions for kind in ("errors", "throttles")}
    wanted |= {f"{stage_config.lambda_name(STAGE, name)}-iterator-age"
               for name in ("on_new_messages", "on_connection_changes")}
    wanted |= {f"chalice-chat-{STAGE}-{name}" for name in (
        "rest-5xx", "failed-deliveries-queued", "connections-throttled",
        "failed-on_new_messages-queued", "failed-on_connection_changes-queued",
    )}
    assert wanted <= set(alarms)
    for name in wanted:
        assert alarms[name]["AlarmActions"] == [outputs["alarm_topic_arn"]], name
    topics = [t["TopicArn"] for t in moto.client("sns").list_topics()["Topics"]]
    assert outputs["alarm_topic_arn"] in topics


def test_the_stage_has_a_dashboard_of_its_functions(moto: Moto, outputs: dict) -> None:
    body = json.loads(
        moto.client("cloudwatch").get_dashboard(DashboardName=outputs["dashboard_name"])[
            "DashboardBody"
        ]
    )
    shown = json.dumps(body)
    for name in stage_config.PERMISSIONS:
        if not name.startswith("_"):
            assert stage_config.lambda_name(STAGE, name) in shown, name
    # The application rows: every metric the handlers write (docs/OPERATIONS.md), from
    # the stage's EMF namespace, with the dimensions they are written with.
    namespace = outputs["metrics_namespace"]
    shown_metrics = {
        tuple(line[1:-1] if isinstance(line[-1], dict) else line[1:])
        for widget in body["widgets"] if widget["type"] == "metric"
        for line in widget["properties"]["metrics"] if line[0] == namespace
    }
    wanted = {("MessagesStored",), ("StreamMessages",), ("FanoutLag",), ("ChangesServed",),
              ("ConnectionsOpened",), ("ConnectionsClosed",)}
    # Every outcome the handlers count (a LATE post is not sent, so not counted).
    wanted |= {("Deliveries", "outcome", outcome.value) for outcome in Delivery
               if outcome is not Delivery.LATE}
    wanted |= {("CatchUpRequests", "kind", kind) for kind in ("getChanges", "getMessages")}
    wanted |= {("Logins", "outcome", outcome) for outcome in ("ok", "refused", "throttled")}
    wanted |= {("ColdStart", "function", stage_config.lambda_name(STAGE, name))
               for name in stage_config.PERMISSIONS if not name.startswith("_")}
    assert wanted <= shown_metrics, wanted - shown_metrics
    ratio = [line[0] for widget in body["widgets"] if widget["type"] == "metric"
             for line in widget["properties"]["metrics"] if "expression" in line[0]]
    assert ratio and "/ messages" in ratio[0]["expression"]


def test_stages_are_throttled(moto: Moto, outputs: dict, state: chalice_state.Deployed) -> None:
    limits = outputs["throttles"]
    rest = moto.client("apigateway").get_stage(restApiId=state.rest_api_id, stageName="api")
    settings = rest["methodSettings"]["*/*"]
    assert settings["throttlingRateLimit"] == limits["rest_rate_limit"]
    assert settings["throttlingBurstLimit"] == limits["rest_burst_limit"]
    websocket = moto.client("apigatewayv2").get_stage(
        ApiId=state.websocket_api_id, StageName="api"
    )["DefaultRouteSettings"]
    assert websocket["ThrottlingRateLimit"] == limits["websocket_rate_limit"]
    assert websocket["ThrottlingBurstLimit"] == limits["websocket_burst_limit"]


def test_the_rest_stage_is_behind_the_per_ip_web_acl(
    moto: Moto, outputs: dict, state: chalice_state.Deployed
) -> None:
    stage_arn = f"arn:aws:apigateway:us-east-1::/restapis/{state.rest_api_id}/stages/api"
    acl = moto.client("wafv2").get_web_acl_for_resource(ResourceArn=stage_arn)["WebACL"]
    assert acl["ARN"] == outputs["waf_web_acl_arn"]


@pytest.fixture(scope="module")
def second_run(outputs: dict, state, repo: Path, env: dict[str, str]):
    """deploy.sh again, after every check of the first run."""
    return deploy(repo, env)


def test_second_run_changes_nothing(second_run) -> None:
    out = second_run.stdout
    assert "Terraform: no changes" in out
    assert "Apply complete!" not in out
    assert "0 uploaded, 4 unchanged, 0 deleted" in out  # before config.json is written
    assert "0 uploaded, 5 unchanged, 0 deleted" in out
    assert "no CloudFront invalidation needed" in out
    assert "chalice deploy skipped" in out
    assert "(unchanged); WebSocket" in out and out.count("(unchanged)") == 3
    assert "REST stage behind web ACL chalice-chat-dev-rest (unchanged)" in out
    assert "on_new_messages ← messages stream: unchanged" in out
    assert "Content-Security-Policy already allows" in out
    assert "unchanged" in out.split("Delivery function")[1].split("\n")[1]
