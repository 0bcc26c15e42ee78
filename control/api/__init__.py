"""HTTP API under /v1 (Litestar + msgspec), with its OpenAPI document at /openapi.json."""
