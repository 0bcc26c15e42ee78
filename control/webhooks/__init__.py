"""Click webhooks: endpoints, a transactional outbox, signing, an SSRF guard, the dispatcher."""
