"""A moto 5.2.1 server with the emulator gaps that stop `chalice deploy` and deploy.sh filled.

Test-only: run as `python -m tests.infra.moto_launcher -H 127.0.0.1 -p PORT` (the
arguments of `moto_server`). Nothing here ships; deploy.sh and the tools run
unchanged against it, as they would against AWS. Each patch answers what AWS
answers for the call, no more, and names the gap it fills:

1. ImportRestApi / PutRestApi: moto reads only OpenAPI 3 and indexes
   `info.description` (KeyError → 500, and an orphan REST API per retry), while
   Chalice sends Swagger 2.0 without a description. The paths and their
   `x-amazon-apigateway-integration` blocks are the same in both versions.
2. Chalice's CORS OPTIONS methods are MOCK integrations without `uri` or
   `httpMethod`; moto's importer passes them on as missing arguments (TypeError → 500).
3. apigatewayv2 deployments are not implemented (404: Chalice creates one,
   Terraform creates, reads and deletes one); UpdateStage neither (deploy.sh
   sets the WebSocket default route's throttles with it).
4. lambda GetAccountSettings is not implemented; answered from moto's own
   MOTO_LAMBDA_CONCURRENCY_QUOTA model (default 1000) minus the reservations.
5. A CloudFront distribution is "InProgress" for several reads (moto's state
   manager) and Terraform waits for "Deployed" before deleting one: set to
   deploy at once, as moto's own API allows.

The version is checked so an upgrade fails here, loudly, instead of patching
code that moved.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Any

import moto
from moto.apigateway.models import APIGatewayBackend
from moto.apigatewayv2 import urls as apigatewayv2_urls
from moto.apigatewayv2.responses import ApiGatewayV2Response
from moto.awslambda import urls as lambda_urls
from moto.awslambda.responses import LambdaResponse

WRITTEN_FOR = "5.2.1"
DEFAULT_CONCURRENCY_QUOTA = 1000


def _as_openapi3(api_doc: dict[str, Any]) -> dict[str, Any]:
    if "swagger" not in api_doc:
        return api_doc
    converted = {key: value for key, value in api_doc.items() if key != "swagger"}
    converted["openapi"] = "3.0.1"
    converted["info"] = {"description": "", **api_doc.get("info", {})}
    return converted


def _patch_rest_api_import() -> None:
    import_rest_api = APIGatewayBackend.import_rest_api
    put_rest_api = APIGatewayBackend.put_rest_api
    build_integration_args = APIGatewayBackend._build_integration_args

    def importing(self: APIGatewayBackend, api_doc: dict[str, Any], fail_on_warnings: bool):
        return import_rest_api(self, _as_openapi3(api_doc), fail_on_warnings=False)

    def putting(self: APIGatewayBackend, function_id: str, api_doc: dict[str, Any], **kwargs):
        kwargs["fail_on_warnings"] = False
        return put_rest_api(self, function_id, _as_openapi3(api_doc), **kwargs)

    def integration_args(self: APIGatewayBackend, integration: dict[str, Any]) -> dict[str, Any]:
        args = build_integration_args(self, integration)
        if args["integration_type"] and args["integration_type"].upper() == "MOCK":
            args["uri"] = args["uri"] or ""
            args["integration_method"] = args["integration_method"] or ""
        return args

    APIGatewayBackend.import_rest_api = importing
    APIGatewayBackend.put_rest_api = putting
    APIGatewayBackend._build_integration_args = integration_args


def _patch_websocket_deployments_and_stages() -> None:
    deployments = "{0}/v2/apis/(?P<api_id>[^/]+)/deployments"
    apigatewayv2_urls.url_paths[deployments + "$"] = ApiGatewayV2Response.dispatch
    apigatewayv2_urls.url_paths[deployments + "/(?P<deployment_id>[^/]+)$"] = (
        ApiGatewayV2Response.dispatch
    )

    def stored(self: ApiGatewayV2Response) -> dict[str, dict[str, Any]]:
        # Kept on the backend, so moto's reset forgets them with everything else.
        backend = self.apigatewayv2_backend
        if not hasattr(backend, "launcher_deployments"):
            backend.launcher_deployments = {}
        return backend.launcher_deployments

    def create_deployment(self: ApiGatewayV2Response):
        body = json.loads(self.body or "{}")
        api_id = self.path.split("/")[-2]
        self.apigatewayv2_backend.get_api(api_id)  # the API must exist, as on AWS
        deployment = {
            "deploymentId": uuid.uuid4().hex[:10],
            "deploymentStatus": "DEPLOYED",
            "description": body.get("description", ""),
            "createdDate": "2026-01-01T00:00:00Z",
        }
        stored(self)[f"{api_id}/{deployment['deploymentId']}"] = deployment
        return 201, {}, json.dumps(deployment)

    def get_deployment(self: ApiGatewayV2Response):
        key = "/".join(self.path.split("/")[-3::2])
        if key not in stored(self):
            missing = {"x-amzn-ErrorType": "NotFoundException"}
            return 404, missing, json.dumps({"message": "Invalid Deployment identifier specified"})
        return 200, {}, json.dumps(stored(self)[key])

    def delete_deployment(self: ApiGatewayV2Response):
        stored(self).pop("/".join(self.path.split("/")[-3::2]), None)
        return 204, {}, ""

    def update_stage(self: ApiGatewayV2Response):
        api_id = self.path.split("/")[-3]
        stage = self.apigatewayv2_backend.get_stage(api_id, self.path.split("/")[-1])
        body = json.loads(self.body or "{}")
        if "defaultRouteSettings" in body:
            stage.default_route_settings = {
                **stage.default_route_settings,
                **body["defaultRouteSettings"],
            }
        for key in ("routeSettings", "stageVariables"):
            if key in body:
                setattr(stage, "route_settings" if key == "routeSettings" else "stage_variables",
                        body[key])  # fmt: skip
        if "description" in body:
            stage.description = body["description"]
        return 200, {}, json.dumps(stage.to_json())

    ApiGatewayV2Response.create_deployment = create_deployment
    ApiGatewayV2Response.get_deployment = get_deployment
    ApiGatewayV2Response.delete_deployment = delete_deployment
    ApiGatewayV2Response.update_stage = update_stage


def _patch_lambda_account_settings() -> None:
    lambda_urls.url_paths[r"{0}/(?P<api_version>[^/]+)/account-settings/?$"] = (
        LambdaResponse.dispatch
    )

    def get_account_settings(self: LambdaResponse):
        quota = int(os.environ.get("MOTO_LAMBDA_CONCURRENCY_QUOTA", DEFAULT_CONCURRENCY_QUOTA))
        reserved = sum(
            int(function.reserved_concurrency or 0) for function in self.backend.list_functions()
        )
        settings = {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": quota,
                "UnreservedConcurrentExecutions": quota - reserved,
            },
            "AccountUsage": {
                "TotalCodeSize": 0,
                "FunctionCount": len(self.backend.list_functions()),
            },
        }
        return 200, {}, json.dumps(settings)

    LambdaResponse.get_account_settings = get_account_settings


def _deploy_distributions_at_once() -> None:
    from moto.moto_api import state_manager

    state_manager.set_transition(
        model_name="cloudfront::distribution", transition={"progression": "immediate"}
    )


def patch() -> None:
    """Fill the gaps (idempotent per process)."""
    if moto.__version__ != WRITTEN_FOR:
        raise RuntimeError(
            f"tests/infra/moto_launcher.py was written for moto {WRITTEN_FOR}, found"
            f" {moto.__version__}: check each gap it fills is still there"
        )
    _patch_rest_api_import()
    _patch_websocket_deployments_and_stages()
    _patch_lambda_account_settings()
    _deploy_distributions_at_once()


def main(argv: list[str]) -> None:
    from moto.server import main as moto_server

    patch()
    moto_server(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
