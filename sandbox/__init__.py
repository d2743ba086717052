"""A local PhantomBuster API v2 sandbox: a faithful fake of the endpoints LeadRelay uses, with fault knobs."""
