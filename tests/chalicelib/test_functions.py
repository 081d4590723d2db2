"""The deployed names of the app's functions, as Chalice names them and each finds the others."""

from __future__ import annotations

import pytest

from chalicelib.functions import sibling_function
from infra.tools import stage_config

FUNCTIONS = sorted(stage_config.PERMISSIONS)


@pytest.mark.parametrize("stage", ["dev", "prod", "pre-prod"])
@pytest.mark.parametrize("caller", FUNCTIONS)
@pytest.mark.parametrize("target", FUNCTIONS)
def test_each_deployed_function_finds_each_other_by_its_deployed_name(stage, caller, target):
    running = stage_config.lambda_name(stage, caller)
    assert sibling_function(running, target, caller) == stage_config.lambda_name(stage, target)


@pytest.mark.parametrize("caller", FUNCTIONS)
def test_locally_each_function_goes_by_its_python_name(caller):
    assert sibling_function(caller, "deliver_to_connections", caller) == "deliver_to_connections"


def test_the_rest_function_is_deployed_without_a_suffix():
    # Its name is the prefix itself: cutting at the last dash would lose the stage.
    running = "chalice-chat-dev"
    assert sibling_function(running, "deliver_to_connections", "api_handler") == (
        "chalice-chat-dev-deliver_to_connections"
    )
    assert sibling_function("chalice-chat-dev-on_new_messages", "deliver_to_connections") == (
        "chalice-chat-dev-deliver_to_connections"
    )
