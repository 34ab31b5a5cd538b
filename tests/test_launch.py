"""launch(configuration_data=): servers from Perfect's dictionary; bad keys named."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from perfectws import ConfigurationError, HTTPHandler, HTTPServer, PerfectWSError

# Not public: the configuration-data parser's own contract, checked without
# binding ports (test_examples_perfect.py runs launch() with real servers).
from perfectws.config import servers_from_configuration


def ok(request: Any, response: Any) -> None:
    response.completed()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "servers: a non-empty list"),
        (
            {"servers": [{"port": 1}]},
            "servers[0].name: Server data did not contain a name",
        ),
        (
            {"servers": [{"name": "a", "port": "80"}]},
            "servers[0].port: Server data did not contain an integer port",
        ),
        (
            {"servers": [{"name": "a", "port": 1, "route": []}]},
            "servers[0].route: unknown key",
        ),
        (
            {
                "servers": [
                    {
                        "name": "a",
                        "port": 1,
                        "routes": [{"uri": "/", "handler": ok, "method": "fetch"}],
                    }
                ]
            },
            "servers[0].routes[0].method: unknown method 'fetch'",
        ),
        (
            {"servers": [{"name": "a", "port": 1, "routes": [{"uri": "/"}]}]},
            "servers[0].routes[0].handler: missing",
        ),
        (
            {
                "servers": [
                    {
                        "name": "a",
                        "port": 1,
                        "routes": [{"uri": "/", "handler": "nowhere.nothing"}],
                    }
                ]
            },
            "servers[0].routes[0].handler: could not find 'nowhere.nothing'",
        ),
        (
            {
                "servers": [
                    {
                        "name": "a",
                        "port": 1,
                        "routes": [
                            {
                                "uri": "/**",
                                "handler": HTTPHandler.static_files,
                                "documentRoot": 3,
                            }
                        ],
                    }
                ]
            },
            "servers[0].routes[0].documentRoot: the folder to serve",
        ),
        (
            {
                "servers": [
                    {
                        "name": "a",
                        "port": 1,
                        "filters": [{"type": "reply", "name": "x"}],
                    }
                ]
            },
            "servers[0].filters[0].type: 'request' or 'response'",
        ),
        (
            {
                "servers": [
                    {
                        "name": "a",
                        "port": 1,
                        "filters": [
                            {"type": "response", "priority": "urgent", "name": "x"}
                        ],
                    }
                ]
            },
            "servers[0].filters[0].priority",
        ),
        (
            {"servers": [{"name": "a", "port": 1, "tlsConfig": {"keyPath": "k"}}]},
            "servers[0].tlsConfig.certPath: missing",
        ),
        (
            {
                "servers": [
                    {
                        "name": "a",
                        "port": 1,
                        "tlsConfig": {"certPath": "c", "verifyMode": "always"},
                    }
                ]
            },
            "servers[0].tlsConfig.verifyMode: unknown 'always'",
        ),
    ],
)
def test_bad_configuration_names_the_key(data: dict[str, Any], message: str) -> None:
    """Each mistake is a ConfigurationError (a ValueError) whose message starts with the key."""
    with pytest.raises(ConfigurationError) as raised:
        servers_from_configuration(data)
    assert str(raised.value).startswith(message), str(raised.value)
    assert isinstance(raised.value, ValueError) and isinstance(
        raised.value, PerfectWSError
    )


def test_perfect_names_and_generators_resolve() -> None:
    """Perfect's stock names, Python dotted names and (data) generators all give handlers."""
    seen: list[dict[str, Any]] = []

    def generator(data: dict[str, Any]) -> Any:
        seen.append(data)
        return ok

    servers, run_as = servers_from_configuration(
        {
            "runAs": "nobody",
            "servers": [
                {
                    "name": "a",
                    "port": 0,
                    "routes": [
                        {
                            "method": "get",
                            "uri": "/**",
                            "handler": "PerfectHTTPServer.HTTPHandler.staticFiles",
                        },
                        {"uri": "gen", "handler": generator, "extra": 1},
                        {
                            "uri": "x",
                            "handler": "perfectws.HTTPHandler.redirect",
                            "base": "http://b",
                        },
                    ],
                    "filters": [
                        {
                            "type": "response",
                            "name": "PerfectHTTPServer.HTTPFilter.contentCompression",
                        }
                    ],
                }
            ],
        }
    )
    assert run_as == "nobody"
    assert seen and seen[0]["extra"] == 1
    [server] = servers
    assert [r.uri for r in server.routes] == ["/**", "/gen", "/x"]
    assert len(server.response_filters) == 1
    http = server.http_server()
    assert isinstance(http, HTTPServer) and http.server_name == "a"


def test_launch_from_a_bad_json_file(tmp_path: Path) -> None:
    """launch(configuration_file=) reads JSON and names the file when it cannot."""
    path = tmp_path / "conf.json"
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="not JSON"):
        HTTPServer.launch(configuration_file=str(path))
    path.write_text(json.dumps({"servers": [{"name": "a"}]}))
    with pytest.raises(ConfigurationError, match=r"^servers\[0\]\.port"):
        HTTPServer.launch(configuration_file=str(path))


def test_session_defaults_are_configuration_keys() -> None:
    """pingInterval, pingTimeout, closeTimeout, maxSendQueue reach the HTTPServer."""
    servers, _ = servers_from_configuration(
        {
            "servers": [
                {
                    "name": "localhost",
                    "port": 0,
                    "pingInterval": None,
                    "pingTimeout": 3,
                    "closeTimeout": 2.5,
                    "maxSendQueue": 1 << 20,
                }
            ]
        }
    )
    http = servers[0].http_server()
    assert (http.ping_interval, http.ping_timeout) == (None, 3)
    assert (http.close_timeout, http.max_send_queue) == (2.5, 1 << 20)
    for key, value, text in (
        ("pingTimeout", 0, "servers[0].pingTimeout: ping_timeout must be"),
        ("pingTimeout", None, "servers[0].pingTimeout: a number, not None"),
        ("maxSendQueue", "big", "servers[0].maxSendQueue: a number"),
    ):
        data = {"servers": [{"name": "x", "port": 0, key: value}]}
        with pytest.raises(ConfigurationError, match=re.escape(text)):
            servers_from_configuration(data)
