"""The outer door: the ``billing`` command line, the web application, serving and replaying."""
