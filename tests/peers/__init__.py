"""Software kefu did not write, run beside it as peers (each in its own virtualenv)."""
