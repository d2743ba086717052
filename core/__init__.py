"""LeadRelay's core: the domain, free of web and UI frameworks; pages, the worker and the webhook server use it."""
