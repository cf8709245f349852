"""Services: the server's logic; they raise panokit.errors and return wire models."""
