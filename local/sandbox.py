"""The sandbox platform's consent page for `make run`: GET /_local/sandbox/authorize agrees at once and sends the
browser straight back to the API's callback with a one-time code (what a platform's consent screen does after the
user clicks "Allow"). Only the local runtime serves it; the sandbox itself lives in viral.social.platforms.sandbox.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qs, urlencode

from local.apigw import HttpRequest, HttpResponse, error_response

SANDBOX_PATH = "/_local/sandbox"


class SandboxConsent:
    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.path != f"{SANDBOX_PATH}/authorize" or request.method.upper() != "GET":
            return error_response(HTTPStatus.NOT_FOUND, "Not found", "NOT_FOUND")
        from viral.settings import get_settings
        from viral.social.platforms.sandbox import sandbox_network

        query = {k: v[0] for k, v in parse_qs(request.query).items()}
        redirect_uri, state, challenge = query.get("redirect_uri"), query.get("state"), query.get("code_challenge")
        callback = f"{get_settings().social_redirect_base.rstrip('/')}/api/social/connect/sandbox"
        if not state or not challenge or redirect_uri != callback:  # never an open redirect
            return error_response(HTTPStatus.BAD_REQUEST, "Invalid authorization request", "INVALID_REQUEST")
        code = sandbox_network().grant_code(
            redirect_uri=redirect_uri, code_challenge=challenge, user=query.get("user") or "sandbox-creator"
        )
        location = f"{redirect_uri}?{urlencode({'code': code, 'state': state})}"
        return HttpResponse(HTTPStatus.SEE_OTHER, [("Location", location), ("Cache-Control", "no-store")], b"")
