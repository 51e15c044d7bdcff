"""API Gateway POST /api/webhooks/stripe (no authorizer): verify the signature, record once, enqueue, answer 2xx."""

from viral.billing.service import receive_stripe_webhook
from viral.webhooks.function import webhook_function

lambda_handler = webhook_function("/api/webhooks/stripe", receive_stripe_webhook, metric_prefix="StripeWebhook")
