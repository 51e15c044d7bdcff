"""API Gateway REQUEST authorizer: an API key or a Clerk session token becomes the caller's tenant and role."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.errors import Unauthorized
from viral.identity.key_lookup import PrincipalCache, reset_key_lookup  # API keys without SQLAlchemy
from viral.observability import logger
from viral.snapstart import register_after_restore, reset_after_restore

principals = PrincipalCache(ttl_s=60)
register_after_restore(reset_key_lookup)
register_after_restore(reset_after_restore)


# Not @event_source: it logs every raised exception with a traceback, and a refusal is not an error.
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(raw_event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event = APIGatewayAuthorizerRequestEvent(raw_event)
    try:
        caller = principals.authenticate(event.headers, now=time.monotonic())
    except Unauthorized as refused:
        logger.info("request refused", extra={"reason": refused.message})
        # API Gateway's contract: exactly this message means 401 (its gateway response gives the JSON body).
        raise Exception("Unauthorized") from None
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=str(caller.user_id or caller.api_key_id or caller.tenant_id),
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context=caller.context(),
    )
    # Every route: the decision does not depend on the route, and a narrower policy breaks cached reuse.
    policy.allow_all_routes()
    return policy.asdict()
