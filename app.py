"""The Chalice app: routes and event handlers only; each body delegates to chalicelib."""

import gc

# The import makes what lives as long as the container (boto3, Chalice, the routes):
# no garbage to find, so no collections until lazy.imported() at the end.
gc.disable()

from chalice import Chalice  # noqa: E402

from chalicelib import (  # noqa: E402
    connections_api,
    fanout,
    lazy,
    observability,
    presence,
    rest,
    settings,
    websocket,
)

app = Chalice(app_name="chalice-chat")
app.experimental_feature_flags.update(["WEBSOCKETS"])
cors = rest.cors_config()


@app.middleware("all")
def observed(event, get_response):
    return observability.around(event, get_response)


@app.route("/signup", methods=["POST"], cors=cors)
def signup():
    return rest.signup(app.current_request)


@app.route("/login", methods=["POST"], cors=cors)
def login():
    return rest.login(app.current_request)


@app.route("/refresh", methods=["POST"], cors=cors)
def refresh():
    return rest.refresh(app.current_request, connections_api.client())


@app.route("/logout", methods=["POST"], cors=cors)
def logout():
    return rest.logout(app.current_request, connections_api.client())


@app.route("/health", methods=["GET"], cors=cors)
def health():
    return rest.health()


@app.route("/rooms", methods=["GET"], cors=cors)
def rooms():
    return rest.rooms_list(app.current_request)


@app.route("/rooms", methods=["POST"], cors=cors)
def create_room():
    return rest.create_room(app.current_request)


@app.route("/rooms/{room}/members/{username}", methods=["PUT", "DELETE"], cors=cors)
def room_member(room, username):
    return rest.member(app.current_request, connections_api.client(), room, username)


@app.route("/rooms/{room}/moderators/{username}", methods=["PUT", "DELETE"], cors=cors)
def room_moderator(room, username):
    return rest.moderator(app.current_request, room, username)


@app.route("/dms", methods=["POST"], cors=cors)
def direct_room():
    return rest.direct_room(app.current_request)


@app.route("/directory", methods=["GET"], cors=cors)
def directory():
    return rest.directory(app.current_request)


@app.route("/blocks/{username}", methods=["PUT", "DELETE"], cors=cors)
def block(username):
    return rest.block(app.current_request, username)


@app.route("/blocks", methods=["GET"], cors=cors)
def blocks():
    return rest.blocks(app.current_request)


@app.route("/reports", methods=["POST"], cors=cors)
def report():
    return rest.report(app.current_request)


@app.route("/reports", methods=["GET"], cors=cors)
def reports():
    return rest.reports(app.current_request)


@app.on_ws_connect()
def connect(event):
    return websocket.connect(event.to_dict())


@app.on_ws_message()
def message(event):
    connections = connections_api.client(event.domain_name, event.stage)
    websocket.handle_frame(connections, event.connection_id, event.body)


@app.on_ws_disconnect()
def disconnect(event):
    websocket.disconnect(event.connection_id)


@app.on_dynamodb_record(stream_arn=settings.get().messages_stream_arn, batch_size=100)
def on_new_messages(event):
    return fanout.deliver(connections_api.client(), event, event.context.function_name)


@app.lambda_function(name="deliver_to_connections")
def deliver_to_connections(event, context):
    fanout.deliver_to_connections(connections_api.client(), event, context.function_name)


@app.on_dynamodb_record(stream_arn=settings.get().connections_stream_arn, batch_size=100)
def on_connection_changes(event):
    return presence.on_connection_changes(
        connections_api.client(), event, event.context.function_name
    )


lazy.imported()  # last: what the import made is frozen, and the collector back on
