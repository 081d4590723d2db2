"""Events as AWS documents them, trimmed to their structure (values are examples).

Sources: API Gateway developer guide, "WebSocket API integration request" and
the $connect/$disconnect route pages (the event a Lambda proxy integration
receives); Lambda developer guide, "Using AWS Lambda with Amazon DynamoDB"
(the DynamoDB Streams event). Used only as the reference the local runtime's
events are compared with (same_shape); tests never build their events from these.
"""

from __future__ import annotations

from typing import Any

WEBSOCKET_CONNECT = {
    "headers": {
        "Host": "abcdef123.execute-api.us-east-1.amazonaws.com",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Key": "mNRIjuK+dWTWDS8VCYeuyg==",
        "Sec-WebSocket-Version": "13",
        "X-Forwarded-For": "192.0.2.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    },
    "multiValueHeaders": {
        "Host": ["abcdef123.execute-api.us-east-1.amazonaws.com"],
        "Sec-WebSocket-Version": ["13"],
    },
    "queryStringParameters": {"token": "abc"},
    "multiValueQueryStringParameters": {"token": ["abc"]},
    "requestContext": {
        "routeKey": "$connect",
        "eventType": "CONNECT",
        "extendedRequestId": "WyHPAHbQBcwFWMw=",
        "requestTime": "19/Mar/2019:09:39:18 +0000",
        "messageDirection": "IN",
        "stage": "dev",
        "connectedAt": 1552988358417,
        "requestTimeEpoch": 1552988358425,
        "identity": {"sourceIp": "192.0.2.1", "userAgent": "wscat"},
        "requestId": "WyHPAHbQBcwFWMw=",
        "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
        "connectionId": "WyHPAfymhcwCENw=",
        "apiId": "abcdef123",
    },
    "isBase64Encoded": False,
}

WEBSOCKET_MESSAGE = {
    "requestContext": {
        "routeKey": "$default",
        "messageId": "WyHPbfE4BcwCENw=",
        "eventType": "MESSAGE",
        "extendedRequestId": "WyHPbHJ0BcwFWKw=",
        "requestTime": "19/Mar/2019:09:39:21 +0000",
        "messageDirection": "IN",
        "stage": "dev",
        "connectedAt": 1552988358417,
        "requestTimeEpoch": 1552988361284,
        "identity": {"sourceIp": "192.0.2.1", "userAgent": "wscat"},
        "requestId": "WyHPbHJ0BcwFWKw=",
        "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
        "connectionId": "WyHPAfymhcwCENw=",
        "apiId": "abcdef123",
    },
    "body": '{"action": "ping"}',
    "isBase64Encoded": False,
}

WEBSOCKET_DISCONNECT = {
    "headers": {
        "Host": "abcdef123.execute-api.us-east-1.amazonaws.com",
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    },
    "multiValueHeaders": {
        "Host": ["abcdef123.execute-api.us-east-1.amazonaws.com"],
        "x-api-key": [""],
        "X-Forwarded-For": [""],
        "x-restapi": [""],
    },
    "requestContext": {
        "routeKey": "$disconnect",
        "disconnectStatusCode": 1005,
        "eventType": "DISCONNECT",
        "extendedRequestId": "WyHQ1FrnBcwFTuQ=",
        "requestTime": "19/Mar/2019:09:40:12 +0000",
        "messageDirection": "IN",
        "disconnectReason": "Client-side close frame status not set",
        "stage": "dev",
        "connectedAt": 1552988358417,
        "requestTimeEpoch": 1552988412519,
        "identity": {"sourceIp": "192.0.2.1", "userAgent": "wscat"},
        "requestId": "WyHQ1FrnBcwFTuQ=",
        "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
        "connectionId": "WyHPAfymhcwCENw=",
        "apiId": "abcdef123",
    },
    "isBase64Encoded": False,
}

DYNAMODB_STREAM = {
    "Records": [
        {
            "eventID": "c4ca4238a0b923820dcc509a6f75849b",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1428537600,
                "Keys": {"Id": {"N": "101"}},
                "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}},
                "SequenceNumber": "4421584500000000017450439091",
                "SizeBytes": 26,
                "StreamViewType": "NEW_IMAGE",
            },
            "eventSourceARN": (
                "arn:aws:dynamodb:us-east-1:123456789012:table/ExampleTableWithStream/"
                "stream/2015-06-27T00:48:05.899"
            ),
        }
    ]
}


def same_shape(ours: Any, documented: Any, path: str = "event") -> list[str]:
    """Differences in keys and value types, recursively (values themselves may differ)."""
    if isinstance(documented, dict):
        if not isinstance(ours, dict):
            return [f"{path}: {type(ours).__name__}, documented dict"]
        problems = [f"{path}.{k}: missing" for k in documented.keys() - ours.keys()]
        problems += [f"{path}.{k}: not documented" for k in ours.keys() - documented.keys()]
        for key in documented.keys() & ours.keys():
            if key in ("headers", "multiValueHeaders"):  # header names vary by client
                continue
            problems += same_shape(ours[key], documented[key], f"{path}.{key}")
        return problems
    if type(ours) is not type(documented):
        return [f"{path}: {type(ours).__name__}, documented {type(documented).__name__}"]
    return []
