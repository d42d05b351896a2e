"""The OpenAPI 3.0 document of the reference server's API (docs/sos-api.md), served at ``/openapi.json``.

It is the contract both sides are tested against: the test suite runs
schemathesis on the server with it, and checks every request the job's client
makes against it.
"""

from __future__ import annotations

from typing import Any

from sos_inventory.server.store import RECORD_KEYS, UPDATABLE_FIELDS

__all__ = ["MAX_BODY", "document"]

#: The largest request body the server reads (an update body is a few hundred bytes).
MAX_BODY = 64 * 1024

_C_CODE = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
_TEXT = {"type": "string"}


def _query(name: str, schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


_ERROR = {
    "description": "an error in the API's shape",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_ERRORS = {str(status): _ERROR for status in (400, 401, 403, 404, 413, 422, 429, 500, 503)}


def _answer(schema: str) -> dict[str, Any]:
    return {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        },
        **_ERRORS,
    }


def document() -> dict[str, Any]:
    """The whole document, as plain data."""
    record = {
        "type": "object",
        "required": ["unid", "c_code", "hostname"],
        "properties": dict.fromkeys(RECORD_KEYS, _TEXT),
    }
    names = {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {"type": "object", "required": ["name"], "properties": {"name": _TEXT}},
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "SOS inventory (reference server)", "version": "1"},
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Record": record,
                "Page": {
                    "type": "object",
                    "required": ["c_code", "page", "pageSize", "total", "items"],
                    "properties": {
                        "c_code": _TEXT,
                        "page": {"type": "integer", "minimum": 1},
                        "pageSize": {"type": "integer", "minimum": 1, "maximum": 1000},
                        "total": {"type": "integer", "minimum": 0},
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                    },
                },
                "Names": names,
                "Update": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": False,
                    "properties": dict.fromkeys(UPDATABLE_FIELDS, _TEXT),
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": _TEXT, "message": _TEXT},
                        }
                    },
                },
            },
        },
        "security": [{"basic": []}],
        "paths": {
            "/inventory.nsf/tracker.xsp": {
                "get": {
                    "operationId": "query",
                    "summary": "one page of a C_Code's server records, or the records of one hostname",
                    "parameters": [
                        _query("c_code", _C_CODE),
                        _query("form", {"type": "string", "enum": ["server"]}),
                        _query("page", {"type": "integer", "minimum": 1, "maximum": 10**9}),
                        _query("pageSize", {"type": "integer", "minimum": 1, "maximum": 1000}),
                        _query("hostname", {"type": "string", "minLength": 1}, required=False),
                    ],
                    "responses": _answer("Page"),
                }
            },
            "/inventory.nsf/applications.xsp": {
                "get": {
                    "operationId": "applications",
                    "summary": "the application names a C_Code accepts",
                    "parameters": [_query("c_code", _C_CODE)],
                    "responses": _answer("Names"),
                }
            },
            "/inventory.nsf/environments.xsp": {
                "get": {
                    "operationId": "environments",
                    "summary": "the environment names a C_Code accepts",
                    "parameters": [_query("c_code", _C_CODE)],
                    "responses": _answer("Names"),
                }
            },
            "/inventory.nsf/update.xsp": {
                "post": {
                    "operationId": "update",
                    "summary": "write absolute metadata values to one record",
                    "parameters": [
                        _query("c_code", _C_CODE),
                        _query("form", {"type": "string", "enum": ["server"]}),
                        _query("unid", {"type": "string", "minLength": 1}),
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Update"}}},
                    },
                    "responses": _answer("Record"),
                }
            },
        },
    }
