"""API Gateway POST /api/webhooks/clerk (no authorizer): verify Svix's signature, apply the Clerk event once."""

from viral.identity.clerk import receive_clerk_webhook
from viral.webhooks.function import webhook_function

lambda_handler = webhook_function("/api/webhooks/clerk", receive_clerk_webhook, metric_prefix="ClerkWebhook")
