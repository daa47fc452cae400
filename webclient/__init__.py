"""The reference web client: a single-page app of static ES modules, served by this server at /."""
